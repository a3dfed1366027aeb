"""Issue 13 ("a GDAL citizen") through upscale_file: side files, nodata, metadata, options, API."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

import dsdit_geo
from dsdit_geo.errors import OptionError
from dsdit_geo.raster.synthetic import write_array, write_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


@pytest.fixture(scope="module")
def lr_data(pair):
    with rasterio.open(pair[0]) as ds:
        return ds.read(), ds.crs, ds.transform


def run(lr, ref, out, **kwargs):
    kwargs.setdefault("method", "bicubic")
    return dsdit_geo.upscale_file(lr, ref, out, quiet=True, **kwargs)


def read(path):
    with rasterio.open(path) as ds:
        return ds.read()


def test_side_file_crs_geotransform_and_nodata_are_read(pair, lr_data, tmp_path):
    """An LR whose CRS, geotransform and nodata live only in its .aux.xml (PAM) is georeferenced,
    and its fill is nodata; the outputs get no side file."""
    data, crs, transform = lr_data
    lr = write_array(str(tmp_path / "bare.tif"), data, None, None)
    bands = "".join(
        f'<PAMRasterBand band="{b}"><NoDataValue>0</NoDataValue></PAMRasterBand>' for b in range(1, 5)
    )
    geotransform = ", ".join(repr(v) for v in transform.to_gdal())
    Path(lr + ".aux.xml").write_text(
        f"<PAMDataset><SRS>{CRS.from_user_input(crs).to_wkt()}</SRS>"
        f"<GeoTransform>{geotransform}</GeoTransform>{bands}</PAMDataset>"
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    run(lr, pair[1], out_dir / "side.tif", trust_map=str(out_dir / "trust.tif"), method="hpf")
    run(pair[0], pair[1], out_dir / "plain.tif", method="hpf")
    with rasterio.open(out_dir / "side.tif") as ds:
        assert ds.nodata == 0
    assert np.array_equal(read(out_dir / "side.tif"), read(out_dir / "plain.tif"))
    assert sorted(os.listdir(out_dir)) == ["plain.tif", "side.tif", "trust.tif"]


def test_lr_nodata_overrides_and_zero_fill_warning(pair, lr_data, tmp_path, capsys):
    """A uint16 LR with 2 % zeros and no nodata warns once; --lr-nodata 0 makes them nodata, as
    if declared; --dst-nodata sets the output's value; 'none' gives a mask instead."""
    data, crs, transform = lr_data
    lr = write_array(str(tmp_path / "undeclared.tif"), data, crs, transform)
    run(lr, pair[1], tmp_path / "warned.tif")
    err = capsys.readouterr().err
    assert err.count("Warning:") == 1 and "--lr-nodata 0" in err and "2%" in err
    run(lr, pair[1], tmp_path / "fixed.tif", lr_nodata=0)
    assert "Warning" not in capsys.readouterr().err
    run(pair[0], pair[1], tmp_path / "declared.tif")
    assert np.array_equal(read(tmp_path / "fixed.tif"), read(tmp_path / "declared.tif"))
    assert not np.array_equal(read(tmp_path / "warned.tif"), read(tmp_path / "declared.tif"))
    run(pair[0], pair[1], tmp_path / "dst.tif", dst_nodata=65535)
    with rasterio.open(tmp_path / "dst.tif") as ds:
        dst = ds.read()
        assert ds.nodata == 65535 and (dst[:, :40, :40] == 65535).all()
    run(pair[0], pair[1], tmp_path / "masked.tif", dst_nodata="none")
    with rasterio.open(tmp_path / "masked.tif") as ds:
        assert ds.nodata is None and (ds.read_masks(1)[:40, :40] == 0).all()
    with pytest.raises(OptionError, match="--dst-nodata -1 is outside the range of uint16"):
        run(pair[0], pair[1], tmp_path / "bad.tif", dst_nodata=-1)
    with pytest.raises(OptionError, match="--ref-nodata"):
        run(pair[0], pair[1], tmp_path / "bad.tif", ref_nodata="zero")


def test_ref_nodata_masks_the_ref(pair, tmp_path):
    """--ref-nodata 26 (the synthetic roads' value) makes holes in the Ref: hpf changes there."""
    run(pair[0], pair[1], tmp_path / "a.tif", method="hpf")
    run(pair[0], pair[1], tmp_path / "b.tif", method="hpf", ref_nodata=26)
    assert not np.array_equal(read(tmp_path / "a.tif"), read(tmp_path / "b.tif"))


