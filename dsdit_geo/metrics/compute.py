"""``compute_metrics``: PSNR, SSIM, LPIPS (AlexNet) and DISTS of one prediction against its truth.

Perceptual metrics on images larger than ``max_tile_px`` run tile by tile with halos
(:mod:`dsdit_geo.metrics.tiling`), which bounds memory and gives the whole-image values.
"""

from __future__ import annotations

import numpy as np
import torch

from dsdit_geo.metrics.dists import get_dists
from dsdit_geo.metrics.lpips import get_lpips
from dsdit_geo.metrics.psnr_ssim import prepare_pair, psnr, ssim
from dsdit_geo.metrics.tiling import tiled_dists, tiled_lpips

MIN_PERCEPTUAL_PX = 32
"""Smallest height / width the perceptual metrics accept."""


def _to_tensor(image: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """uint8 (H, W, C), C in {1, 3} -> float32 (1, 3, H, W) in [0, 1] on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device=device, dtype=torch.float32) / 255.0
    t = t.permute(2, 0, 1)[None]
    return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t


def _masked_for_perceptual(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Crop both to the valid pixels' bounding box; copy gt into pred where invalid (no difference)."""
    if mask is None:
        return pred, gt
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("no valid pixel to compute perceptual metrics on")
    window = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    m = mask[window][..., None]
    return np.where(m, pred[window], gt[window]), gt[window]


def perceptual_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    max_tile_px: int = 1024,
    dists: bool = True,
) -> dict[str, float]:
    """LPIPS (AlexNet, v0.1) and DISTS (unless ``dists`` is False: VGG-16 is the slow part) of
    two uint8 (H, W, C) images, C in {1, 3}.

    With a mask (H, W) bool (True = valid), both are cropped to the valid bounding box and the
    prediction's invalid pixels are replaced by the truth's, so nodata adds no difference (an
    approximation: the networks still see those pixels). Needs H, W >= 32 (after that crop).
    Images larger than ``max_tile_px`` (>= 64) per side are processed in tiles of at most that
    size plus a 128 px halo, with the same result. Returns ``{"lpips": float, "dists": float}``,
    both >= 0 (lower is better; clamped at 0 against float round-off on identical images).
    """
    a, b = _masked_for_perceptual(pred, gt, mask)
    h, w = a.shape[:2]
    if h < MIN_PERCEPTUAL_PX or w < MIN_PERCEPTUAL_PX:
        raise ValueError(f"perceptual metrics need images of at least {MIN_PERCEPTUAL_PX} px, got {h}x{w}")
    x, y = _to_tensor(a, device), _to_tensor(b, device)
    lpips = float(tiled_lpips(get_lpips("alex", device), 2 * x - 1, 2 * y - 1, max_tile_px)[0])
    if not dists:
        return {"lpips": max(lpips, 0.0)}
    value = float(tiled_dists(get_dists(device), x, y, max_tile_px)[0])
    return {"lpips": max(lpips, 0.0), "dists": max(value, 0.0)}


def compute_metrics(
    pred_uint8_rgb: np.ndarray,
    gt_uint8_rgb: np.ndarray,
    mask: np.ndarray | None = None,
    perceptual: bool = True,
    device: str | torch.device = "cpu",
    crop_border: int = 0,
    max_tile_px: int = 1024,
    dists: bool = True,
) -> dict[str, float]:
    """All evaluation metrics of a prediction against its ground truth.

    Images: uint8 (H, W, 3) or (3, H, W) (or floats in [0, 1], quantised to 8 bits; see
    :func:`dsdit_geo.metrics.psnr_ssim.to_uint8_hwc`). ``mask``: (H, W) bool, True = valid.
    ``crop_border`` pixels are dropped from every edge before any metric.

    Returns ``{"psnr": dB (inf if identical), "ssim": [-1, 1], "lpips": >= 0, "dists": >= 0}``;
    the last two only with ``perceptual=True`` (DISTS also needs ``dists``) (networks built on first use and cached per device;
    ModelError naming the install command when the optional weight packages are absent).
    """
    a, b, m = prepare_pair(pred_uint8_rgb, gt_uint8_rgb, mask, crop_border)
    out = {"psnr": psnr(a, b, m), "ssim": ssim(a, b, m)}
    if perceptual:
        out.update(perceptual_metrics(a, b, m, device=device, max_tile_px=max_tile_px, dists=dists))
    return out
