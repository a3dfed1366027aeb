"""Trust-gated Ref detail: a deterministic step after sampling.

Where the model's trust map says the Ref shows the truth, a share ``gain`` of the output's
finest detail is replaced by the Ref's::

    hr' = hr + gain * trust * (HP(ref) - HP(hr)),   HP(x) = x - G_sigma(x)

with G_sigma a Gaussian blur of sigma = ``sigma_lr_px`` x the scale factor (HR px). A flat Ref
has no detail to give; an unrelated or changed Ref gets a low trust and so little of it; with a
trust of 0 (no Ref data, the tile's halo) the output is unchanged. The gain is a schedule over
the scale factor (``gain_at_scale``): the larger the factor, the less detail the LR holds and
the more of it has to come from the Ref. A second schedule, for a blurry LR, can be blended in
by the LR's measured sharpness (`gain_for_lr`, `dsdit_geo.lr_sharpness`): a sensor that blurs
away the LR's finest octave leaves more of it to the Ref.

Tensors (B, C, H, W) float32 in the model range; trust (B, 1, H, W) in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dsdit_geo.upscalers.classical import gaussian_blur, gaussian_kernel

Schedule = Sequence[tuple[float, float]]
"""(scale factor, gain) pairs sorted by scale factor; gains between them are linear in the
scale factor, the end values hold beyond the ends."""


def gain_at_scale(schedule: Schedule, scale: float) -> float:
    """The gain ``schedule`` gives at ``scale`` (0 for an empty schedule)."""
    if not schedule:
        return 0.0
    points = sorted(schedule)
    if scale <= points[0][0]:
        return float(points[0][1])
    for (s0, g0), (s1, g1) in zip(points, points[1:]):
        if scale <= s1:
            return float(g0 + (g1 - g0) * (scale - s0) / (s1 - s0))
    return float(points[-1][1])


def gain_for_lr(schedule: Schedule, blurry_schedule: Schedule, scale: float, blurry_weight: float) -> float:
    """(1 - w) * gain_at_scale(schedule) + w * gain_at_scale(blurry_schedule), w =
    `blurry_weight` in [0, 1] (`dsdit_geo.lr_sharpness.blurry_weight`); the plain schedule's
    gain when w is 0 or there is no blurry schedule."""
    gain = gain_at_scale(schedule, scale)
    if not blurry_schedule or blurry_weight <= 0.0:
        return gain
    w = min(1.0, float(blurry_weight))
    return (1.0 - w) * gain + w * gain_at_scale(blurry_schedule, scale)


def ref_detail_context_px(sigma_lr_px: float, scale: float) -> int:
    """HR pixels of halo the high-pass needs around a tile (the blur kernel's radius)."""
    return max(1, math.ceil(3.0 * sigma_lr_px * scale))


def inject_ref_detail(
    hr: torch.Tensor, ref: torch.Tensor, trust: torch.Tensor, gain: float, sigma_hr_px: float
) -> torch.Tensor:
    """hr + gain * trust * (HP(ref) - HP(hr)); hr, ref (B, C, H, W), trust (B, 1, H, W).
    Returns a new tensor; ``hr`` itself when gain is 0."""
    if gain == 0.0:
        return hr
    kernel = gaussian_kernel(sigma_hr_px).to(hr.device)
    detail_ref = ref - gaussian_blur(ref, kernel)
    detail_hr = hr - gaussian_blur(hr, kernel)
    return hr + gain * trust * (detail_ref - detail_hr)


def inject_ref_detail_per_sample(
    hr: torch.Tensor, ref: torch.Tensor, trust: torch.Tensor, scales: Sequence[float],
    schedule: Schedule, sigma_lr_px: float,
) -> torch.Tensor:
    """`inject_ref_detail` for a batch whose samples have their own scale factor (training):
    sample i gets gain_at_scale(schedule, scales[i]) and sigma sigma_lr_px x scales[i] HR px.
    hr, ref (B, C, H, W), trust (B, 1, H, W); differentiable in hr and trust."""
    parts = [
        inject_ref_detail(hr[i:i + 1], ref[i:i + 1], trust[i:i + 1],
                          gain_at_scale(schedule, float(s)), sigma_lr_px * float(s))
        for i, s in enumerate(scales)
    ]
    return torch.cat(parts, dim=0)
