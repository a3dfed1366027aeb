"""GDAL HTTP timeouts by default; the user's own settings win."""

from __future__ import annotations

import rasterio

from dsdit_geo.raster.http_env import HTTP_TIMEOUTS, http_timeouts


def test_defaults_unless_the_user_set_them():
    assert http_timeouts({}) == HTTP_TIMEOUTS
    assert http_timeouts({"GDAL_HTTP_TIMEOUT": "5"}) == {"GDAL_HTTP_CONNECTTIMEOUT": "30"}
    with rasterio.Env(GDAL_HTTP_CONNECTTIMEOUT="3"):
        assert http_timeouts({}) == {"GDAL_HTTP_TIMEOUT": "60"}
