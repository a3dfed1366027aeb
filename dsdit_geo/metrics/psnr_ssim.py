"""PSNR and SSIM on 8-bit images (data range 255), with an optional validity mask and border crop.

Inputs: uint8 arrays (H, W, C) or (C, H, W) with C in {1, 3}, or (H, W); or floats in [0, 1],
which are clipped and quantised to 8 bits first (``round(255 x)``), so every caller measures the
same 8-bit RGB whatever dtype it holds. The mask is (H, W) bool, True = valid (not nodata).

SSIM is Wang et al. (2004) as ``skimage.metrics.structural_similarity(a, b, channel_axis=-1,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)``: 11x11 Gaussian
window (sigma 1.5, truncated at 3.5 sigma), K1 = 0.01, K2 = 0.03, the SSIM map averaged over the
pixels whose whole window lies in the image (a 5 px margin), per channel, then over channels.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

DATA_RANGE = 255.0
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # 5: an 11x11 window
_K1, _K2 = 0.01, 0.03


def to_uint8_hwc(image: np.ndarray) -> np.ndarray:
    """An image as uint8 (H, W, C).

    Accepts (H, W), (H, W, C) or (C, H, W) with C in {1, 3} (a trailing axis of size 1 or 3 is
    taken as channels first); uint8 values pass unchanged, bool and other integer types must lie
    in [0, 255], floats are taken as [0, 1]: non-finite values become 0, then clipped and rounded
    to ``round(255 x)``.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    elif arr.ndim == 3:
        if arr.shape[-1] not in (1, 3):
            if arr.shape[0] not in (1, 3):
                raise ValueError(f"cannot tell the channel axis of an image of shape {arr.shape}")
            arr = np.moveaxis(arr, 0, -1)
    else:
        raise ValueError(f"expected an (H, W), (H, W, C) or (C, H, W) image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        return np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"integer image of dtype {arr.dtype} has values outside 0..255")
        return arr.astype(np.uint8)
    raise ValueError(f"unsupported image dtype {arr.dtype}")


def prepare_pair(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, crop_border: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Both images as uint8 (H', W', C) and the mask as bool (H', W') (or None), border-cropped.

    ``crop_border`` pixels are removed from each edge of all three. Raises ValueError when the
    shapes disagree or nothing is left.
    """
    a, b = to_uint8_hwc(pred), to_uint8_hwc(gt)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    m = None
    if mask is not None:
        m = np.asarray(mask)
        if m.ndim == 3 and m.size == a.shape[0] * a.shape[1]:  # (1, H, W) or (H, W, 1)
            m = m.reshape(a.shape[:2])
        if m.shape != a.shape[:2]:
            raise ValueError(f"mask shape {m.shape} does not match the image's {a.shape[:2]}")
        m = m.astype(bool)
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        c = crop_border
        if a.shape[0] <= 2 * c or a.shape[1] <= 2 * c:
            raise ValueError(f"crop_border {c} leaves nothing of a {a.shape[0]}x{a.shape[1]} image")
        a, b = a[c:-c, c:-c], b[c:-c, c:-c]
        m = m[c:-c, c:-c] if m is not None else None
    return a, b, m


def psnr(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, crop_border: int = 0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(255^2 / MSE)``, MSE over all channels of the
    valid pixels (after quantisation to 8 bits and border crop).

    Returns ``math.inf`` for identical images (MSE 0). Raises ValueError when no pixel is valid.
    """
    a, b, m = prepare_pair(pred, gt, mask, crop_border)
    diff = a.astype(np.float64) - b.astype(np.float64)
    if m is not None:
        diff = diff[m]
    if diff.size == 0:
        raise ValueError("no valid pixel to compute PSNR on")
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE**2 / mse)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two single-channel images (H, W) in 0..255 -> (H, W) float64.

    Only the pixels at least :data:`SSIM_RADIUS` from the edge are exact (the others see
    reflected padding); :func:`ssim` averages those only.
    """
    x, y = a.astype(np.float64), b.astype(np.float64)

    def blur(v: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(v, sigma=SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")

    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    c1 = (_K1 * DATA_RANGE) ** 2
    c2 = (_K2 * DATA_RANGE) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, crop_border: int = 0) -> float:
    """Mean SSIM in [-1, 1] (1 = identical) of two 8-bit images, per channel then averaged.

    Without a mask, equals skimage's ``structural_similarity`` with the settings in the module
    docstring (the map averaged over the pixels >= 5 px from the edge). With a mask, the map is
    averaged over the pixels whose whole 11x11 window is valid (the mask eroded by the window, and
    the 5 px margin), so no nodata pixel enters any statistic. Needs images of at least 11x11
    (after the crop); raises ValueError when no window is left.
    """
    a, b, m = prepare_pair(pred, gt, mask, crop_border)
    h, w = a.shape[:2]
    r = SSIM_RADIUS
    if h < 2 * r + 1 or w < 2 * r + 1:
        raise ValueError(f"SSIM needs images of at least {2 * r + 1}x{2 * r + 1}, got {h}x{w}")
    keep = np.zeros((h, w), dtype=bool)
    keep[r : h - r, r : w - r] = True
    if m is not None:
        keep &= ndimage.binary_erosion(m, structure=np.ones((2 * r + 1, 2 * r + 1), dtype=bool))
    if not keep.any():
        raise ValueError("no 11x11 window of valid pixels to compute SSIM on")
    return float(np.mean([ssim_map(a[..., c], b[..., c])[keep].mean() for c in range(a.shape[2])]))
