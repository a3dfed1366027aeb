"""Fixtures for the training-data tests: tiny rasters written in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from dsdit_geo.train.sources import SourceRecord


def write_raster(path: Path, pixels: np.ndarray, georef: bool = False,
                 nodata: float | None = None) -> Path:
    """Write (C, H, W) as a GeoTIFF (optionally georeferenced) or, for .png, a plain image."""
    count, height, width = pixels.shape
    profile = dict(count=count, height=height, width=width, dtype=pixels.dtype.name)
    if path.suffix == ".png":
        profile["driver"] = "PNG"
    else:
        profile["driver"] = "GTiff"
        if georef:
            profile.update(crs="EPSG:32631", transform=Affine(1, 0, 500_000, 0, -1, 5_000_000))
        if nodata is not None:
            profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels)
    return path


def textured(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(3, H, W) uint8 smooth random texture."""
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.random((3, height, width)), (0, 3, 3))
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (20 + 215 * noise).astype(np.uint8)


@pytest.fixture
def raster_writer():
    """`write_raster(path, pixels, georef=False, nodata=None)` for tests (importlib mode keeps
    test modules from importing this file)."""
    return write_raster


@pytest.fixture
def tiny_records(tmp_path: Path) -> list[SourceRecord]:
    """Four bi-temporal scenes (both directions, one with a change label) and two single-date
    rasters, 96..160 px, as SourceRecords."""
    rng = np.random.default_rng(123)
    records: list[SourceRecord] = []
    for k in range(4):
        size = 96 + 16 * k
        a = write_raster(tmp_path / f"a{k}.tif", textured(rng, size, size))
        b = write_raster(tmp_path / f"b{k}.png", textured(rng, size, size))
        label = None
        if k == 0:
            lab = np.zeros((1, size, size), np.uint8)
            lab[0, 10:40, 20:60] = 255
            label = write_raster(tmp_path / "label0.png", lab)
        for gt, ref, d in ((b, a, "forward"), (a, b, "reverse")):
            records.append(SourceRecord(item_id=f"toy/s{k}/{d}", scene_id=f"toy/s{k}", dataset="toy",
                                        gt_path=gt, ref_path=ref, change_path=label,
                                        kind="bitemporal", direction=d))
    for k in range(2):
        path = write_raster(tmp_path / f"single{k}.tif", textured(rng, 140, 160))
        records.append(SourceRecord(item_id=f"one/x{k}", scene_id=f"one/x{k}", dataset="one",
                                    gt_path=path, ref_path=None, change_path=None, kind="single",
                                    direction="single"))
    return records
