import zipfile

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling
from rasterio.vrt import WarpedVRT

from dsdit_geo.errors import InputError
from dsdit_geo.geo.grid import target_grid
from dsdit_geo.raster.read import geometry_of, open_raster, open_warped, read_tile, without_alpha
from dsdit_geo.raster.synthetic import write_array, write_pair
from dsdit_geo.resample import upsample_cubic

TRANSFORM = Affine(10, 0, 500_000, 0, -10, 4_000_000)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


def test_open_errors_name_the_file_and_role(tmp_path):
    with pytest.raises(InputError, match="LR file not found: .*nope.tif"):
        open_raster(str(tmp_path / "nope.tif"), "LR")
    with pytest.raises(InputError, match="Ref path is a folder"):
        open_raster(str(tmp_path), "Ref")
    text = tmp_path / "notes.tif"
    text.write_text("hello")
    with pytest.raises(InputError, match="Ref file is not a raster GDAL can read"):
        open_raster(str(text), "Ref")
    data = np.ones((1, 8, 8), np.uint8)
    no_crs = write_array(str(tmp_path / "no_crs.tif"), data, None, TRANSFORM)
    with pytest.raises(InputError, match="LR file has no CRS"):
        open_raster(no_crs, "LR")
    no_transform = write_array(str(tmp_path / "no_gt.tif"), data, "EPSG:32611", None)
    with pytest.raises(InputError, match="LR file has no geotransform"):
        open_raster(no_transform, "LR")


def test_gdal_virtual_paths_are_left_to_gdal(tmp_path, pair):
    archive = tmp_path / "scene.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(pair[0], "lr.tif")
    with open_raster(f"/vsizip/{archive}/lr.tif", "LR") as ds:
        assert ds.count == 4
    with pytest.raises(InputError, match="not a raster GDAL can read"):
        open_raster(f"/vsizip/{archive}/missing.tif", "LR")


def test_lr_reads_match_the_training_resampler(tmp_path):
    """The pipeline's WarpedVRT cubic read and resample.upsample_cubic agree (docs/ARCHITECTURE.md)."""
    lr = np.random.default_rng(0).random((2, 12, 14)).astype(np.float32)
    path = write_array(str(tmp_path / "lr.tif"), lr, "EPSG:32611", TRANSFORM)
    with rasterio.open(path) as ds:
        grid = target_grid(geometry_of(ds), geometry_of(ds), resolution=2.5)
        assert grid.transform.c == 500_000 and grid.transform.f == 4_000_000
        with open_warped(ds, grid, Resampling.cubic) as vrt:
            piped = vrt.read()
    np.testing.assert_allclose(piped, upsample_cubic(lr, 4.0, piped.shape[1:]), atol=1e-6)


def test_tiles_do_not_depend_on_the_window_and_reflect_past_edges(pair):
    lr_path, ref_path = pair
    with rasterio.open(lr_path) as lr, rasterio.open(ref_path) as ref:
        grid = target_grid(geometry_of(lr), geometry_of(ref))
        with open_warped(lr, grid, Resampling.cubic) as vrt:
            full = vrt.read()
            tile = read_tile(vrt, [1, 2, 3, 4], 100, 37, 64)
            np.testing.assert_allclose(tile, full[:, 100:164, 37:101], rtol=1e-6)
            edge = read_tile(vrt, [2], -20, grid.width - 30, 64)
            pad = 40
            expected = np.pad(full[1:2], ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
            rows = slice(pad - 20, pad + 44)
            cols = slice(pad + grid.width - 30, pad + grid.width + 34)
            np.testing.assert_allclose(edge, expected[:, rows, cols], rtol=1e-6, equal_nan=True)
            # LR nodata (a 6x6-pixel corner) reads as NaN
            assert np.isnan(full[:, 0, 0]).all() and np.isfinite(full[:, -1, -1]).all()


def test_a_band_flagged_alpha_is_data_when_selected(tmp_path):
    rgbn = np.random.default_rng(1).integers(0, 256, (4, 20, 20)).astype(np.uint8)
    rgbn[3, :5] = 0  # NIR of dark water, not transparency
    path = write_array(
        str(tmp_path / "naip.tif"),
        rgbn,
        "EPSG:26911",
        Affine(1, 0, 5e5, 0, -1, 4e6),
        photometric="RGB",
        alpha="YES",
    )
    with rasterio.open(path) as ds:
        assert ds.colorinterp[3] == ColorInterp.alpha
        with (
            without_alpha(ds, [1, 2, 3, 4]) as plain,
            WarpedVRT(
                plain, resampling=Resampling.nearest, dtype="float32", nodata=np.nan, tolerance=1e-6
            ) as vrt,
        ):
            np.testing.assert_array_equal(vrt.read(), rgbn)
        with without_alpha(ds, [1, 2, 3]) as masked:
            assert not masked.read_masks(1)[:5].any() and masked.read_masks(1)[5:].all()
