"""The deterministic LR + Ref fusion a ``prediction="fusion"`` model generates its residual to.

anchor = hpf(lr_hr, ref) = lr_hr + w * (ref - G(ref)), the classical high-pass fusion of
``dsdit_geo.upscalers.classical.HighPassFusion``: the Ref's detail where its low-pass agrees
locally with the LR (w near 1 for a Ref that is the truth), nothing where it does not (an
unrelated, flat or changed Ref gives w near 0 and the anchor is the bicubic LR). The flow then
only has to add what the fusion misses, so "doing nothing" is already a safe answer, and a
perfect Ref is used from the first training step.

Tensors (B, C, H, W) float32 in the model range; scale (B,) or a float (LR / HR pixel size);
origin_px (B, 2) global HR (row, col) of each tile's pixel [0, 0] (keys hpf's lattice, so
tiles agree where they overlap).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from dsdit_geo.upscalers.base import TileBatch
from dsdit_geo.upscalers.classical import HighPassFusion


@lru_cache(maxsize=64)
def _hpf(scale: float) -> HighPassFusion:
    return HighPassFusion(scale=scale)


def anchor_context_px(scale: float) -> int:
    """HR pixels of context the anchor needs around a tile to be independent of tiling."""
    return _hpf(float(scale)).context_px


def fusion_anchor(
    lr_hr: torch.Tensor,
    ref: torch.Tensor,
    scale: torch.Tensor | float,
    origin_px: torch.Tensor | None = None,
    ref_valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(anchor (B, C, H, W), weight w (B, 1, H, W) in [0, 1]) of hpf per sample, each at its
    own scale; origin_px None = all tiles at (0, 0); ref_valid (B, 1, H, W) bool or None."""
    b = lr_hr.shape[0]
    scales = torch.as_tensor(scale, dtype=torch.float64).reshape(-1).expand(b).tolist()
    if origin_px is None:
        origin_px = torch.zeros(b, 2, dtype=torch.int64)
    if ref_valid is None:
        ref_valid = torch.ones(b, 1, *lr_hr.shape[2:], dtype=torch.bool)
    anchor = torch.empty_like(lr_hr, dtype=torch.float32, device="cpu")
    weight = torch.empty(b, 1, *lr_hr.shape[2:], dtype=torch.float32)
    lr_cpu, ref_cpu = lr_hr.detach().float().cpu(), ref.detach().float().cpu()
    for s in sorted(set(scales)):  # one hpf call per distinct scale (inference: one in all)
        if not (math.isfinite(s) and s > 0):
            raise ValueError(f"scale must be positive, got {s}")
        rows = torch.tensor([i for i in range(b) if scales[i] == s])
        group = TileBatch(
            lr_hr=lr_cpu[rows],
            ref_hr=ref_cpu[rows],
            lr_valid=torch.ones(len(rows), 1, *lr_hr.shape[2:], dtype=torch.bool),
            ref_valid=ref_valid[rows].cpu(),
            origin_px=origin_px[rows].cpu(),
            scale=s,
        )
        result = _hpf(round(s, 6)).upscale(group)
        anchor[rows], weight[rows] = result.hr, result.trust
    return anchor.to(lr_hr.device, lr_hr.dtype), weight.to(lr_hr.device, lr_hr.dtype)


__all__ = ["anchor_context_px", "fusion_anchor"]
