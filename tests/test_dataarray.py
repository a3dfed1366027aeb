"""`upscale_dataarray` (the [xarray] extra): DataArrays in, a georeferenced DataArray out."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from dsdit_geo import Engine, upscale_dataarray, upscale_file
from dsdit_geo.errors import InputError, OptionError
from dsdit_geo.raster.synthetic import write_pair

rioxarray = pytest.importorskip("rioxarray")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("xr")), lr_px=12, ref_px=100, scale=10, bands=3)


def test_same_pixels_and_grid_as_upscale_file(pair, tmp_path):
    lr, ref = rioxarray.open_rasterio(pair[0]), rioxarray.open_rasterio(pair[1])
    result = upscale_dataarray(lr, ref, method="hpf")
    upscale_file(*pair, tmp_path / "out.tif", method="hpf")
    with rasterio.open(tmp_path / "out.tif") as ds:
        expected, crs, transform = ds.read(), ds.crs, ds.transform
    assert result.dims == ("band", "y", "x") and result.dtype == expected.dtype
    np.testing.assert_array_equal(result.values, expected)
    assert result.rio.crs == crs and result.rio.transform() == transform
    again = upscale_dataarray(lr, ref, engine=Engine(method="hpf", quiet=True))
    np.testing.assert_array_equal(again.values, expected)


def test_bad_arrays_are_one_line_errors(pair):
    lr, ref = rioxarray.open_rasterio(pair[0]), rioxarray.open_rasterio(pair[1])
    with pytest.raises(InputError, match="the LR DataArray has no CRS"):
        upscale_dataarray(lr.drop_vars("spatial_ref"), ref, method="hpf")
    with pytest.raises(OptionError, match="no trust map"):
        upscale_dataarray(lr, ref, method="hpf", trust_map="t.tif")
