"""Exponential moving average of a model's weights, kept as a whole model.

The average is a full `DSDiTTransformer` (eval mode, no gradients), so it is evaluated and
exported with the model's own `save_pretrained` (a clean config.json, unlike
`diffusers.training_utils.EMAModel.save_pretrained`, which writes its internals into it).
Decay warm-up: after t updates the decay is min(decay, (1 + t) / (10 + t)), so early weights,
far from the final ones, are forgotten quickly.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EMA:
    """`EMA(model, decay)`; `update(model)` after each optimiser step; `.model` is the average."""

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.num_updates = 0
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update will use."""
        if not self.warmup:
            return self.decay
        t = self.num_updates
        return min(self.decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """ema <- decay * ema + (1 - decay) * model, over parameters; buffers are copied."""
        weight = 1.0 - self.current_decay()
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        if len(ema_params) != len(params):
            raise ValueError("EMA and model have different parameter lists")
        torch._foreach_lerp_(ema_params, params, weight)
        for ema_buf, buf in zip(self.model.buffers(), model.buffers()):
            ema_buf.copy_(buf)
        self.num_updates += 1

    def state_dict(self) -> dict[str, Any]:
        """The internals only (the weights are saved with the EMA model's save_pretrained)."""
        return {"decay": self.decay, "warmup": self.warmup, "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.warmup = bool(state["warmup"])
        self.num_updates = int(state["num_updates"])


__all__ = ["EMA"]
