"""finite_view: NaN, ±inf and the declared nodata read as NaN nodata; read_dtype."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from dsdit_geo.raster.finite import finite_view, read_dtype
from dsdit_geo.raster.synthetic import write_array

TRANSFORM = Affine(10, 0, 500_000, 0, -10, 4_000_000)


def _write(tmp_path, dtype, nodata, **profile):
    data = (np.arange(2 * 8 * 8).reshape(2, 8, 8) + 1000).astype(dtype)
    if np.issubdtype(np.dtype(dtype), np.floating):
        data[0, 1, 1], data[0, 2, 2], data[1, 3, 3], data[1, 4, 4] = np.nan, np.inf, -np.inf, -9999
    return data, write_array(str(tmp_path / f"{dtype}.tif"), data, "EPSG:32611", TRANSFORM, nodata, **profile)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nodata", [None, float("nan"), -9999.0])
def test_non_finite_values_read_as_nodata_and_the_rest_exactly(tmp_path, dtype, nodata):
    data, path = _write(tmp_path, dtype, nodata)
    with rasterio.open(path) as ds, finite_view(ds) as view:
        assert view is not ds and np.isnan(view.nodata) and view.dtypes == ds.dtypes
        values = view.read()
        masked = view.read(masked=True)
    bad = ~np.isfinite(data) | ((data == -9999) if nodata == -9999 else False)
    assert (np.isnan(values) == bad).all() and (masked.mask == bad).all()
    np.testing.assert_array_equal(values[~bad], data[~bad])  # bit for bit


def test_integer_and_masked_rasters_are_left_alone(tmp_path):
    _, path = _write(tmp_path, "uint16", 0)
    with rasterio.open(path) as ds:
        assert finite_view(ds) is ds and read_dtype(ds, [1]) == "float32"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        _, masked_path = _write(tmp_path, "float32", None)
        with rasterio.open(masked_path, "r+") as ds:
            ds.write_mask(np.full((8, 8), 255, np.uint8))
    with rasterio.open(masked_path) as ds:
        assert finite_view(ds) is ds  # nodata would make the warper ignore the mask


def test_float64_is_read_as_float64(tmp_path):
    _, path = _write(tmp_path, "float64", None)
    with rasterio.open(path) as ds:
        assert read_dtype(ds, [1, 2]) == "float64"


def test_errors_name_the_file_under_nested_vrts(tmp_path):
    from types import SimpleNamespace

    from dsdit_geo.pipeline import _source_name
    from dsdit_geo.raster.read import without_alpha

    _, path = _write(tmp_path, "float32", None)
    with rasterio.open(path) as ds, without_alpha(ds, [1], 0.0) as vrt, finite_view(vrt) as view:
        assert _source_name(SimpleNamespace(src_dataset=view)) == path
