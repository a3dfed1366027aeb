"""GDAL settings of a run: inputs' side files count, outputs get none, a user's cache size stays."""

import os

import numpy as np
import rasterio
from affine import Affine

from dsdit_geo.raster.gdal_env import DEFAULT_CACHEMAX_BYTES, no_pam, run_env_options


def test_cachemax_default_only_when_the_user_has_none():
    assert run_env_options(environ={}) == {"GDAL_CACHEMAX": DEFAULT_CACHEMAX_BYTES}
    assert run_env_options(environ={"GDAL_CACHEMAX": "512"}) == {}
    with rasterio.Env(GDAL_CACHEMAX=256 * 1024 * 1024):
        assert "GDAL_CACHEMAX" not in run_env_options(environ={})
    assert run_env_options(threads=3, environ={"GDAL_CACHEMAX": "1"}) == {"GDAL_NUM_THREADS": "3"}
    assert "GDAL_PAM_ENABLED" not in run_env_options(environ={})


def _write_baseline(path: str) -> None:
    """A GTiff that cannot hold its georeferencing (PROFILE=BASELINE): GDAL wants a side file."""
    profile = dict(driver="GTiff", width=8, height=8, count=1, dtype="uint8", PROFILE="BASELINE",
                   crs="EPSG:32611", transform=Affine(1, 0, 500_000, 0, -1, 4_000_000))  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.ones((1, 8, 8), np.uint8))


def test_no_pam_suppresses_side_files_only_inside(tmp_path):
    with rasterio.Env():
        _write_baseline(str(tmp_path / "pam.tif"))
        with no_pam():
            _write_baseline(str(tmp_path / "quiet.tif"))
        assert os.path.exists(tmp_path / "pam.tif.aux.xml")
        assert not os.path.exists(tmp_path / "quiet.tif.aux.xml")
        with rasterio.open(tmp_path / "pam.tif") as ds:  # read back through the side file
            assert ds.crs.to_epsg() == 32611
