"""Token-level LR-vs-Ref agreement: a classical change cue for the PLW gate (``gate_agreement``).

Per token (p x p HR pixels), how well the Ref, low-passed to the LR's resolution, agrees with
the upsampled LR: the structure x brightness agreement of `train.trust` (the trust target),
with the upsampled LR in place of the truth, so it is known at inference:

    lr, ref low-passed (Gaussian, sigma 0.5 LR px) -> local means of [ref, lr, ref², lr², ref lr]
    averaged over each token and blurred over a Gaussian window of 2 LR px on the token grid ->
    ``agreement_from_means`` (floor 1e-3 per band, brightness tolerance 0.1 model range).

No parameters and no gradient: the gate learns what to make of it. Tensors (B, C, H, W) in
network space (about [-1, 1]); scale (B,) LR / HR pixel size; returns (B, N, 1) in [0, 1],
N = (H/p)(W/p) in the patchify order (row-major).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dsdit_geo.upscalers.classical import agreement_from_means, gaussian_blur, gaussian_kernel

# shared with the trust target (`train.trust` imports them)
LOWPASS_SIGMA_LR_PX = 0.5
WINDOW_SIGMA_LR_PX = 2.0
STRUCTURE_FLOOR = 1e-3  # per band, model range squared
BRIGHTNESS_TOLERANCE = 0.1
MIN_SIGMA_PX = 0.3  # a narrower blur is a no-op (kernel ~ delta)


def token_agreement(lr: torch.Tensor, ref: torch.Tensor, scale: torch.Tensor, patch_px: int) -> torch.Tensor:
    """(B, N, 1) float32 agreement of `ref` with `lr` per p-px token (see module doc)."""
    b = lr.shape[0]
    out = torch.empty(b, 1, lr.shape[2] // patch_px, lr.shape[3] // patch_px, device=lr.device)
    scales = scale.detach().float().cpu().reshape(-1).expand(b).tolist()
    with torch.no_grad():
        for s in sorted(set(scales)):
            rows = torch.tensor([i for i in range(b) if scales[i] == s], device=lr.device)
            images = torch.cat([ref[rows], lr[rows]], dim=1).float()
            if LOWPASS_SIGMA_LR_PX * s >= MIN_SIGMA_PX:
                images = gaussian_blur(images, gaussian_kernel(LOWPASS_SIGMA_LR_PX * s).to(lr.device))
            r, l = images.chunk(2, dim=1)
            means = F.avg_pool2d(torch.cat([r, l, r * r, l * l, r * l], dim=1), patch_px)
            window_tokens = WINDOW_SIGMA_LR_PX * s / patch_px
            if window_tokens >= MIN_SIGMA_PX:
                means = gaussian_blur(means, gaussian_kernel(window_tokens).to(lr.device))
            out[rows] = agreement_from_means(means, STRUCTURE_FLOOR, BRIGHTNESS_TOLERANCE)
    return out.flatten(2).transpose(1, 2)


__all__ = ["token_agreement"]
