"""Perceptual losses on the x0 estimate: LPIPS-VGG or DISTS between the decoded HR and the true HR.

Scoring uses the AlexNet LPIPS (`dsdit_geo.metrics.lpips`); training on VGG16 features keeps the
score from being the loss itself. DISTS compares feature means and correlations over the whole
crop, so it tolerates texture that is right in kind but not pixel-aligned (the kind a Ref of
another date carries). Invalid pixels (outside the valid mask) are set to the truth in the
estimate, so they add nothing.

Tensors (B, 3, H, W) float32 model range (0..1 nominal); valid (B, 1, H, W), > 0.5 = valid.
"""

from __future__ import annotations

import torch
from torch import nn

from dsdit_geo.flow.parameterization import to_network


def _truth_outside_valid(hr_hat: torch.Tensor, hr: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """`hr_hat` with `hr` where `valid` <= 0.5, so invalid pixels add nothing to a loss."""
    return torch.where(valid > 0.5, hr_hat, hr)


def masked_perceptual_loss(lpips_net: nn.Module, hr_hat: torch.Tensor, hr: torch.Tensor,
                           valid: torch.Tensor) -> torch.Tensor:
    """Batch mean of ``lpips_net(hr_hat, hr)`` (network space), with `hr_hat` replaced by `hr`
    outside `valid`. Gradients flow to `hr_hat` only; scalar tensor."""
    hr_hat = _truth_outside_valid(hr_hat, hr, valid)
    return lpips_net(to_network(hr_hat), to_network(hr.detach())).mean()


def masked_dists_loss(dists_net: nn.Module, hr_hat: torch.Tensor, hr: torch.Tensor,
                      valid: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Batch mean of ``dists_net(hr_hat, hr)`` on model-range images (DISTS takes 0..1), with
    `hr_hat` replaced by `hr` outside `valid`, each sample's distance times `sample_weight` (B,)
    when given. Gradients flow to `hr_hat` only; scalar tensor."""
    per_sample = dists_net(_truth_outside_valid(hr_hat, hr, valid), hr.detach())
    if sample_weight is not None:
        per_sample = per_sample * sample_weight.to(per_sample)
    return per_sample.mean()
