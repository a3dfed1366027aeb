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

Tensors (B, C, H, W) float32 model range; scale a float or (B,) tensor (LR / HR pixel size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dsdit_geo.upscalers.classical import agreement_from_means, gaussian_blur, gaussian_kernel

LOWPASS_SIGMA_LR_PX = 0.5
WINDOW_SIGMA_LR_PX = 2.0
BRIGHTNESS_TOLERANCE = 0.1
STRUCTURE_FLOOR = 1e-3  # per band, model range squared


def _agreement(a: torch.Tensor, b: torch.Tensor, window_px: float) -> torch.Tensor:
    kernel = gaussian_kernel(window_px).to(a.device)
    means = gaussian_blur(torch.cat([a, b, a * a, b * b, a * b], dim=1), kernel)
    return agreement_from_means(means, STRUCTURE_FLOOR, BRIGHTNESS_TOLERANCE)


def trust_target(hr: torch.Tensor, ref: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: the agreement of `ref` with the truth `hr` (see module doc)."""
    b = hr.shape[0]
    scales = torch.as_tensor(scale, dtype=torch.float64).reshape(-1).expand(b).tolist()
    out = []
    for i in range(b):
        s = float(scales[i])
        lowpass = gaussian_kernel(LOWPASS_SIGMA_LR_PX * s).to(hr.device)
        h, r = gaussian_blur(hr[i : i + 1].float(), lowpass), gaussian_blur(ref[i : i + 1].float(), lowpass)
        out.append(_agreement(r, h, WINDOW_SIGMA_LR_PX * s))
    return torch.cat(out)


def patch_target(target: torch.Tensor, patch_px: int) -> torch.Tensor:
    """(B, 1, H, W) pixel target -> (B, 1, H/p, W/p) patch means (the trust map's grid)."""
    return F.avg_pool2d(target, patch_px)


__all__ = ["patch_target", "trust_target"]
