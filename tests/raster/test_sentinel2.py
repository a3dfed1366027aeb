"""Sentinel-2 .SAFE products (folder / zip, L2A / L1C) as one raster: small synthetic products
laid out as the real ones are, with real (lossless) JPEG 2000 band files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio

from dsdit_geo.errors import InputError
from dsdit_geo.raster.products import resolve_input
from dsdit_geo.raster.sentinel2 import is_safe
from dsdit_geo.raster.synthetic import write_pair
from dsdit_geo.raster.synthetic_products import write_safe


@pytest.fixture(scope="module")
def lr(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))[0]


def sources(xml: str) -> list[str]:
    return re.findall(r"<SourceFilename[^>]*>([^<]+)</SourceFilename>", xml)


def test_band_files_are_real_jp2(lr, tmp_path):
    """The synthetic products are honest: their band files are JPEG 2000, not renamed GeoTIFFs."""
    safe = write_safe(str(tmp_path), lr)
    for path in sources(resolve_input(safe, "LR")):
        assert Path(path).read_bytes()[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n"  # JP2 signature box
        with rasterio.open(path) as ds:
            assert ds.driver == "JP2OpenJPEG"


def test_l2a_folder_stacks_the_10m_bands_with_the_products_scale_and_offset(lr, tmp_path):
    safe = write_safe(str(tmp_path), lr)
    xml = resolve_input(safe, "LR")
    assert [os.path.basename(p) for p in sources(xml)] == [
        f"T11SKA_20210601T183921_{b}_10m.jp2" for b in ("B04", "B03", "B02", "B08")
    ]  # not the R20m decoy
    assert all("/IMG_DATA/R10m/" in p for p in sources(xml))
    with rasterio.open(xml) as ds, rasterio.open(lr) as plain:
        assert ds.descriptions == ("B04", "B03", "B02", "B08") and ds.nodata == 0
        assert [c.name for c in ds.colorinterp] == ["red", "green", "blue", "nir"]
        assert [ds.tags(i)["COMMON_NAME"] for i in range(1, 5)] == ["red", "green", "blue", "nir"]
        assert ds.scales == (1e-4,) * 4 and ds.offsets == (-0.1,) * 4  # BOA_ADD_OFFSET -1000 / 10000
        assert ds.tags()["PRODUCT"] == os.path.basename(safe)
        assert ds.crs == plain.crs and ds.transform == plain.transform
        assert np.array_equal(ds.read(), plain.read())


def test_l1c_zip_is_read_through_vsizip(lr, tmp_path):
    archive = write_safe(str(tmp_path), lr, level="L1C", zipped=True)
    assert archive.endswith(".zip") and is_safe(archive)
    xml = resolve_input(archive, "LR")
    assert all(p.startswith(f"/vsizip/{archive}/") and p.endswith(".jp2") for p in sources(xml))
    assert [p.rsplit("_", 1)[1] for p in sources(xml)] == ["B04.jp2", "B03.jp2", "B02.jp2", "B08.jp2"]
    with rasterio.open(xml) as ds, rasterio.open(lr) as plain:
        assert ds.scales == (1e-4,) * 4 and ds.offsets == (-0.1,) * 4  # RADIO_ADD_OFFSET
        assert np.array_equal(ds.read(), plain.read())


def test_without_the_xml_the_band_files_own_scale_and_offset_are_kept(lr, tmp_path):
    safe = write_safe(str(tmp_path / "bare"), lr, mtd=False)
    with rasterio.open(resolve_input(safe, "LR")) as ds:
        assert ds.count == 4 and ds.scales == (1.0,) * 4 and ds.offsets == (0.0,) * 4
    first = sources(resolve_input(safe, "LR"))[0]
    with rasterio.open(first, "r+") as band:  # metadata on the file (a PAM side file)
        band.scales, band.offsets = (2e-4,), (-0.2,)
    with rasterio.open(resolve_input(safe, "LR")) as ds:
        assert ds.scales == (2e-4, 1.0, 1.0, 1.0) and ds.offsets == (-0.2, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("zipped", [False, True])
def test_partial_download_names_the_missing_band_files(lr, tmp_path, zipped):
    product = write_safe(str(tmp_path), lr, skip=("B02", "B08"), zipped=zipped)
    with pytest.raises(InputError, match=r"lacks the 10 m band file\(s\) B02, B08 in granule L2A_") as info:
        resolve_input(product, "LR")
    files = "GRANULE/L2A_T11SKA_A031000_20210601T184602/IMG_DATA/R10m/T11SKA_20210601T183921_{}_10m.jp2"
    assert files.format("B02") + ", " in str(info.value)
    assert str(info.value).endswith(files.format("B08") + ": is the download complete?")
    assert "\n" not in str(info.value)


def test_not_products(lr, tmp_path):
    assert resolve_input(lr, "LR") == lr and not is_safe(lr) and not is_safe(str(tmp_path))
    with pytest.raises(InputError, match="LR product not found"):
        resolve_input(str(tmp_path / "gone.SAFE"), "LR")
    with pytest.raises(InputError, match="--lr-assets is for STAC items"):
        resolve_input(write_safe(str(tmp_path), lr), "LR", ["red"])
    with pytest.raises(InputError, match="--ref-assets needs a STAC item"):
        resolve_input(lr, "Ref", ["red"])


def test_older_xml_and_a_zip_without_the_safe_folder(lr, tmp_path):
    """Pre-2018 L2A XML (L2A_BOA_QUANTIFICATION_VALUE; the BOA value wins over a TOA one; no
    offsets before baseline 04.00), and a product zipped from inside its .SAFE folder."""
    import zipfile

    safe = write_safe(str(tmp_path), lr, mtd=False)
    Path(safe, "MTD_MSIL2A.xml").write_text(
        "<a><QUANTIFICATION_VALUE>1000</QUANTIFICATION_VALUE>"
        "<L2A_BOA_QUANTIFICATION_VALUE>10000</L2A_BOA_QUANTIFICATION_VALUE></a>"
    )
    archive = tmp_path / "bare.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in Path(safe).rglob("*"):
            if path.is_file():
                zf.write(path, path.relative_to(safe).as_posix())
    for product in (safe, str(archive)):
        assert is_safe(product)
        with rasterio.open(resolve_input(product, "LR")) as ds:
            assert ds.scales == (1e-4,) * 4 and ds.offsets == (0.0,) * 4 and ds.count == 4
