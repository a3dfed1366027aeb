"""Rectified-flow path, training sigmas, loss and target parameterisation."""

from __future__ import annotations

import pytest
import torch

from dsdit_geo.flow import (
    Parameterization,
    add_noise,
    decode_target,
    encode_target,
    flow_matching_loss,
    predict_x0,
    sample_sigma,
    shift_sigma,
    velocity_target,
)


def test_sample_sigma_is_shifted_logit_normal_and_seeded():
    a = sample_sigma(20000, torch.Generator().manual_seed(0), shift=3.0)
    b = sample_sigma(20000, torch.Generator().manual_seed(0), shift=3.0)
    assert torch.equal(a, b) and a.shape == (20000,) and a.dtype == torch.float32
    assert bool(((a > 0) & (a < 1)).all())
    # median t = 0.5 -> sigma = 3 * 0.5 / (1 + 2 * 0.5) = 0.75
    assert abs(a.median().item() - 0.75) < 0.01
    t = torch.sigmoid(torch.randn(20000, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(a, 3 * t / (1 + 2 * t))
    assert abs(sample_sigma(20000, torch.Generator().manual_seed(1), shift=1.0).median().item() - 0.5) < 0.01


def test_shift_endpoints():
    t = torch.tensor([0.0, 1.0])
    assert torch.equal(shift_sigma(t, 3.0), t)
    with pytest.raises(ValueError):
        shift_sigma(t, 0.0)


def test_add_noise_and_velocity():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 2, 4, 4, generator=g)
    sigma = torch.tensor([0.0, 0.4, 1.0])
    xt = add_noise(x0, eps, sigma)
    assert torch.equal(xt[0], x0[0]) and torch.equal(xt[2], eps[2])
    torch.testing.assert_close(xt[1], 0.6 * x0[1] + 0.4 * eps[1])
    # v is d x_t / d sigma, and x0 = x_t - sigma v
    h = 1e-3
    fd = (add_noise(x0, eps, sigma + h) - add_noise(x0, eps, sigma - h)) / (2 * h)
    torch.testing.assert_close(fd, velocity_target(x0, eps), atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(predict_x0(xt, velocity_target(x0, eps), sigma), x0, atol=1e-6, rtol=0)


def test_flow_matching_loss():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    v = eps - x0
    assert flow_matching_loss(v, x0, eps).item() == 0
    assert torch.isclose(flow_matching_loss(v + 2, x0, eps), torch.tensor(4.0))
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[:, :, :2] = True
    bad = v.clone()
    bad[:, :, 2:] += 10  # errors only where the mask is off
    assert flow_matching_loss(bad, x0, eps, mask).item() == 0
    assert flow_matching_loss(bad, x0, eps).item() > 0


@pytest.mark.parametrize("prediction,scale", [("image", 1.0), ("residual", 1.0), ("residual", 4.0)])
def test_parameterization_round_trip(prediction, scale):
    g = torch.Generator().manual_seed(0)
    hr, lr_hr = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    x0 = encode_target(hr, lr_hr, prediction, scale)
    expected = 2 * hr - 1 if prediction == "image" else scale * 2 * (hr - lr_hr)
    torch.testing.assert_close(x0, expected)
    torch.testing.assert_close(decode_target(x0, lr_hr, prediction, scale), hr)
    p = Parameterization.from_config({"prediction": prediction, "residual_scale": scale})
    torch.testing.assert_close(p.decode(p.encode(hr, lr_hr), lr_hr), hr)


def test_parameterization_errors():
    hr = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="prediction"):
        encode_target(hr, hr, "noise")
    with pytest.raises(ValueError, match="lr_hr"):
        encode_target(hr, None, "residual")
    with pytest.raises(ValueError, match="residual_scale"):
        Parameterization("residual", 0.0)
