"""Tiny synthetic evaluation cases written in tmp dirs: two textured 96-px (GT, Ref, label)
triplets whose Ref shows the GT except for a pasted unrelated patch (label 1 there), and one
constant image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy.ndimage import gaussian_filter

SIZE = 96
PATCH = np.s_[24:64, 28:68]  # the changed region (label 1)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """(C, H, W) uint8 -> plain PNG (no georeference, like DSIFN / WHU-CD)."""
    with rasterio.open(path, "w", driver="PNG", count=pixels.shape[0], height=pixels.shape[1],
                       width=pixels.shape[2], dtype="uint8") as dst:
        dst.write(pixels)
    return path


def texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(3, H, W) uint8 smooth random texture (detail at a few pixels)."""
    noise = gaussian_filter(rng.random((3, height, width)), (0, 2, 2))
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (20 + 215 * noise).astype(np.uint8)


def make_triplet(rng: np.random.Generator, size: int = SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gt = texture(rng, size, size)
    ref = gt.copy()
    ref[(slice(None), *PATCH)] = texture(rng, PATCH[0].stop - PATCH[0].start, PATCH[1].stop - PATCH[1].start)
    label = np.zeros((1, size, size), np.uint8)
    label[(slice(None), *PATCH)] = 255
    return gt, ref, label


@pytest.fixture(scope="session")
def cases_dir(tmp_path_factory) -> Path:
    """A gt/ ref/ label/ folder holding cases a and b (96 px PNGs)."""
    root = tmp_path_factory.mktemp("eval_cases")
    for sub in ("gt", "ref", "label"):
        (root / sub).mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        gt, ref, label = make_triplet(rng)
        write_png(root / "gt" / f"{name}.png", gt)
        write_png(root / "ref" / f"{name}.png", ref)
        write_png(root / "label" / f"{name}.png", label)
    return root


@pytest.fixture(scope="session")
def constant_dir(tmp_path_factory) -> Path:
    """A gt/ ref/ folder with one constant grey 64-px case (no label)."""
    root = tmp_path_factory.mktemp("eval_constant")
    for sub in ("gt", "ref"):
        (root / sub).mkdir()
        write_png(root / sub / "flat.png", np.full((3, 64, 64), 128, np.uint8))
    return root
