"""The LR sensor models (kernels) of `train.degrade`: antialiased bicubic as PIL does it, the
Sentinel-2-like MTF, and crops that degrade exactly like whole images for every kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from dsdit_geo.train.degrade import (
    KERNELS,
    S2_MTF_AT_NYQUIST,
    S2_MTF_SIGMA,
    DegradeConfig,
    DegradeParams,
    apply_degradation,
    degrade_crop,
    degrade_to_lr,
    draw_params,
    lr_on_hr_grid,
    margin_px,
    max_reach,
    sharpen_lr,
)


def test_bicubic_aa_matches_pil_resize():
    rng = np.random.default_rng(3)
    img = (rng.random((64, 80)) * 255).astype(np.uint8)
    pil = np.asarray(Image.fromarray(img).resize((20, 16), Image.BICUBIC), dtype=np.float32)
    mine = apply_degradation(img[None].astype(np.float32), DegradeParams(4.0, 0.0, kernel="bicubic_aa"))[0]
    assert mine.shape == pil.shape
    assert np.abs(mine - pil).max() <= 1.0  # PIL rounds to 8 bits (and clips)
    assert np.abs(mine - pil).mean() < 0.35


def test_s2_mtf_has_the_stated_response_at_nyquist():
    assert math.exp(-2 * math.pi**2 * S2_MTF_SIGMA**2 * 0.25) == pytest.approx(S2_MTF_AT_NYQUIST)
    # a sine at the LR Nyquist frequency, sampled at the pixel centres of the LR
    scale, n = 4.0, 256
    x = np.arange(n) + 0.5
    wave = (0.5 + 0.25 * np.cos(2 * np.pi * x / (2 * scale) - np.pi / 8)).astype(np.float32)
    hr = np.repeat(wave[None, None, :], 64, axis=1)
    lr = apply_degradation(hr, DegradeParams(scale, 0.0, kernel="s2_mtf"))[0, 8, 8:-8]
    # samples at the LR centres see the sine at phase +-3pi/8; the linear interpolation
    # between the two nearest HR pixels (0.5 px apart from the centre) costs cos(pi/8)
    amplitude = (lr.max() - lr.min()) / 2 / math.cos(3 * math.pi / 8) / math.cos(math.pi / 8)
    assert amplitude / 0.25 == pytest.approx(S2_MTF_AT_NYQUIST, abs=0.01)


@pytest.mark.parametrize("kernel", KERNELS)
def test_crops_degrade_like_whole_images(kernel):
    rng = np.random.default_rng(0)
    config = DegradeConfig(kernels=KERNELS)
    scale = 5.3
    margin = margin_px(scale, max_reach(config))
    region = rng.random((3, 48 + 2 * margin, 48 + 2 * margin)).astype(np.float32)
    params = DegradeParams(scale, 0.4, kernel=kernel)
    lr, lr_hr = degrade_crop(region, margin, params)
    np.testing.assert_allclose(lr, apply_degradation(region, params), atol=2e-6)
    assert lr_hr.shape == (3, 48, 48)


def test_kernels_differ_and_are_drawn_per_sample():
    rng = np.random.default_rng(1)
    hr = rng.random((3, 64, 64)).astype(np.float32)
    outs = [degrade_to_lr(hr, 4.0, kernel=k) for k in KERNELS]
    assert all(o.shape == (3, 16, 16) for o in outs)
    assert min(np.abs(a - b).max() for i, a in enumerate(outs) for b in outs[i + 1:]) > 1e-3
    drawn = {draw_params(np.random.default_rng(i), 4.0, DegradeConfig(kernels=KERNELS)).kernel for i in range(40)}
    assert drawn == set(KERNELS)
    # one kernel: no extra random draw, so older runs' sample streams are unchanged
    a = draw_params(np.random.default_rng(5), 4.0, DegradeConfig())
    b = draw_params(np.random.default_rng(5), 4.0, DegradeConfig(kernels=("gauss_area",)))
    assert a == b
    with pytest.raises(ValueError, match="unknown degradation kernel"):
        DegradeParams(4.0, 0.4, kernel="box")


@pytest.mark.parametrize("kernel", KERNELS)
def test_sharpened_crops_degrade_like_the_whole_image(kernel):
    """With the LR unsharp mask on, a crop with the config's margin still equals the same pixels
    of the whole degraded image (the margin grows by the sharpening's reach)."""
    rng = np.random.default_rng(2)
    scale = 4.0
    config = DegradeConfig(kernels=KERNELS, sharpen_prob=1.0)
    params = DegradeParams(scale, 0.55, kernel=kernel, sharpen=0.8)
    hr = rng.random((3, 400, 400)).astype(np.float32)
    whole = lr_on_hr_grid(apply_degradation(hr, params), scale, hr.shape[1:])
    m, crop, top = margin_px(scale, max_reach(config)), 64, 40
    assert m > margin_px(scale, max_reach(DegradeConfig(kernels=KERNELS)))
    region = hr[:, top:top + crop + 2 * m, top:top + crop + 2 * m]
    _, lr_hr = degrade_crop(region, m, params)
    np.testing.assert_allclose(lr_hr, whole[:, top + m:top + m + crop, top + m:top + m + crop], atol=2e-5)
    # without the wider margin the crop would see the region's edge: refused
    small = margin_px(scale, max_reach(DegradeConfig(kernels=KERNELS)))
    with pytest.raises(ValueError, match="margin"):
        degrade_crop(hr[:, :crop + 2 * small, :crop + 2 * small], small, params)


def test_sharpening_boosts_fine_detail_keeps_the_mean_and_is_drawn_only_when_asked():
    rng = np.random.default_rng(4)
    hr = rng.random((3, 128, 128)).astype(np.float32)
    plain = apply_degradation(hr, DegradeParams(4.0, 0.4))
    sharp = apply_degradation(hr, DegradeParams(4.0, 0.4, sharpen=0.5))
    assert sharp.mean() == pytest.approx(plain.mean(), abs=1e-4)
    detail = lambda lr: np.abs(np.diff(lr, axis=2)).mean()  # noqa: E731
    assert detail(sharp) > 1.3 * detail(plain)
    np.testing.assert_array_equal(sharpen_lr(plain, 0.0), plain)
    # sharpen_prob 0 (the default) makes no extra draw: older runs' sample streams are unchanged
    cfg = DegradeConfig(kernels=KERNELS)
    a = draw_params(np.random.default_rng(9), 4.0, cfg)
    assert a.sharpen == 0.0
    assert a == draw_params(np.random.default_rng(9), 4.0, DegradeConfig(kernels=KERNELS, sharpen_prob=0.0))
    drawn = [draw_params(np.random.default_rng(i), 4.0, DegradeConfig(sharpen_prob=0.5)).sharpen for i in range(200)]
    on = [s for s in drawn if s > 0]
    assert 0.35 < len(on) / len(drawn) < 0.65
    assert min(on) >= 0.2 and max(on) <= 1.0
    # evaluation never sharpens
    assert degrade_to_lr(hr, 4.0, config=DegradeConfig(sharpen_prob=1.0)).tolist() == degrade_to_lr(hr, 4.0).tolist()
