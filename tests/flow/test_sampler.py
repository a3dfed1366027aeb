"""Euler sampler with autoguidance: schedule, exactness on analytic fields, batching, trust."""

from __future__ import annotations

import pytest
import torch

from dsdit_geo.flow import flow_sigmas, make_velocity_fn, sample_euler
from dsdit_geo.model import build_model


def _straight_line(target: torch.Tensor):
    """The exact rectified-flow field towards a known x0: v(x, sigma) = (x - x0) / sigma."""

    def fn(x, sigma, ref_scale):
        t = target.repeat(x.shape[0] // target.shape[0], 1, 1, 1)
        return (x - t) / sigma.view(-1, 1, 1, 1).to(x.dtype)

    return fn


def test_flow_sigmas_start_at_one_and_end_at_zero():
    for steps, shift in [(1, 3.0), (7, 3.0), (40, 1.0), (40, 3.0)]:
        s = flow_sigmas(steps, shift)
        assert s.shape == (steps + 1,) and s[0] == 1 and s[-1] == 0
        assert bool((s.diff() < 0).all())
    torch.testing.assert_close(flow_sigmas(4, 1.0), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0], dtype=torch.float64))
    assert flow_sigmas(2, 3.0)[1] == 0.75  # shift 3 at t = 0.5
    with pytest.raises(ValueError):
        flow_sigmas(0)


@pytest.mark.parametrize("steps", [1, 2, 7, 40])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_euler_is_exact_on_the_straight_line_field(steps, shift):
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64), torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    out = sample_euler(_straight_line(x0), noise, steps, shift=shift)
    assert out.nfe == steps and out.sample.dtype == torch.float64
    torch.testing.assert_close(out.sample, x0, atol=1e-12, rtol=0)
    out32 = sample_euler(_straight_line(x0.float()), noise.float(), steps, shift=shift)
    torch.testing.assert_close(out32.sample, x0.float(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("w,weak", [(1.2, 0.0), (1.5, 0.3), (0.0, 0.0)])
def test_autoguidance_is_exact_on_analytic_fields(w, weak):
    """v_strong leads to a, v_weak to b: the guided ODE lands on b + w (a - b), one call a step."""
    g = torch.Generator().manual_seed(1)
    a, b, noise = (torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64) for _ in range(3))
    calls = []

    def fn(x, sigma, lam):
        calls.append((x.shape[0], lam.clone()))
        target = torch.where(lam.view(-1, 1, 1, 1) == 1, a.repeat(2, 1, 1, 1), b.repeat(2, 1, 1, 1))
        return (x - target) / sigma.view(-1, 1, 1, 1)

    out = sample_euler(fn, noise, 5, guidance=w, ref_scale_weak=weak)
    torch.testing.assert_close(out.sample, b + w * (a - b), atol=1e-12, rtol=0)
    assert len(calls) == 5 and all(n == 4 for n, _ in calls)
    assert all(torch.equal(lam, torch.tensor([1.0, 1.0, weak, weak])) for _, lam in calls)


def test_guidance_one_skips_the_weak_pass():
    g = torch.Generator().manual_seed(2)
    a, noise = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 1, 4, 4, generator=g)
    calls = []

    def fn(x, sigma, lam):
        calls.append((x.shape[0], lam.clone()))
        return _straight_line(a)(x, sigma, lam)

    out = sample_euler(fn, noise, 6, guidance=1.0, ref_scale_weak=0.0)
    assert len(calls) == 6 and all(n == 3 and torch.equal(lam, torch.ones(3)) for n, lam in calls)
    strong = sample_euler(_straight_line(a), noise, 6)
    assert torch.equal(out.sample, strong.sample)


def test_trust_is_the_strong_pass_mean_over_steps():
    noise = torch.zeros(2, 1, 4, 4)

    def fn(x, sigma, lam):
        trust = (sigma * lam).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)  # weak pass would give 0
        return torch.zeros_like(x), trust

    sig = flow_sigmas(4, 3.0)
    for w in (1.0, 1.3):
        out = sample_euler(fn, noise, 4, guidance=w, shift=3.0)
        assert out.trust.shape == (2, 1, 2, 2)
        torch.testing.assert_close(out.trust, torch.full((2, 1, 2, 2), sig[:-1].mean().item()))
    assert sample_euler(lambda x, s, l: torch.zeros_like(x), noise, 2).trust is None


