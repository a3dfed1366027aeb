"""Degradation: shapes, scale range, determinism, agreement with dsdit_geo.resample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from dsdit_geo.resample import downsample_average, upsample_cubic
from dsdit_geo.train.degrade import (
    DegradeParams,
    area_downsample,
    degrade_crop,
    degrade_to_lr,
    deterministic_params,
    draw_params,
    draw_scale,
    lr_on_hr_grid,
    margin_is_enough,
    margin_px,
)


def _image(seed: int = 0, size: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return gaussian_filter(rng.random((3, size, size)), (0, 1.5, 1.5)).astype(np.float32)


@pytest.mark.parametrize("scale", [4.0, 5.3, 8.0, 10.0])
def test_shapes(scale: float) -> None:
    hr = _image(size=200)
    lr = degrade_to_lr(hr, scale)
    assert lr.shape == (3, int(200 // scale), int(200 // scale)) and lr.dtype == np.float32
    up = lr_on_hr_grid(lr, scale, (200, 200))
    assert up.shape == (3, 200, 200) and np.isfinite(up).all()


def test_constant_stays_constant() -> None:
    hr = np.full((3, 200, 200), 0.37, np.float32)
    for scale in (4.0, 6.7, 10.0):
        lr = degrade_to_lr(hr, scale)
        np.testing.assert_allclose(lr, 0.37, atol=1e-6)
        np.testing.assert_allclose(lr_on_hr_grid(lr, scale, (200, 200)), 0.37, atol=1e-6)
        m = margin_px(scale)
        _, lr_hr = degrade_crop(np.full((3, 64 + 2 * m, 64 + 2 * m), 0.37, np.float32), m,
                                deterministic_params(scale))
        np.testing.assert_allclose(lr_hr, 0.37, atol=1e-6)


def test_deterministic_mode_is_reproducible_and_random_mode_is_seeded() -> None:
    hr = _image()
    np.testing.assert_array_equal(degrade_to_lr(hr, 6.0), degrade_to_lr(hr, 6.0))
    a = degrade_to_lr(hr, 6.0, np.random.default_rng(5))
    b = degrade_to_lr(hr, 6.0, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(degrade_to_lr(hr, 6.0, np.random.default_rng(s)), a) for s in range(6, 10))


def test_deterministic_is_blur_then_resample_average() -> None:
    hr = _image()
    scale = 5.5
    sigma = deterministic_params(scale).blur * scale
    expected = downsample_average(gaussian_filter(hr, (0, sigma, sigma), mode="reflect", truncate=3.0), scale)
    np.testing.assert_allclose(degrade_to_lr(hr, scale), expected, atol=1e-6)
    np.testing.assert_array_equal(lr_on_hr_grid(expected, scale, (300, 300))[:, :250, :250],
                                  upsample_cubic(expected, scale, (300, 300))[:, :250, :250])


def test_scale_draws_cover_the_range_log_uniformly() -> None:
    rng = np.random.default_rng(0)
    scales = np.array([draw_scale(rng, (4.0, 10.0)) for _ in range(4000)])
    assert scales.min() >= 4.0 and scales.max() <= 10.0
    assert scales.min() < 4.1 and scales.max() > 9.8
    assert abs(np.median(scales) - np.sqrt(40.0)) < 0.15  # log-uniform median = geometric mean
    params = [draw_params(rng, 5.0) for _ in range(500)]
    assert all(0.25 <= p.blur <= 0.55 for p in params)
    assert {p.quant_levels for p in params} == {0, 255, 4095}
    assert 0.35 < np.mean([p.noise_sigma > 0 for p in params]) < 0.65


@pytest.mark.parametrize("scale", [4.0, 4.25, 6.5, 7.75, 10.0])
def test_crop_with_margin_equals_whole_image(scale: float) -> None:
    """The centre of a degraded region equals the same pixels of the whole degraded image
    (same LR grid), by the fast matrix path and by the GDAL path alike."""
    hr = _image(size=420)
    params = DegradeParams(scale=scale, blur=0.55)
    sigma = 0.55 * scale
    lr = downsample_average(gaussian_filter(hr, (0, sigma, sigma), mode="reflect", truncate=3.0), scale)
    whole = upsample_cubic(lr, scale, hr.shape[1:])
    k = next(k for k in range(1, 200) if abs(k * scale - round(k * scale)) < 1e-9)
    top = int(round(k * scale))  # an LR cell boundary, so the region's LR grid is the image's
    m, crop = margin_px(scale), 96
    region = hr[:, top:top + crop + 2 * m, top:top + crop + 2 * m]
    expected = whole[:, top + m:top + m + crop, top + m:top + m + crop]
    for method in ("matrix", "gdal"):
        _, lr_hr = degrade_crop(region, m, params, method=method)
        assert lr_hr.shape == (3, crop, crop)
        np.testing.assert_allclose(lr_hr, expected, atol=2e-6)


def test_matrix_and_gdal_paths_agree_with_noise() -> None:
    hr = _image(size=220)
    params = DegradeParams(scale=7.3, blur=0.4, noise_sigma=0.01, quant_levels=255)
    m = margin_px(7.3)
    region = hr[:, :64 + 2 * m, :64 + 2 * m]
    lr_a, a = degrade_crop(region, m, params, np.random.default_rng(1), method="matrix")
    lr_b, b = degrade_crop(region, m, params, np.random.default_rng(1), method="gdal")
    assert np.abs(lr_a - lr_b).max() <= 1 / 255 + 1e-6  # rounding may flip a level
    assert np.mean(np.abs(lr_a - lr_b) > 1e-6) < 0.01
    np.testing.assert_allclose(np.unique(np.round(lr_a * 255, 3)) % 1, 0, atol=1e-3)


def test_area_downsample_equals_resample() -> None:
    x = _image(size=131)
    for scale in (4.0, 4.6, 9.1):
        np.testing.assert_allclose(area_downsample(x, scale), downsample_average(x, scale), atol=1e-6)


def test_margin_rule() -> None:
    for scale in np.linspace(4.0, 10.0, 25):
        params = DegradeParams(scale=float(scale), blur=0.55)
        m = margin_px(scale)
        assert margin_is_enough(128 + 2 * m, 128, m, params)
    with pytest.raises(ValueError):
        degrade_crop(_image(size=140), 6, DegradeParams(scale=10.0, blur=0.5))
