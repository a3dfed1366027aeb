"""PSNR / SSIM on 8-bit images: known values, layouts, masks, border crop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsdit_geo.metrics import compute_metrics, psnr, ssim, to_uint8_hwc

SKIMAGE_KW = "channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255"


def _patterns() -> tuple[np.ndarray, np.ndarray]:
    """Two deterministic (48, 40, 3) uint8 images (no RNG, so the stored references are stable)."""
    yy, xx = np.mgrid[0:48, 0:40]
    a = np.stack([(xx * 5 + yy * 3) % 256, (xx * yy) % 256, ((xx - yy) * 7) % 256], -1)
    b = np.stack([(xx * 5 + yy * 2) % 256, (xx * yy + 9) % 256, ((xx + yy) * 7) % 256], -1)
    return a.astype(np.uint8), b.astype(np.uint8)


def _smooth_gray() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:48, 0:40]
    g = (128 + 60 * np.sin(xx / 4.0) * np.cos(yy / 6.0)).astype(np.uint8)
    h = np.clip(g.astype(int) + (xx * 7 + yy * 13) % 11 - 5, 0, 255).astype(np.uint8)
    return g, h


def test_psnr_identical_is_inf() -> None:
    a, _ = _patterns()
    assert psnr(a, a) == math.inf


def test_psnr_constant_offset() -> None:
    a, _ = _patterns()
    a = (a // 2 + 10).astype(np.uint8)  # 10..137: +5 never clips
    assert psnr(a + 5, a) == pytest.approx(20 * math.log10(255 / 5), abs=1e-12)


def test_psnr_of_a_shift() -> None:
    """A one-pixel shift of a ramp differs by exactly the ramp step everywhere compared."""
    ramp = np.tile((np.arange(64) * 3).astype(np.uint8)[None, :, None], (16, 1, 3))
    shifted = ramp[:, 1:]
    assert psnr(shifted, ramp[:, :-1]) == pytest.approx(20 * math.log10(255 / 3), abs=1e-12)


def test_float_input_is_quantised_and_layouts_agree() -> None:
    a, b = _patterns()
    af, bf = a / 255.0, b / 255.0
    assert psnr(af, bf) == psnr(a, b)
    assert ssim(af, bf) == ssim(a, b)
    assert psnr(a.transpose(2, 0, 1), b.transpose(2, 0, 1)) == psnr(a, b)
    assert ssim(a.transpose(2, 0, 1), b.transpose(2, 0, 1)) == ssim(a, b)
    # values between 8-bit levels round to the nearest level; out-of-range floats clip
    assert np.array_equal(to_uint8_hwc(np.full((2, 2, 3), 0.5 / 255 + 1e-9)), np.ones((2, 2, 3), np.uint8))
    assert np.array_equal(to_uint8_hwc(np.full((2, 2, 3), 1.7)), np.full((2, 2, 3), 255, np.uint8))


def test_ssim_identical_is_one() -> None:
    a, _ = _patterns()
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    """Zero variances leave only (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)."""
    c1 = (0.01 * 255) ** 2
    a, b = np.full((20, 20, 3), 100, np.uint8), np.full((20, 20, 3), 120, np.uint8)
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), abs=1e-9)


def test_ssim_matches_skimage_reference_values() -> None:
    """Values from skimage 0.26 ``structural_similarity(a, b, ...)`` with the settings of the issue."""
    a, b = _patterns()
    assert ssim(a, b) == pytest.approx(0.5602339240116078, abs=1e-10)  # RGB, SKIMAGE_KW
    g, h = _smooth_gray()
    assert ssim(g, h) == pytest.approx(0.9690890670865245, abs=1e-10)  # gray, no channel_axis


def test_mask_excludes_nodata() -> None:
    a, b = _patterns()
    mask = np.zeros(a.shape[:2], bool)
    mask[6:40, 4:33] = True
    garbage = b.copy()
    garbage[~mask] = 255 - garbage[~mask]
    # PSNR and SSIM ignore what lies outside the mask ...
    assert psnr(garbage, a, mask) == psnr(b, a, mask)
    assert ssim(garbage, a, mask) == ssim(b, a, mask)
    # ... and for a rectangular mask equal the metrics of the rectangle alone
    assert psnr(b, a, mask) == pytest.approx(psnr(b[6:40, 4:33], a[6:40, 4:33]), abs=1e-12)
    assert ssim(b, a, mask) == pytest.approx(ssim(b[6:40, 4:33], a[6:40, 4:33]), abs=1e-12)


def test_crop_border() -> None:
    a, b = _patterns()
    assert psnr(b, a, crop_border=4) == psnr(b[4:-4, 4:-4], a[4:-4, 4:-4])
    assert ssim(b, a, crop_border=4) == ssim(b[4:-4, 4:-4], a[4:-4, 4:-4])
    with pytest.raises(ValueError, match="leaves nothing"):
        psnr(a, b, crop_border=20)


def test_invalid_inputs() -> None:
    a, b = _patterns()
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, b[:-1])
    with pytest.raises(ValueError, match="mask shape"):
        ssim(a, b, mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="no valid pixel"):
        psnr(a, b, mask=np.zeros(a.shape[:2], bool))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(a[:10], b[:10])
    with pytest.raises(ValueError, match="channel axis"):
        psnr(np.zeros((5, 6, 7), np.uint8), np.zeros((5, 6, 7), np.uint8))
    with pytest.raises(ValueError, match="outside 0..255"):
        psnr(np.full((4, 4), 300, np.uint16), np.zeros((4, 4), np.uint16))


def test_compute_metrics_without_perceptual_needs_no_weights() -> None:
    a, b = _patterns()
    out = compute_metrics(a, b, perceptual=False)
    assert out == {"psnr": psnr(a, b), "ssim": ssim(a, b)}
