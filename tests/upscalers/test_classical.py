import importlib.util

import numpy as np
import pytest
import torch

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import ModelError, OptionError
from dsdit_geo.resample import downsample_average, upsample_cubic
from dsdit_geo.upscalers import make_upscaler
from dsdit_geo.upscalers.base import TileBatch
from dsdit_geo.upscalers.classical import Bicubic, HighPassFusion, gaussian_blur, gaussian_kernel

SCALE = 4.0


def batch(lr_hr, ref_hr, ref_valid=None, origin=(0, 0)):
    b, _, h, w = lr_hr.shape
    ones = torch.ones(b, 1, h, w, dtype=torch.bool)
    return TileBatch(
        lr_hr=lr_hr,
        ref_hr=ref_hr,
        lr_valid=ones,
        ref_valid=ones if ref_valid is None else ref_valid,
        origin_px=torch.tensor([origin] * b, dtype=torch.int64),
        scale=SCALE,
    )


def scene(seed=0, size=96):
    """An HR image with structure at all scales and its bicubic-of-average LR, (1, 3, H, W)."""
    rng = np.random.default_rng(seed)
    hr = upsample_cubic(rng.random((3, size // 8, size // 8)).astype(np.float32), 8.0, (size, size))
    hr = hr + 0.15 * rng.random((3, size, size)).astype(np.float32)
    lr_hr = upsample_cubic(downsample_average(hr, SCALE), SCALE, (size, size))
    return torch.from_numpy(hr)[None], torch.from_numpy(lr_hr)[None]


def mse(a, b, margin=12):
    return float(((a - b)[..., margin:-margin, margin:-margin] ** 2).mean())


def test_bicubic_returns_the_lr():
    hr, lr_hr = scene()
    result = Bicubic().upscale(batch(lr_hr, hr))
    assert torch.equal(result.hr, lr_hr) and result.trust is None


def test_gaussian_blur_keeps_constants():
    flat = torch.full((2, 3, 20, 30), 0.7)
    torch.testing.assert_close(gaussian_blur(flat, gaussian_kernel(2.5)), flat)


def test_hpf_with_the_true_image_as_ref_recovers_detail():
    hr, lr_hr = scene()
    result = HighPassFusion(SCALE).upscale(batch(lr_hr, hr))
    assert result.trust.shape == (1, 1, 96, 96)
    assert 0 <= float(result.trust.min()) and float(result.trust.max()) <= 1
    assert float(result.trust.mean()) > 0.6
    assert mse(result.hr, hr) < 0.5 * mse(lr_hr, hr)


def test_hpf_ignores_an_unrelated_ref():
    hr, lr_hr = scene(0)
    other, _ = scene(1)
    result = HighPassFusion(SCALE).upscale(batch(lr_hr, other))
    assert float(result.trust.mean()) < 0.15
    assert mse(result.hr, hr) < 1.05 * mse(lr_hr, hr)


def test_hpf_adds_nothing_where_the_ref_is_invalid_or_flat():
    hr, lr_hr = scene()
    invalid = torch.zeros(1, 1, 96, 96, dtype=torch.bool)
    result = HighPassFusion(SCALE).upscale(batch(lr_hr, hr, invalid))
    assert torch.equal(result.hr, lr_hr) and float(result.trust.max()) == 0
    flat = torch.full_like(lr_hr, 0.4)
    torch.testing.assert_close(HighPassFusion(SCALE).upscale(batch(flat, flat)).hr, flat)


@pytest.mark.parametrize("top, left", [(40, 30), (41, 33), (47, 50)])
def test_hpf_is_tiling_independent_with_its_context(top, left):
    hr, lr_hr = scene(size=160)
    hpf = HighPassFusion(SCALE)
    full = hpf.upscale(batch(lr_hr, hr, origin=(-7, 3)))
    ctx, size = hpf.context_px, 24
    crop = (..., slice(top - ctx, top + size + ctx), slice(left - ctx, left + size + ctx))
    part = hpf.upscale(batch(lr_hr[crop], hr[crop], origin=(top - ctx - 7, left - ctx + 3)))
    core = (..., slice(ctx, ctx + size), slice(ctx, ctx + size))
    torch.testing.assert_close(
        part.hr[core], full.hr[..., top : top + size, left : left + size], atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        part.trust[core], full.trust[..., top : top + size, left : left + size], atol=1e-5, rtol=0
    )


def test_context_follows_the_scale():
    assert HighPassFusion(10.0).context_px > HighPassFusion(4.0).context_px > 0


def test_registry():
    assert isinstance(make_upscaler(UpscaleOptions(method="bicubic")), Bicubic)
    hpf = make_upscaler(UpscaleOptions(method="HPF"), scale=8.0)
    assert isinstance(hpf, HighPassFusion) and hpf.scale == 8.0
    assert set(hpf.describe()) >= {"hpf_lowpass_sigma_lr_px", "hpf_window_sigma_lr_px"}
    with pytest.raises(OptionError, match="unknown method"):
        make_upscaler(UpscaleOptions(method="lanczos"))


@pytest.mark.skipif(
    importlib.util.find_spec("dsdit_geo.upscalers.dsdit") is not None, reason="the DS-DiT upscaler exists"
)
def test_dsdit_without_its_module_is_a_clear_error():
    with pytest.raises(ModelError, match="not available"):
        make_upscaler(UpscaleOptions(method="dsdit"))
