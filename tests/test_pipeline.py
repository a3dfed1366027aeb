"""upscale_file end to end on a synthetic S2-like / NAIP-like pair in different CRSs."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rio_cogeo.cogeo import cog_validate

from dsdit_geo import __version__, pipeline
from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import OptionError
from dsdit_geo.pipeline import upscale_file
from dsdit_geo.raster.synthetic import write_array, write_pair
from dsdit_geo.upscalers.classical import Bicubic


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


@pytest.fixture(scope="module")
def float_pair(tmp_path_factory, pair):
    """The same pair with a float32 LR (NaN nodata): outputs keep float precision."""
    folder = tmp_path_factory.mktemp("float_pair")
    with rasterio.open(pair[0]) as ds:
        data = ds.read().astype(np.float32)
        data[data == 0] = np.nan
        lr = write_array(str(folder / "lr32.tif"), data, ds.crs, ds.transform, nodata=np.nan)
    return lr, pair[1]


def run(lr, ref, out, **kwargs):
    """The pipeline with a fast deterministic method (hpf) unless the test names another."""
    kwargs.setdefault("method", "hpf")
    return upscale_file(str(lr), str(ref), str(out), UpscaleOptions(quiet=True, **kwargs))


def read(path):
    with rasterio.open(path) as ds:
        return ds.read()


def test_output_is_a_georeferenced_cog_in_the_lrs_units(pair, tmp_path):
    lr_path, ref_path = pair
    out = tmp_path / "out.tif"
    report = run(lr_path, ref_path, out)
    assert report.out_path == str(out) and report.method == "hpf" and report.bands == 4
    assert cog_validate(str(out))[0]
    with rasterio.open(ref_path) as ref, rasterio.open(lr_path) as lr, rasterio.open(out) as ds:
        assert ds.crs == ref.crs == CRS.from_epsg(26911) and lr.crs == CRS.from_epsg(32611)
        assert ds.transform == ref.transform and ds.res == (1.0, 1.0)
        assert (ds.width, ds.height) == (report.width, report.height) == (380, 380)
        assert ds.dtypes == ("uint16",) * 4 and ds.nodata == 0
        assert ds.descriptions == (None,) * 4  # the LR has none: none are invented
        tags = ds.tags()
        data = ds.read()
    assert tags["DSDIT_GEO_VERSION"] == __version__ and tags["DSDIT_GEO_METHOD"] == "hpf"
    assert tags["DSDIT_GEO_SEED"] == "0" and tags["DSDIT_GEO_OPTION_METHOD"] == "hpf"
    assert tags["DSDIT_GEO_LR_FILE"] == "lr.tif" and tags["DSDIT_GEO_REF_FILE"] == "ref.tif"
    assert float(tags["DSDIT_GEO_SCALE_FACTOR"]) == pytest.approx(10.0, rel=1e-3)
    assert {
        "DSDIT_GEO_REF_GAIN",
        "DSDIT_GEO_LR_MODEL_RANGE_LO",
        "DSDIT_GEO_METHOD_HPF_LOWPASS_SIGMA_LR_PX",
    } <= set(tags)
    assert tags["OVERVIEW_RESAMPLING"] == "AVERAGE"
    # the LR's 60 m nodata corner (the Ref starts 15.5 m inside it) stays nodata; the rest is data
    assert (data[:, :44, :44] == 0).all() and (data[:, 46:, :] > 0).all() and (data[:, :, 46:] > 0).all()
    assert data.max() < 7000


def test_same_inputs_give_identical_bytes(pair, tmp_path):
    run(*pair, tmp_path / "a.tif", tile_px=256, overlap_px=32)
    run(*pair, tmp_path / "b.tif", tile_px=256, overlap_px=32)
    assert (tmp_path / "a.tif").read_bytes() == (tmp_path / "b.tif").read_bytes()


@pytest.mark.parametrize("method", ["bicubic", "hpf"])
def test_output_does_not_depend_on_tiling_or_batches(float_pair, tmp_path, method):
    reference = read(run(*float_pair, tmp_path / "ref.tif", method=method, tile_px=512).out_path)
    assert np.isnan(reference).any() and np.isfinite(reference).mean() > 0.9
    for i, (tile, overlap, batch) in enumerate([(128, 0, 1), (200, 90, 3)]):
        out = run(
            *float_pair,
            tmp_path / f"t{i}.tif",
            method=method,
            tile_px=tile,
            overlap_px=overlap,
            batch_size=batch,
        )
        np.testing.assert_allclose(read(out.out_path), reference, rtol=2e-6, atol=0, equal_nan=True)


def test_batch_size_alone_changes_nothing(pair, tmp_path):
    a = run(*pair, tmp_path / "a.tif", tile_px=200, overlap_px=20, batch_size=1)
    b = run(*pair, tmp_path / "b.tif", tile_px=200, overlap_px=20, batch_size=3)
    assert np.array_equal(read(a.out_path), read(b.out_path))


def test_constant_scene_comes_back_exactly(tmp_path):
    lr = write_array(
        str(tmp_path / "lr.tif"),
        np.full((2, 30, 30), 3000, np.uint16),
        "EPSG:32611",
        Affine(10, 0, 500_000, 0, -10, 4_000_000),
    )
    ref = write_array(
        str(tmp_path / "ref.tif"),
        np.full((2, 250, 250), 120, np.uint8),
        "EPSG:32611",
        Affine(1, 0, 500_020, 0, -1, 3_999_980),
    )
    out = run(lr, ref, tmp_path / "out.tif", tile_px=64, overlap_px=16)
    with rasterio.open(out.out_path) as ds:
        assert (ds.read() == 3000).all()
        assert ds.nodata is None and ds.dataset_mask().all()  # no LR nodata: validity is a mask


def test_bands_beyond_max_bands_are_done_by_hpf(pair, tmp_path, monkeypatch):
    class ThreeBands(Bicubic):
        name = "three"
        max_bands = 3

    real = pipeline.make_upscaler
    monkeypatch.setattr(
        pipeline,
        "make_upscaler",
        lambda options, scale=None: ThreeBands() if options.method == "three" else real(options, scale=scale),
    )
    mixed = run(*pair, tmp_path / "mixed.tif", method="three", tile_px=200)
    bicubic = run(*pair, tmp_path / "bicubic.tif", method="bicubic", tile_px=200)
    nir = run(*pair, tmp_path / "nir.tif", method="hpf", lr_bands=[4], ref_bands=[4], tile_px=200)
    out = read(mixed.out_path)
    assert np.array_equal(out[:3], read(bicubic.out_path)[:3])
    assert np.array_equal(out[3:], read(nir.out_path))
    with rasterio.open(mixed.out_path) as ds:
        assert ds.tags()["DSDIT_GEO_BANDS_BY_HPF"] == "4" and ds.count == 4


def test_trust_map(pair, tmp_path):
    report = run(*pair, tmp_path / "out.tif", trust_map=str(tmp_path / "trust.tif"))
    assert report.trust_map_path == str(tmp_path / "trust.tif") and cog_validate(report.trust_map_path)[0]
    with rasterio.open(report.trust_map_path) as trust, rasterio.open(report.out_path) as out:
        assert trust.dtypes == ("float32",) and trust.count == 1
        assert trust.transform == out.transform and trust.crs == out.crs and trust.shape == out.shape
        values = trust.read(1)
        valid = out.read(1) != 0
    assert np.isnan(values[~valid]).all() and np.isfinite(values[valid]).all()
    assert 0 <= values[valid].min() and values[valid].max() <= 1 and values[valid].max() > 0.5


def test_trust_map_needs_a_method_that_weights_the_ref(pair, tmp_path):
    with pytest.raises(OptionError, match="--trust-map"):
        run(*pair, tmp_path / "out.tif", method="bicubic", trust_map=str(tmp_path / "trust.tif"))
    assert list(tmp_path.iterdir()) == []


def test_grid_options(pair, tmp_path):
    coarse = run(*pair, tmp_path / "r2.tif", method="bicubic", resolution=2.0)
    with rasterio.open(coarse.out_path) as ds:
        assert ds.res == (2.0, 2.0) and ds.transform.c % 2 == 0 and ds.crs == CRS.from_epsg(26911)
        assert ds.tags()["DSDIT_GEO_SCALE_FACTOR"].startswith("5")
    utm = run(
        *pair,
        tmp_path / "utm.tif",
        method="bicubic",
        crs="EPSG:32611",
        extent=(500_100.0, 3_999_700.0, 500_200.0, 3_999_800.0),
    )
    with rasterio.open(utm.out_path) as ds:
        assert ds.crs == CRS.from_epsg(32611) and ds.res == pytest.approx((1.0, 1.0), rel=1e-3)
        left, bottom, right, top = ds.bounds
        assert 500_100 - 1e-3 <= left < 500_102 and 500_198 < right <= 500_200 + 1e-3  # snapping tolerates 1e-3 px
        assert 3_999_700 - 1e-3 <= bottom < 3_999_702 and 3_999_798 < top <= 3_999_800 + 1e-3


def test_progress_bar_on_request(pair, tmp_path, capfd):
    upscale_file(
        *pair, str(tmp_path / "out.tif"), UpscaleOptions(method="bicubic", tile_px=128, progress=True)
    )
    assert "tile" in capfd.readouterr().err
