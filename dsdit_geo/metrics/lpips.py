"""LPIPS v0.1 (Zhang et al. 2018) with AlexNet (default) or VGG16, in plain torch, offline weights.

Computation, as in the reference ``lpips.LPIPS(net=..., version="0.1")`` in eval mode:
ScalingLayer ``(x - shift) / scale`` with shift (-.030, -.088, -.188), scale (.458, .448, .450);
backbone taps; each tap unit-normalised over channels (``f / (||f||_2 + 1e-10)``); squared
difference; the 1x1 linear head (no bias); spatial mean; sum over the five taps.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

from dsdit_geo.metrics.backbones import ALEX_CHANNELS, VGG_CHANNELS, AlexNetFeatures, VGG16Features
from dsdit_geo.metrics.weights import backbone_convs, lpips_heads

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _unit_normalise(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    norm = torch.sqrt(torch.sum(feat * feat, dim=1, keepdim=True))
    return feat / (norm + eps)


class LPIPS(nn.Module):
    """LPIPS distance network. ``forward(x, y)``: x, y (B, 3, H, W) float in [-1, 1] -> (B,) >= 0.

    Build with :meth:`from_packages` (weights from the optional packages, see
    :mod:`dsdit_geo.metrics.weights`). H, W >= 32 (AlexNet) / 16 (VGG16).
    """

    def __init__(self, backbone: nn.Module, heads: list[torch.Tensor]) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        for k, head in enumerate(heads):
            self.register_buffer(f"head{k}", head.detach().float().clone())
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_packages(cls, net: str = "alex") -> LPIPS:
        """LPIPS with ``net`` = "alex" (AlexNet, the default metric) or "vgg" (VGG16).

        Raises ModelError when the optional weight packages are not installed.
        """
        convs = backbone_convs(net)
        heads = lpips_heads(net)
        channels = ALEX_CHANNELS if net == "alex" else VGG_CHANNELS
        if [h.shape[1] for h in heads] != list(channels):
            raise ValueError(f"LPIPS heads {[tuple(h.shape) for h in heads]} do not fit {net}")
        backbone = AlexNetFeatures(convs) if net == "alex" else VGG16Features(convs, pool="max")
        return cls(backbone, heads)

    def position_maps(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per-tap LPIPS maps before the spatial mean: five (B, 1, H_k, W_k) tensors, >= 0.

        x, y: (B, 3, H, W) in [-1, 1]. ``forward`` is the sum of their spatial means.
        """
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS needs two (B, 3, H, W) tensors of one shape, got {x.shape}, {y.shape}")
        feats_x = self.backbone((x - self.shift) / self.scale)
        feats_y = self.backbone((y - self.shift) / self.scale)
        maps = []
        for k, (fx, fy) in enumerate(zip(feats_x, feats_y)):
            diff = (_unit_normalise(fx) - _unit_normalise(fy)) ** 2
            maps.append(F.conv2d(diff, getattr(self, f"head{k}")))
        return maps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = x.new_zeros(x.shape[0])
        for m in self.position_maps(x, y):
            total = total + m.mean(dim=(1, 2, 3))
        return total

    def forward_01(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """As ``forward`` for images in [0, 1] (mapped to [-1, 1] by ``2 x - 1``)."""
        return self(2 * x - 1, 2 * y - 1)


_CACHE: dict[tuple[str, str], LPIPS] = {}
_CACHE_LOCK = threading.Lock()


def get_lpips(net: str = "alex", device: str | torch.device = "cpu") -> LPIPS:
    """A cached, eval-mode :class:`LPIPS` on ``device`` (built on first use; ModelError if the
    weight packages are absent)."""
    key = (net, str(torch.device(device)))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = LPIPS.from_packages(net).to(device)
        return _CACHE[key]


def lpips_distance(x: torch.Tensor, y: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """LPIPS of image batches x, y (B, 3, H, W) in [-1, 1] -> (B,), without gradients."""
    model = get_lpips(net, x.device)
    with torch.no_grad():
        return model(x, y)


def lpips_distance_01(x: torch.Tensor, y: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """LPIPS of image batches x, y (B, 3, H, W) in [0, 1] -> (B,), without gradients."""
    return lpips_distance(2 * x - 1, 2 * y - 1, net)
