"""What the flow generates (x0) in terms of the HR image: the whole image or a residual.

hr and lr_hr are in the model range (0..1 nominal); x0 lives in network space.
  prediction "image":    x0 = 2 hr - 1
  prediction "residual": x0 = residual_scale * 2 (hr - lr_hr)
  prediction "fusion":   x0 = residual_scale * 2 (hr - anchor), anchor a deterministic fusion
                         of LR and Ref (``dsdit_geo.flow.anchor``); the caller passes the anchor
                         where "residual" takes lr_hr, so both share the formulas below.
The conditions given to the network are always ``to_network(lr_hr)`` and ``to_network(ref_hr)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

PREDICTIONS = ("image", "residual", "fusion")
ANCHORED = ("residual", "fusion")


def to_network(x: torch.Tensor) -> torch.Tensor:
    """Model range 0..1 -> network space -1..1."""
    return 2 * x - 1


def from_network(x: torch.Tensor) -> torch.Tensor:
    """Network space -1..1 -> model range 0..1."""
    return (x + 1) / 2


def _check(prediction: str, residual_scale: float) -> None:
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
    if prediction in ANCHORED and not residual_scale > 0:
        raise ValueError(f"residual_scale must be positive, got {residual_scale}")


def encode_target(
    hr: torch.Tensor, lr_hr: torch.Tensor | None, prediction: str = "image", residual_scale: float = 1.0
) -> torch.Tensor:
    """x0 for training from hr (B, C, H, W) and lr_hr (needed for "residual")."""
    _check(prediction, residual_scale)
    if prediction == "image":
        return to_network(hr)
    if lr_hr is None:
        raise ValueError(f"prediction {prediction!r} needs its anchor (lr_hr or the fusion)")
    return (2 * residual_scale) * (hr - lr_hr)


def decode_target(
    x0: torch.Tensor, lr_hr: torch.Tensor | None, prediction: str = "image", residual_scale: float = 1.0
) -> torch.Tensor:
    """hr (model range) from a generated x0; inverse of ``encode_target``."""
    _check(prediction, residual_scale)
    if prediction == "image":
        return from_network(x0)
    if lr_hr is None:
        raise ValueError(f"prediction {prediction!r} needs its anchor (lr_hr or the fusion)")
    return lr_hr + x0 / (2 * residual_scale)


@dataclass(frozen=True)
class Parameterization:
    """``encode``/``decode`` bound to a prediction type; ``from_config`` reads a model config."""

    prediction: str = "image"
    residual_scale: float = 1.0

    def __post_init__(self) -> None:
        _check(self.prediction, self.residual_scale)

    @classmethod
    def from_config(cls, config: Any) -> Parameterization:
        """From a DSDiTTransformer config (or any mapping with the two keys)."""
        cfg = dict(config)
        return cls(str(cfg.get("prediction", "image")), float(cfg.get("residual_scale", 1.0)))

    def encode(self, hr: torch.Tensor, lr_hr: torch.Tensor | None = None) -> torch.Tensor:
        return encode_target(hr, lr_hr, self.prediction, self.residual_scale)

    def decode(self, x0: torch.Tensor, lr_hr: torch.Tensor | None = None) -> torch.Tensor:
        return decode_target(x0, lr_hr, self.prediction, self.residual_scale)
