"""GDAL HTTP timeouts for a run, so a /vsicurl/ server that accepts a connection and never
answers fails the read instead of hanging it. The user's own settings (environment variables or
an enclosing rasterio.Env) win."""

from __future__ import annotations

import os
from collections.abc import Mapping

import rasterio.env

HTTP_TIMEOUTS = {"GDAL_HTTP_CONNECTTIMEOUT": "30", "GDAL_HTTP_TIMEOUT": "60"}  # seconds


def http_timeouts(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The GDAL config options of `HTTP_TIMEOUTS` that the user has not set."""
    environ = os.environ if environ is None else environ
    outer = rasterio.env.getenv() if rasterio.env.hasenv() else {}
    return {key: value for key, value in HTTP_TIMEOUTS.items() if key not in environ and key not in outer}
