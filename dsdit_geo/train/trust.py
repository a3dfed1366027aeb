"""The trust target: how far the Ref can be trusted at each pixel, known only in training.

target = structure x brightness agreement of the Ref with the ground truth, both low-passed to
the LR's resolution (Gaussian, sigma 0.5 LR px), over a Gaussian window of 2 LR px:

    structure  = clamp((2 cov + c) / (var_ref + var_gt + c), 0, 1)    (pooled over bands)
    brightness = exp(-mean_band (mu_ref - mu_gt)^2 / tol^2),  tol = 0.1 (model range)

It is 1 where the Ref is the truth, near 0 for an unrelated Ref or changed land, and in
between for a real Ref of another date (measured on the dev split at x4: GT 1.0, unrelated
0.09, LEVIR-CD unchanged 0.26 vs changed 0.08). A model can only estimate it from what it
sees (LR vs Ref); training its mean patch-level weight alpha_ref towards it makes the trust
map mean "the Ref shows this place as it is now".

With a change mask (training samples carry one: change labels, pasted changes, the whole
crop for an unrelated Ref) the target can be set to 0 where the Ref is known not to show the
truth, and those patches weighted more (`change_aware_patch_target`): the agreement alone
still asks for some trust on changed land (on the train split's labelled pairs at x4: 0.12 on
changed vs 0.24 on unchanged pixels; `benchmarks/trust_target_study.py`).

Tensors (B, C, H, W) float32 model range; scale a float or (B,) tensor (LR / HR pixel size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# one set of constants for the target and for the agreement a `gate_agreement` model sees
from dsdit_geo.model.agreement import (
    BRIGHTNESS_TOLERANCE,
    LOWPASS_SIGMA_LR_PX,
    STRUCTURE_FLOOR,
    WINDOW_SIGMA_LR_PX,
)
from dsdit_geo.upscalers.classical import agreement_from_means, gaussian_blur, gaussian_kernel


def _agreement(a: torch.Tensor, b: torch.Tensor, window_px: float, brightness_tolerance: float) -> torch.Tensor:
    kernel = gaussian_kernel(window_px).to(a.device)
    means = gaussian_blur(torch.cat([a, b, a * a, b * b, a * b], dim=1), kernel)
    return agreement_from_means(means, STRUCTURE_FLOOR, brightness_tolerance)


def trust_target(hr: torch.Tensor, ref: torch.Tensor, scale: torch.Tensor | float, *,
                 lowpass_sigma_lr_px: float = LOWPASS_SIGMA_LR_PX,
                 window_sigma_lr_px: float = WINDOW_SIGMA_LR_PX,
                 brightness_tolerance: float = BRIGHTNESS_TOLERANCE) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: the agreement of `ref` with the truth `hr` (see module doc; the
    keywords are its constants, varied only by `benchmarks/trust_target_study.py`)."""
    b = hr.shape[0]
    scales = torch.as_tensor(scale, dtype=torch.float64).reshape(-1).expand(b).tolist()
    out = []
    for i in range(b):
        s = float(scales[i])
        lowpass = gaussian_kernel(lowpass_sigma_lr_px * s).to(hr.device)
        h, r = gaussian_blur(hr[i : i + 1].float(), lowpass), gaussian_blur(ref[i : i + 1].float(), lowpass)
        out.append(_agreement(r, h, window_sigma_lr_px * s, brightness_tolerance))
    return torch.cat(out)


def patch_target(target: torch.Tensor, patch_px: int) -> torch.Tensor:
    """(B, 1, H, W) pixel target -> (B, 1, H/p, W/p) patch means (the trust map's grid)."""
    return F.avg_pool2d(target, patch_px)


def change_aware_patch_target(target: torch.Tensor, change: torch.Tensor, patch_px: int,
                              change_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel target and change mask (B, 1, H, W), 1 = changed -> (patch target, patch weight),
    each (B, 1, H/p, W/p): the target is 0 on changed pixels before the patch mean; a patch
    weighs 1 + change_weight x its changed fraction."""
    changed = change.float().clamp(0, 1)
    return patch_target(target * (1 - changed), patch_px), 1 + change_weight * patch_target(changed, patch_px)


def trust_loss(trust: torch.Tensor, hr: torch.Tensor, ref: torch.Tensor, scale: torch.Tensor | float,
               patch_px: int, *, power: float = 1.0, change: torch.Tensor | None = None,
               change_weight: float = 0.0) -> torch.Tensor:
    """Mean squared error of the trust map `trust` (B, 1, H/p, W/p) against the target: the
    agreement raised to `power`, per patch; with a `change` mask (B, 1, H, W) and
    change_weight > 0 the change-aware target and patch weights (`change_aware_patch_target`)."""
    target_px = trust_target(hr, ref, scale)
    if power != 1.0:
        target_px = target_px.pow(power)
    if change is None or change_weight <= 0:
        return (trust - patch_target(target_px, patch_px)).square().mean()
    target, patch_weight = change_aware_patch_target(target_px, change, patch_px, change_weight)
    return (patch_weight * (trust - target).square()).mean()


def change_ranking_loss(trust: torch.Tensor, change: torch.Tensor, patch_px: int, margin: float) -> torch.Tensor:
    """Hinge on the gap between a sample's unchanged and changed patches.

    trust (B, 1, h, w) alpha_ref per patch; change (B, 1, H, W) 1 = changed pixel. Patches wholly
    unchanged vs patches at least half changed: per sample that has both, relu(margin - (mean
    trust unchanged - mean trust changed)); the mean over those samples (0 when none has both:
    an unrelated Ref is changed everywhere and is left to the target loss). It asks for the
    ranking the trust map must show on changed land without pulling its level down.
    """
    changed_frac = patch_target(change.float().clamp(0, 1), patch_px)
    unchanged, changed = (changed_frac == 0).float(), (changed_frac >= 0.5).float()
    n_unchanged, n_changed = unchanged.sum((1, 2, 3)), changed.sum((1, 2, 3))
    both = (n_unchanged > 0) & (n_changed > 0)
    if not bool(both.any()):
        return trust.sum() * 0.0
    mean_unchanged = (trust * unchanged).sum((1, 2, 3)) / n_unchanged.clamp_min(1)
    mean_changed = (trust * changed).sum((1, 2, 3)) / n_changed.clamp_min(1)
    hinge = torch.relu(margin - (mean_unchanged - mean_changed))
    return hinge[both].mean()


__all__ = ["change_aware_patch_target", "change_ranking_loss", "patch_target", "trust_loss", "trust_target"]
