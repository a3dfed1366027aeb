"""Euler ODE sampler with DS-DiT autoguidance, as one pure function (in the style of
NVlabs/edm2 ``generate_images.edm_sampler``).

velocity_fn(x (B', C, H, W), sigma (B',), ref_scale (B',)) returns the velocity (B', C, H, W),
or (velocity, trust | None), or a ``DSDiTOutput``. With guidance w != 1 the sampler calls it
ONCE per step on a doubled batch [x; x] with ref_scale [1 ... 1, lambda_weak ...] and uses
``v = v_weak + w (v_strong - v_weak)``; with w == 1 it calls it once per step on x with
ref_scale 1 (no weak pass). A separate ``weak_velocity_fn`` (a smaller, less-trained guide model:
Karras et al. 2024, "Guiding a diffusion model with a bad version of itself") makes the weak
pass instead: then each guided step is one call of each function on x (strong with ref_scale 1,
weak with lambda_weak). ``make_velocity_fn`` adapts a DSDiTTransformer and its conditions.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from dsdit_geo.flow.path import shift_sigma

VelocityFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]


@dataclass
class SampleResult:
    """sample (B, C, H, W): the generated x0 (network space, noise's dtype); trust
    (B, 1, h, w) or None: the strong pass's trust map averaged over steps; nfe: calls made."""

    sample: torch.Tensor
    trust: torch.Tensor | None
    nfe: int


def flow_sigmas(steps: int, shift: float = 3.0, device: torch.device | str | None = None) -> torch.Tensor:
    """(steps + 1,) float64 sigmas: uniform t from 1 to 0, SD3-shifted; exactly 1 first, 0 last."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    s = shift_sigma(t, shift)
    s[0], s[-1] = 1.0, 0.0
    return s.to(device or "cpu")


def _unpack(out: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """velocity, trust from a velocity_fn result (tensor, tuple or DSDiTOutput)."""
    if isinstance(out, torch.Tensor):
        return out, None
    if hasattr(out, "velocity"):
        return out.velocity, getattr(out, "trust", None)
    v, trust = out
    return v, trust


@torch.no_grad()
def sample_euler(
    velocity_fn: VelocityFn,
    noise: torch.Tensor,
    steps: int = 40,
    *,
    guidance: float = 1.0,
    ref_scale_weak: float = 0.0,
    shift: float = 3.0,
    sigmas: torch.Tensor | None = None,
    callback: Callable[[int, int], None] | None = None,
    weak_velocity_fn: VelocityFn | None = None,
) -> SampleResult:
    """Integrate dx/dsigma = v from sigma = 1 (x = noise) to sigma = 0 with Euler steps
    ``x <- x + (sigma_next - sigma) v``.

    noise (B, C, H, W) from the caller (e.g. position-keyed); its floating dtype is kept for
    the state x (float32 usually). guidance w: autoguidance weight (1 = off, one call per
    step); ref_scale_weak: lambda of the weak pass. sigmas: optional explicit decreasing
    schedule from 1 to 0 (overrides steps/shift). callback(step, steps) after each step.
    weak_velocity_fn: the weak pass's own function (a guide model); None: velocity_fn at
    lambda_weak, batched with the strong pass. Unused when guidance is 1.
    """
    if sigmas is None:
        sig = flow_sigmas(steps, shift)
    else:
        sig = torch.as_tensor(sigmas, dtype=torch.float64).cpu()
        if sig.dim() != 1 or sig.numel() < 2 or sig[0] != 1 or sig[-1] != 0 or bool((sig.diff() >= 0).any()):
            raise ValueError("sigmas must decrease strictly from 1 to 0")
    n = sig.numel() - 1
    x = noise.clone() if noise.is_floating_point() else noise.float()
    b, dev = x.shape[0], x.device
    guided = float(guidance) != 1.0
    batched = guided and weak_velocity_fn is None  # strong and weak in one call of 2B
    lam = torch.ones(b, device=dev)
    lam_weak = torch.full((b,), float(ref_scale_weak), device=dev)
    if batched:
        lam = torch.cat([lam, lam_weak])
    trust_sum: torch.Tensor | None = None
    for i in range(n):
        s, s_next = float(sig[i]), float(sig[i + 1])
        xin = torch.cat([x, x]) if batched else x
        sigma = torch.full((xin.shape[0],), s, device=dev, dtype=x.dtype)
        v, trust = _unpack(velocity_fn(xin, sigma, lam))
        v = v.to(x.dtype)
        if batched:
            v, v_weak = v[:b], v[b:]
            trust = None if trust is None else trust[:b]
        elif guided:
            v_weak = _unpack(weak_velocity_fn(x, sigma, lam_weak))[0].to(x.dtype)
        if guided:
            v = v_weak + float(guidance) * (v - v_weak)
        x = x + (s_next - s) * v
        if trust is not None:
            trust_sum = trust.float() if trust_sum is None else trust_sum + trust.float()
        if callback is not None:
            callback(i + 1, n)
    return SampleResult(sample=x, trust=None if trust_sum is None else trust_sum / n, nfe=n)


def make_velocity_fn(
    model: torch.nn.Module,
    lr: torch.Tensor,
    ref: torch.Tensor,
    *,
    scale: torch.Tensor | float | None = None,
    return_trust: bool = False,
    autocast_dtype: torch.dtype | None = None,
) -> VelocityFn:
    """A velocity_fn for ``sample_euler`` from a DSDiTTransformer and its conditions.

    lr, ref (B, C, H, W) network space on the model's device; scale float or (B,). When the
    sampler doubles the batch (autoguidance) the conditions are repeated to match.
    autocast_dtype: e.g. torch.bfloat16 on CUDA (never on CPU: bf16 is very slow there).
    """

    def fn(x: torch.Tensor, sigma: torch.Tensor, ref_scale: torch.Tensor) -> Any:
        reps = x.shape[0] // lr.shape[0]
        if reps * lr.shape[0] != x.shape[0]:
            raise ValueError(f"batch {x.shape[0]} is not a multiple of the conditions' {lr.shape[0]}")
        l, r, sc = lr, ref, scale
        if reps > 1:
            l, r = lr.repeat(reps, 1, 1, 1), ref.repeat(reps, 1, 1, 1)
            if isinstance(scale, torch.Tensor) and scale.numel() > 1:
                sc = scale.repeat(reps)
        ctx = nullcontext() if autocast_dtype is None else torch.autocast(x.device.type, dtype=autocast_dtype)
        with ctx:
            out = model(x, l, r, sigma, scale=sc, ref_scale=ref_scale, return_trust=return_trust)
        return out.velocity, out.trust

    return fn