def test_explicit_sigmas_are_validated():
    noise = torch.zeros(1, 1, 2, 2)
    zero = lambda x, s, l: torch.zeros_like(x)
    assert sample_euler(zero, noise, sigmas=torch.tensor([1.0, 0.3, 0.0])).nfe == 2
    for bad in ([0.9, 0.0], [1.0, 0.5], [1.0, 0.5, 0.6, 0.0]):
        with pytest.raises(ValueError):
            sample_euler(zero, noise, sigmas=torch.tensor(bad))


def test_model_guidance_equals_separate_strong_and_weak_passes(randomize):
    """With the real model: the batched strong+weak call equals two separate calls."""
    model = randomize(build_model("tiny", seed=0)).eval()
    g = torch.Generator().manual_seed(3)
    lr, ref, noise = (torch.randn(2, 3, 16, 16, generator=g) for _ in range(3))
    fn = make_velocity_fn(model, lr, ref, scale=torch.tensor([4.0, 8.0]), return_trust=True)
    w, weak, steps = 1.3, 0.2, 3
    out = sample_euler(fn, noise, steps, guidance=w, ref_scale_weak=weak)

    x, trust = noise.clone(), 0
    sig = flow_sigmas(steps, 3.0)
    with torch.no_grad():
        for i in range(steps):
            s = torch.full((2,), float(sig[i]))
            strong = model(x, lr, ref, s, scale=torch.tensor([4.0, 8.0]), ref_scale=1.0, return_trust=True)
            weak_v = model(x, lr, ref, s, scale=torch.tensor([4.0, 8.0]), ref_scale=weak).velocity
            x = x + float(sig[i + 1] - sig[i]) * (weak_v + w * (strong.velocity - weak_v))
            trust = trust + strong.trust / steps
    torch.testing.assert_close(out.sample, x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.trust, trust, atol=1e-6, rtol=1e-6)

    plain = sample_euler(fn, noise, steps, guidance=1.0)
    x = noise.clone()
    with torch.no_grad():
        for i in range(steps):
            v = model(x, lr, ref, torch.full((2,), float(sig[i])), scale=torch.tensor([4.0, 8.0])).velocity
            x = x + float(sig[i + 1] - sig[i]) * v
    assert torch.equal(plain.sample, x)


@pytest.mark.parametrize("w,weak", [(1.2, 1.0), (1.5, 0.0)])
def test_a_guide_function_makes_the_weak_pass(w, weak):
    """weak_velocity_fn (a guide model) leads to b, the model to a: the guided ODE lands on
    b + w (a - b); each step calls each function once on B samples, the guide at lambda_weak."""
    g = torch.Generator().manual_seed(4)
    a, b, noise = (torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64) for _ in range(3))
    strong_calls, weak_calls = [], []

    def strong(x, sigma, lam):
        strong_calls.append((x.shape[0], lam.clone()))
        return _straight_line(a)(x, sigma, lam), torch.ones(x.shape[0], 1, 2, 2)

    def guide(x, sigma, lam):
        weak_calls.append((x.shape[0], lam.clone()))
        return _straight_line(b)(x, sigma, lam)

    out = sample_euler(strong, noise, 4, guidance=w, ref_scale_weak=weak, weak_velocity_fn=guide)
    torch.testing.assert_close(out.sample, b + w * (a - b), atol=1e-12, rtol=0)
    assert all(n == 2 and torch.equal(lam, torch.ones(2)) for n, lam in strong_calls)
    assert len(strong_calls) == 4 and len(weak_calls) == 4
    assert all(n == 2 and torch.equal(lam, torch.full((2,), weak)) for n, lam in weak_calls)
    assert out.trust.shape == (2, 1, 2, 2)

    weak_calls.clear()
    plain = sample_euler(strong, noise, 4, guidance=1.0, weak_velocity_fn=guide)
    assert weak_calls == []  # w = 1: the guide never runs
    torch.testing.assert_close(plain.sample, a, atol=1e-12, rtol=0)
