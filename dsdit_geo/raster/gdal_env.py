"""GDAL configuration for a run: what we set, and what we leave to the user.

Inputs are read with GDAL's defaults, so `.aux.xml` side files (PAM: CRS, geotransform, nodata,
scales) count. Only the files we write suppress PAM (`no_pam()`), so an output never grows a
side file. `GDAL_CACHEMAX` gets our default only when the user has not set it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

import rasterio
import rasterio.env

# 32 MiB (rasterio takes an int as bytes): the warped reads hardly reuse blocks, and a bigger
# cache only fills up with the temporary output.
DEFAULT_CACHEMAX_BYTES = 32 * 1024 * 1024


def _user_has(key: str, environ: Mapping[str, str]) -> bool:
    """True when `key` is set in the process environment or in an enclosing rasterio.Env."""
    if key in environ:
        return True
    return rasterio.env.hasenv() and key in rasterio.env.getenv()


def run_env_options(threads: int | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """GDAL config options for one upscale run (never GDAL_PAM_ENABLED: inputs' side files count)."""
    environ = os.environ if environ is None else environ
    options: dict = {}
    if not _user_has("GDAL_CACHEMAX", environ):
        options["GDAL_CACHEMAX"] = DEFAULT_CACHEMAX_BYTES
    if threads is not None:
        options["GDAL_NUM_THREADS"] = str(threads)
    return options


@contextlib.contextmanager
def no_pam() -> Iterator[None]:
    """GDAL_PAM_ENABLED=NO for datasets opened, created or closed inside (our outputs only)."""
    with rasterio.Env(GDAL_PAM_ENABLED="NO"):
        yield
