"""AlexNet and VGG16 feature extractors in plain torch (no torchvision), as LPIPS and DISTS use them.

Both take (B, 3, H, W) float32 images already normalised by the caller (LPIPS' ScalingLayer or
DISTS' ImageNet mean/std) and return a list of feature maps (B, C_k, H_k, W_k), the taps after the
ReLUs listed below. Layer geometry follows ``torchvision.models.alexnet(...).features`` and
``vgg16(...).features``; weights come from :func:`dsdit_geo.metrics.weights.backbone_convs`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# (out channels, kernel, stride, padding, max-pool 3x3/2 after the ReLU)
_ALEX_CONVS = (
    (64, 11, 4, 2, True),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, False),
)
# VGG16 stages: 3x3 convs (padding 1) per stage; a pooling layer precedes stages 2..5.
_VGG_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

TapGeometry = tuple[int, float]
"""(stride, centre offset): a tap's feature ``i`` is centred on input pixel ``offset + stride * i``
(per axis). Used to split images into tiles whose features are exact (see ``metrics.tiling``)."""

ALEX_CHANNELS = tuple(c[0] for c in _ALEX_CONVS)
"""Channels of the five AlexNet taps: 64, 192, 384, 256, 256."""
VGG_CHANNELS = tuple(stage[-1] for stage in _VGG_STAGES)
"""Channels of the five VGG16 taps (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3): 64 .. 512."""


def _frozen_conv(weight: torch.Tensor, bias: torch.Tensor, stride: int, padding: int) -> nn.Conv2d:
    out_ch, in_ch, kh, kw = weight.shape
    conv = nn.Conv2d(in_ch, out_ch, (kh, kw), stride=stride, padding=padding)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    conv.requires_grad_(False)
    return conv


class AlexNetFeatures(nn.Module):
    """torchvision AlexNet ``features``: conv 64@11x11 s4 p2, ReLU, maxpool 3/2, conv 192@5x5 p2,
    ReLU, maxpool 3/2, conv 384@3x3 p1, ReLU, conv 256@3x3 p1, ReLU, conv 256@3x3 p1, ReLU.

    ``forward`` returns the five post-ReLU maps (relu1..relu5). Needs H, W >= 31.
    """

    #: conv1 (k11 s4 p2) centres 4i + 3; each 3/2 max-pool maps i to its window centre 2i + 1.
    tap_geometry: tuple[TapGeometry, ...] = ((4, 3.0), (8, 7.0), (16, 15.0), (16, 15.0), (16, 15.0))
    #: receptive-field half-width of the deepest tap, in input pixels (its field is 163 px wide).
    receptive_radius = 82

    def __init__(self, convs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        super().__init__()
        if len(convs) != len(_ALEX_CONVS):
            raise ValueError(f"AlexNet needs {len(_ALEX_CONVS)} convolutions, got {len(convs)}")
        layers = []
        for (weight, bias), (out_ch, k, stride, pad, _) in zip(convs, _ALEX_CONVS):
            if weight.shape[0] != out_ch or weight.shape[-1] != k:
                raise ValueError(f"unexpected AlexNet kernel shape {tuple(weight.shape)}")
            layers.append(_frozen_conv(weight, bias, stride, pad))
        self.convs = nn.ModuleList(layers)
        self.pool_after = [c[4] for c in _ALEX_CONVS]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for conv, pool in zip(self.convs, self.pool_after):
            x = F.relu(conv(x))
            taps.append(x)
            if pool:
                x = F.max_pool2d(x, kernel_size=3, stride=2)
        return taps


class L2Pool(nn.Module):
    """DISTS' L2 pooling: sqrt(hanning-3x3-blur(x^2), stride 2, padding 1) + 1e-12 inside the sqrt.

    The 3x3 window is ``hanning(5)[1:-1]`` = [0.5, 1, 0.5] outer product, normalised to sum 1
    (the reference ``L2pooling(filter_size=5)``). (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2)).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        a = np.hanning(5)[1:-1]
        g = torch.tensor(np.outer(a, a) / np.outer(a, a).sum(), dtype=torch.float32)
        self.register_buffer("filter", g[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x * x, self.filter, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class VGG16Features(nn.Module):
    """torchvision VGG16 ``features`` up to relu5_3, split in five stages.

    ``pool="max"``: 2x2/2 max-pooling between stages (LPIPS-VGG); ``pool="l2"``: :class:`L2Pool`
    (DISTS). ``forward`` returns relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
    """

    #: receptive-field half-width of relu5_3 in input pixels (196 px wide with max, 211 with L2 pooling).
    receptive_radius = 106

    def __init__(self, convs: list[tuple[torch.Tensor, torch.Tensor]], pool: str = "max") -> None:
        super().__init__()
        n_convs = sum(len(stage) for stage in _VGG_STAGES)
        if len(convs) != n_convs:
            raise ValueError(f"VGG16 needs {n_convs} convolutions, got {len(convs)}")
        if pool not in ("max", "l2"):
            raise ValueError(f"pool must be 'max' or 'l2', got {pool!r}")
        it = iter(convs)
        stages = []
        for index, widths in enumerate(_VGG_STAGES):
            layers: list[nn.Module] = []
            if index > 0:
                prev = _VGG_STAGES[index - 1][-1]
                layers.append(nn.MaxPool2d(2, 2) if pool == "max" else L2Pool(prev))
            for width in widths:
                weight, bias = next(it)
                if weight.shape[0] != width or weight.shape[-1] != 3:
                    raise ValueError(f"unexpected VGG16 kernel shape {tuple(weight.shape)}")
                layers += [_frozen_conv(weight, bias, 1, 1), nn.ReLU(inplace=True)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        # 2x2/2 max-pool maps i to 2i + 0.5; the padded 3x3/2 L2 pool maps i to 2i.
        half = 0.5 if pool == "max" else 0.0
        offsets = [0.0]
        for _ in range(4):
            offsets.append(2 * offsets[-1] + half)
        self.tap_geometry: tuple[TapGeometry, ...] = tuple((2**k, offsets[k]) for k in range(5))

    def iter_taps(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """The five taps one at a time (a caller that drops each keeps one stage in memory)."""
        for stage in self.stages:
            x = stage(x)
            yield x

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.iter_taps(x))
