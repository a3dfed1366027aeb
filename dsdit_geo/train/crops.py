"""Crop geometry for training samples (pure numpy).

Arrays are (C, H, W) of any dtype; (H, W) masks are passed as (1, H, W). A *region* is the
training crop plus a margin on every side (for degradation and misregistration); where it
reaches beyond the image it is filled by mirror reflection (half-sample symmetric, like the
pipeline's reflect padding at the scene edges).
"""

from __future__ import annotations

import numpy as np


def reflect_indices(start: int, size: int, length: int) -> np.ndarray:
    """Indices start .. start+size-1 folded into [0, length) by half-sample mirroring
    (..., 1, 0 | 0, 1, ..., L-1 | L-1, ...), for any overshoot."""
    idx = np.mod(np.arange(start, start + size), 2 * length)
    return np.where(idx >= length, 2 * length - 1 - idx, idx)


def take_region(image: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """(C, H, W) -> (C, height, width) starting at (top, left), reflected beyond the edges.
    A copy, never a view."""
    _, img_h, img_w = image.shape
    if top >= 0 and left >= 0 and top + height <= img_h and left + width <= img_w:
        return image[:, top:top + height, left:left + width].copy()
    rows = reflect_indices(top, height, img_h)
    cols = reflect_indices(left, width, img_w)
    return image[:, rows[:, None], cols[None, :]]


def dihedral(image: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    """Rotate (C, H, W) by `turns` x 90 degrees (counter-clockwise), then mirror left-right if
    `flip`. The same (turns, flip) applied to GT, Ref and masks keeps them aligned."""
    out = np.rot90(image, int(turns) % 4, axes=(-2, -1))
    if flip:
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def choose_crop(rng: np.random.Generator, valid: np.ndarray, crop_px: int,
                min_valid: float = 0.98, tries: int = 10) -> tuple[int, int]:
    """Top-left (row, col) of a crop_px x crop_px crop, uniform over the image (0 where the image
    is smaller than the crop), redrawn up to `tries` times until at least `min_valid` of its
    pixels are valid; the best draw is kept otherwise. valid: (H, W) bool."""
    height, width = valid.shape
    best, best_fraction = (0, 0), -1.0
    for _ in range(tries):
        top = int(rng.integers(0, max(height - crop_px, 0) + 1))
        left = int(rng.integers(0, max(width - crop_px, 0) + 1))
        fraction = float(valid[top:top + crop_px, left:left + crop_px].mean())
        if fraction >= min_valid:
            return top, left
        if fraction > best_fraction:
            best, best_fraction = (top, left), fraction
    return best
