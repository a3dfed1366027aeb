"""Rectified-flow path (SD3 convention: sigma = 1 is pure noise) and the training loss.

x_t = (1 - sigma) x0 + sigma eps, target velocity v = eps - x0; training sigmas come from
t ~ logit-normal(0, 1) shifted by ``sigma = shift t / (1 + (shift - 1) t)`` (shift 3).
"""

from __future__ import annotations

import torch


def shift_sigma(t: torch.Tensor, shift: float = 3.0) -> torch.Tensor:
    """The SD3 time shift ``shift t / (1 + (shift - 1) t)``; maps 0 -> 0 and 1 -> 1."""
    if shift <= 0:
        raise ValueError(f"shift must be positive, got {shift}")
    return shift * t / (1 + (shift - 1) * t)


def sample_sigma(
    batch: int,
    generator: torch.Generator | None = None,
    shift: float = 3.0,
    *,
    mean: float = 0.0,
    std: float = 1.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(batch,) float32 training sigmas: t = sigmoid(N(mean, std)), then shifted.

    The draw uses ``generator`` (CPU) so it is reproducible; the result is moved to ``device``.
    """
    u = torch.randn(batch, generator=generator, dtype=torch.float32) * std + mean
    return shift_sigma(torch.sigmoid(u), shift).to(device or "cpu")


def _bcast(sigma: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """sigma as a tensor broadcastable to ``like`` (B, ...)."""
    s = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    return s.reshape(-1, *([1] * (like.dim() - 1))) if s.dim() else s


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """x_t = (1 - sigma) x0 + sigma noise; x0, noise (B, C, H, W), sigma (B,) or scalar."""
    s = _bcast(sigma, x0)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The rectified-flow target v = noise - x0 (d x_t / d sigma)."""
    return noise - x0


def predict_x0(x_t: torch.Tensor, velocity: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """x0 implied by a velocity at x_t: x0 = x_t - sigma v."""
    return x_t - _bcast(sigma, x_t) * velocity


def flow_matching_loss(
    velocity: torch.Tensor,
    x0: torch.Tensor,
    noise: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared error between the predicted velocity and noise - x0.

    velocity, x0, noise (B, C, H, W); mask (B, 1, H, W) bool/float (1 = counts), optional: the
    mean is then over the masked pixels (all channels). Returns a scalar float32 tensor.
    """
    err = (velocity.float() - velocity_target(x0, noise).float()).square()
    if mask is None:
        return err.mean()
    m = mask.to(err.dtype).expand_as(err)
    return (err * m).sum() / m.sum().clamp_min(1.0)
