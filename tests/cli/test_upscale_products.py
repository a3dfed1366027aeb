"""`dsdit-geo upscale --method bicubic` end to end on Sentinel-2 products (L2A / L1C, folder /
zip, without XML) and STAC items (--assets by key and by common name), and bands paired by role."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from dsdit_geo_cli.app import app
from rasterio.enums import ColorInterp
from typer.testing import CliRunner

from dsdit_geo.raster.synthetic import write_array, write_pair
from dsdit_geo.raster.synthetic_products import write_safe, write_stac_items

runner = CliRunner()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


@pytest.fixture(scope="module")
def plain(pair, tmp_path_factory):
    """The plain-file bicubic output every product run must reproduce."""
    out = tmp_path_factory.mktemp("plain") / "plain.tif"
    assert invoke("upscale", *pair, out, "-m", "bicubic", "-q").exit_code == 0
    with rasterio.open(out) as ds:
        return ds.read()


def invoke(*args):
    return runner.invoke(app, [*map(str, args)])


def one_line_error(result, text: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert text in lines[0], lines[0]


@pytest.mark.parametrize(
    "level, zipped, mtd",
    [("L2A", False, True), ("L2A", True, True), ("L1C", False, True), ("L1C", True, False)],
    ids=["l2a-folder", "l2a-zip", "l1c-folder", "l1c-zip-no-xml"],
)
def test_safe_products(pair, plain, tmp_path, level, zipped, mtd):
    product = write_safe(str(tmp_path), pair[0], level=level, zipped=zipped, mtd=mtd)
    result = invoke("upscale", product, pair[1], tmp_path / "out.tif", "-m", "bicubic", "-q")
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert np.array_equal(ds.read(), plain) and ds.descriptions == ("B04", "B03", "B02", "B08")
        assert ds.scales == ((1e-4,) * 4 if mtd else (1.0,) * 4)


@pytest.mark.parametrize(
    "lr_item, assets, ref_args",
    [
        ("s2", ["--assets", "red,green,blue,nir"], []),  # keys; the Ref a plain file
        ("s2_pc", ["--lr-assets", "red,green,blue,nir"], ["--ref-assets", "image"]),  # common names
        ("s2_pc", ["--assets", "B04,B03,B02,B08"], []),  # keys; the Ref's default assets
    ],
    ids=["keys", "common-names", "pc-keys-default-ref"],
)
def test_stac_items(pair, plain, tmp_path, lr_item, assets, ref_args):
    items = write_stac_items(str(tmp_path / "stac"), *pair)
    ref = items["naip"] if ref_args or lr_item == "s2_pc" else pair[1]
    out = tmp_path / "out.tif"
    result = invoke("upscale", items[lr_item], ref, out, "-m", "bicubic", "-q", *assets, *ref_args)
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert np.array_equal(ds.read(), plain) and ds.descriptions == ("B04", "B03", "B02", "B08")


def test_product_errors_are_one_line(pair, tmp_path):
    partial = write_safe(str(tmp_path), pair[0], skip=("B08",), zipped=True)
    one_line_error(invoke("upscale", partial, pair[1], tmp_path / "a.tif", "-m", "bicubic"),
                   "lacks the 10 m band file(s) B08 in granule L2A_T11SKA_A031000_")  # fmt: skip
    items = write_stac_items(str(tmp_path / "stac"), *pair)
    one_line_error(invoke("upscale", items["s2"], pair[1], tmp_path / "b.tif", "--assets", "red,swir16"),
                   "LR STAC item " + items["s2"] + " has no asset(s) swir16")  # fmt: skip
    one_line_error(invoke("upscale", *pair, tmp_path / "c.tif", "--ref-assets", "image"),
                   "--ref-assets needs a STAC item (.json)")  # fmt: skip
    assert not list(tmp_path.glob("*.tif"))


def test_bands_pair_by_colour_interpretation(tmp_path):
    """An LR declared blue,green,red (colour interpretation only) against a NAIP declared
    red,green,blue pairs blue with blue; names select bands; a pair of two colours is refused."""
    pair = write_pair(str(tmp_path), lr_px=16, ref_px=160)
    with rasterio.open(pair[0]) as ds:
        data, crs, transform = ds.read(), ds.crs, ds.transform
    bgr = write_array(str(tmp_path / "bgr.tif"), data[[2, 1, 0]], crs, transform, nodata=0)
    with rasterio.open(bgr, "r+") as ds:
        ds.colorinterp = (ColorInterp.blue, ColorInterp.green, ColorInterp.red)
    with rasterio.open(pair[1]) as ds:
        ref = write_array(str(tmp_path / "rgb.tif"), ds.read()[:3], ds.crs, ds.transform, photometric="RGB")
    with rasterio.open(ref) as ds:
        assert [c.name for c in ds.colorinterp] == ["red", "green", "blue"]
    plain = write_array(str(tmp_path / "plain.tif"), data[[2, 1, 0]], crs, transform, nodata=0)  # no colours
    runs = {"roles": (bgr, []), "names": (bgr, ["--lr-bands", "red,green,blue"]),
            "s2": (bgr, ["--lr-bands", "B04,B03,B02"]),
            "explicit": (bgr, ["--lr-bands", "3,2,1", "--ref-bands", "1,2,3"]),
            "undeclared": (plain, [])}  # fmt: skip
    outputs = {}
    for name, (lr, args) in runs.items():
        result = invoke("upscale", lr, ref, tmp_path / f"{name}.tif", "-m", "hpf", "-q", *args)
        assert result.exit_code == 0, result.output
        with rasterio.open(tmp_path / f"{name}.tif") as ds:
            outputs[name] = ds.read()
    # hpf adds the paired Ref band's detail: the LR's red gets the Ref's red in all of these
    assert np.array_equal(outputs["names"], outputs["explicit"])
    assert np.array_equal(outputs["s2"], outputs["explicit"])
    # the same pairs in another band order: equal up to float summation order (1 DN)
    assert np.abs(outputs["roles"][::-1].astype(int) - outputs["explicit"]).max() <= 1
    assert np.abs(outputs["undeclared"][::-1].astype(int) - outputs["explicit"]).max() > 100  # blue with red
    one_line_error(invoke("upscale", bgr, ref, tmp_path / "x.tif", "-m", "bicubic", "--ref-bands", "1,2,3"),
                   "pair the LR's band 1 (blue) with the Ref's band 1 (red)")  # fmt: skip
    one_line_error(invoke("upscale", bgr, ref, tmp_path / "y.tif", "-m", "bicubic", "--lr-bands", "nir"),
                   "--lr-bands nir: the LR has no band of that name or role")  # fmt: skip


def test_batch_of_products(pair, plain, tmp_path):
    """A batch manifest may list a .SAFE zip and STAC items; outputs are named after the product."""
    archive = write_safe(str(tmp_path), pair[0], zipped=True)
    items = write_stac_items(str(tmp_path / "stac"), *pair)
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"lr,ref\n{archive},{items['naip']}\n{items['s2']},{pair[1]}\n")
    result = invoke("batch", manifest, tmp_path / "out", "-m", "bicubic", "-q")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "out").glob("*.tif"))
    assert names == ["S2A_MSIL2A_20210601T183921_N0300_R070_T11SKA_20210601T204233_sr.tif", "s2_sr.tif"]
    for name in names:
        with rasterio.open(tmp_path / "out" / name) as ds:
            assert np.array_equal(ds.read(), plain)
