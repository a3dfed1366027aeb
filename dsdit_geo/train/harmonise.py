"""Scene-level Ref -> LR harmonisation for training samples, fitted as the pipeline fits it.

The pipeline fits one per-band gain/offset (`radiometry.fit_gain_offset`) for the whole scene:
the Ref area-averaged to the LR's resolution against the LR, over valid pixels. A training crop
is a small part of a scene, and a fit on the crop alone would hand the model a Ref whose local
brightness and contrast already match the LR (and flatten Refs with real change), which it
never gets at inference. So each sample's gain/offset is fitted on its whole image (the
"scene"): the ground truth degraded with the sample's blur and scale, against the Ref (with the
sample's scene-wide augmentation `RefLook`) area-averaged at the same scale. Local edits (pasted
changes, the blur/sharpen difference of synthetic Refs) and LR noise are left out of the fit:
they barely move scene statistics.

For speed the scene is kept as a thumbnail, area-averaged by a factor F (1..4, at most the
smallest scale, so that the side is about 128 px); area-averaging the thumbnail by scale / F
equals area-averaging the image by scale exactly where F divides the cell edges, and to a
fraction of a cell otherwise; the blur is applied at the thumbnail's resolution (sigma / F).
Arrays: thumbnails (3, h, w) float32 + (h, w) bool valid; scene LRs (3, h', w') float32 model
range with NaN where invalid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsdit_geo.radiometry import GainOffset, fit_gain_offset
from dsdit_geo.train.degrade import DegradeParams, average_matrix, gaussian_matrix, separable_apply
from dsdit_geo.train.refaug import RefLook

THUMB_TARGET_PX = 128
# LR cells with less than this valid fraction are left out of the fit
MIN_VALID_FRACTION = 0.999


@dataclass(frozen=True)
class SceneThumb:
    """A whole image averaged by `factor`: values (3, h, w) float32 model range, 0 where
    invalid; valid (h, w) bool (True where every pixel under it is valid)."""

    values: np.ndarray
    valid: np.ndarray
    factor: int

    @property
    def all_valid(self) -> bool:
        return bool(self.valid.all())


def thumb_factor(shape: tuple[int, int], min_scale: float) -> int:
    """F in 1..4, at most floor(min_scale), making the thumbnail's longer side about 128 px."""
    wanted = math.ceil(max(shape) / THUMB_TARGET_PX)
    return int(max(1, min(wanted, 4, math.floor(min_scale))))


def make_thumb(pixels: np.ndarray, valid: np.ndarray, factor: int) -> SceneThumb:
    """(3, H, W) uint8 + (H, W) bool -> SceneThumb (block means over factor x factor pixels;
    a partial block at the bottom / right is dropped)."""
    h, w = pixels.shape[1] // factor, pixels.shape[2] // factor
    blocks = pixels[:, :h * factor, :w * factor].reshape(3, h, factor, w, factor)
    means = blocks.astype(np.float32).mean(axis=(2, 4)) * np.float32(1.0 / 255.0)
    ok = valid[:h * factor, :w * factor].reshape(h, factor, w, factor).all(axis=(1, 3))
    return SceneThumb(np.where(ok[None], means, 0.0).astype(np.float32), ok, factor)


def _masked_downsample(thumb: SceneThumb, scale: float, sigma_px: float) -> np.ndarray:
    """Blur (sigma in full-resolution pixels) and area-average the thumbnail to the LR grid of
    `scale`; (3, h', w') float32 with NaN in cells touching invalid pixels."""
    step = scale / thumb.factor
    sigma = sigma_px / thumb.factor
    height, width = thumb.valid.shape
    rows = average_matrix(height, step)
    cols = average_matrix(width, step)
    if sigma > 0:
        rows, cols = rows @ gaussian_matrix(height, sigma), cols @ gaussian_matrix(width, sigma)
    sums = separable_apply(thumb.values, rows, cols)
    if thumb.all_valid:
        return sums
    cover = separable_apply(thumb.valid[None].astype(np.float32), rows, cols)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / cover
    out[:, cover < MIN_VALID_FRACTION] = np.nan
    return out.astype(np.float32)


def scene_lr(gt_thumb: SceneThumb, params: DegradeParams) -> np.ndarray:
    """The scene's LR (blur + area average, no noise) as (3, h', w') float32, NaN = invalid."""
    return _masked_downsample(gt_thumb, params.scale, params.blur * params.scale)


def scene_ref_lr(ref_thumb: SceneThumb, scale: float, look: RefLook) -> np.ndarray:
    """The scene's Ref with its look, area-averaged to the LR grid (as the pipeline degrades
    the Ref): (3, h', w') float32, NaN = invalid."""
    return look.apply(_masked_downsample(ref_thumb, scale, 0.0))


def fit_scene(ref_lr: np.ndarray, lr: np.ndarray) -> GainOffset:
    """`radiometry.fit_gain_offset` over the common top-left part of the two scene grids
    (they differ only for an unrelated Ref, whose pixels do not correspond anyway)."""
    h = min(ref_lr.shape[1], lr.shape[1])
    w = min(ref_lr.shape[2], lr.shape[2])
    return fit_gain_offset(ref_lr[:, :h, :w].reshape(3, -1), lr[:, :h, :w].reshape(3, -1))