def test_lr_metadata_is_kept(lr_data, pair, tmp_path):
    """Scales, offsets, units, dataset and band tags and descriptions of the LR reach the output
    (no invented names; our tags under DSDIT_GEO_); an LR's own DSDIT_GEO_ tags are dropped."""
    data, crs, transform = lr_data
    lr = str(tmp_path / "meta.tif")
    write_array(lr, data, crs, transform, nodata=0)
    with rasterio.open(lr, "r+") as ds:
        ds.scales, ds.offsets = (1e-4,) * 4, (-0.1,) * 4
        ds.units = ("reflectance",) * 4
        ds.update_tags(ACQUISITION_DATE="2021-06-01", DSDIT_GEO_METHOD="old")
        ds.update_tags(1, WAVELENGTH="665")
        ds.set_band_description(1, "B04")
    run(lr, pair[1], tmp_path / "out.tif", lr_bands=[1, 2])
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.scales == (1e-4, 1e-4) and ds.offsets == (-0.1, -0.1)
        assert ds.units == ("reflectance", "reflectance") and ds.descriptions == ("B04", None)
        tags = ds.tags()
        assert ds.tags(1)["WAVELENGTH"] == "665" and "WAVELENGTH" not in ds.tags(2)
    assert tags["ACQUISITION_DATE"] == "2021-06-01" and tags["DSDIT_GEO_METHOD"] == "bicubic"
    assert tags["OVERVIEW_RESAMPLING"] == "AVERAGE"
    assert not [k for k in tags if k.islower()]  # nothing unprefixed of ours left


def test_creation_options_resampling_threads(pair, tmp_path, monkeypatch):
    """--co reaches the COG driver (over --compress); --resampling changes the LR's warp;
    --threads is applied for the run and torch's setting restored after it."""
    import torch

    before = torch.get_num_threads()
    calls = []
    set_threads = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), set_threads(n)))
    run(pair[0], pair[1], tmp_path / "lzw.tif", creation_options={"COMPRESS": "LZW"}, threads=1)
    assert calls == [1, before] and torch.get_num_threads() == before
    with rasterio.open(tmp_path / "lzw.tif") as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "LZW"
    run(pair[0], pair[1], tmp_path / "cubic.tif")
    run(pair[0], pair[1], tmp_path / "nearest.tif", resampling="nearest")
    nearest, cubic = read(tmp_path / "nearest.tif"), read(tmp_path / "cubic.tif")
    assert not np.array_equal(nearest, cubic)
    # 100 x 100 output pixels cover about 11 x 11 LR pixels: blocky with nearest, smooth with cubic
    n_nearest, n_cubic = (len(np.unique(a[0, 100:200, 100:200])) for a in (nearest, cubic))
    assert n_nearest <= 150 < 1000 < n_cubic
    with pytest.raises(OptionError, match="COG driver"):
        run(pair[0], pair[1], tmp_path / "x.tif", creation_options={"NOT_AN_OPTION": "1"})
    with pytest.raises(OptionError, match="--resampling"):
        run(pair[0], pair[1], tmp_path / "x.tif", resampling="gauss")


def test_python_api_takes_paths_and_keywords(pair, tmp_path):
    """`from dsdit_geo import upscale_file, UpscaleOptions`: PathLike paths, options optional,
    keywords on top of an options object; the report knows the grid."""
    from dsdit_geo import UpscaleOptions, upscale_file

    report = upscale_file(Path(pair[0]), Path(pair[1]), tmp_path / "a.tif", method="bicubic", quiet=True)
    assert report.out_path == str(tmp_path / "a.tif") and report.crs == "EPSG:26911"
    assert report.resolution == (1.0, 1.0) and report.megapixels_per_second > 0
    options = UpscaleOptions(method="hpf", quiet=True)
    assert upscale_file(pair[0], pair[1], tmp_path / "b.tif", options, method="bicubic").method == "bicubic"
    with pytest.raises(OptionError, match="unknown upscale option"):
        upscale_file(pair[0], pair[1], tmp_path / "c.tif", colour="red")


def test_bands_pair_by_declared_role(pair, lr_data, tmp_path):
    """An LR whose bands are named B02,B03,B04,B08 (blue first) against an RGB NAIP pairs blue
    with blue, as an explicit --ref-bands 3,2,1,4 would; names select bands."""
    data, crs, transform = lr_data
    lr = write_array(str(tmp_path / "bgrn.tif"), data, crs, transform, nodata=0)
    with rasterio.open(lr, "r+") as ds:
        for i, name in enumerate(("B02", "B03", "B04", "B08"), start=1):
            ds.set_band_description(i, name)
    run(lr, pair[1], tmp_path / "roles.tif", method="hpf")
    run(pair[0], pair[1], tmp_path / "explicit.tif", method="hpf", ref_bands=[3, 2, 1, 4])
    run(pair[0], pair[1], tmp_path / "position.tif", method="hpf")
    assert np.array_equal(read(tmp_path / "roles.tif"), read(tmp_path / "explicit.tif"))
    assert not np.array_equal(read(tmp_path / "roles.tif"), read(tmp_path / "position.tif"))
    run(lr, pair[1], tmp_path / "named.tif", lr_bands=["red", "green", "B02"])
    with rasterio.open(tmp_path / "named.tif") as ds:
        assert ds.descriptions == ("B04", "B03", "B02")
