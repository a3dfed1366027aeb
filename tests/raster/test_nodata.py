"""--lr-nodata / --ref-nodata / --dst-nodata values and the zero-fill warning."""

import math

import numpy as np
import pytest
import rasterio
from affine import Affine

from dsdit_geo.errors import OptionError
from dsdit_geo.raster.nodata import NO_NODATA, check_fits, parse_nodata, resolve, zero_fill_warning
from dsdit_geo.raster.synthetic import write_array

T = Affine(10, 0, 500_000, 0, -10, 4_000_000)


def test_parse_and_resolve():
    assert parse_nodata(None, "--x") is None and parse_nodata(" None ", "--x") == NO_NODATA
    assert parse_nodata("-9999", "--x") == -9999.0 and parse_nodata(0, "--x") == 0.0
    assert math.isnan(parse_nodata("nan", "--x"))
    with pytest.raises(OptionError, match="--lr-nodata must be a number"):
        parse_nodata("zero", "--lr-nodata")
    assert resolve(None, 7.0) == 7.0 and resolve(NO_NODATA, 7.0) is None and resolve(0.0, None) == 0.0


def test_check_fits():
    check_fits(65535.0, "uint16", "--dst-nodata")
    check_fits(float("nan"), "float32", "--dst-nodata")
    for value in (-1.0, 65536.0, 0.5, float("nan")):
        with pytest.raises(OptionError, match="--dst-nodata"):
            check_fits(value, "uint16", "--dst-nodata")


@pytest.mark.parametrize(
    "zeros, nodata, dtype, warns",
    [
        (3, None, "uint16", True),
        (1, None, "uint16", False),
        (3, 0, "uint16", False),
        (3, None, "uint8", False),
    ],
)
def test_zero_fill_warning(tmp_path, zeros, nodata, dtype, warns):
    """Above 1 % exact zeros in a uint16 raster without nodata: one line naming --lr-nodata."""
    data = np.full((1, 100, 100), 50, dtype)
    data[0, :zeros, :] = 0  # `zeros` % of the pixels
    path = write_array(str(tmp_path / "a.tif"), data, "EPSG:32611", T, nodata=nodata)
    with rasterio.open(path) as ds:
        message = zero_fill_warning(ds, [1])
    assert (message is not None) == warns
    if warns:
        assert message.startswith("Warning:") and "--lr-nodata 0" in message and "\n" not in message
