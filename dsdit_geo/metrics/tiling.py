"""Exact tiled LPIPS and DISTS for large images, with bounded memory.

An image is cut into near-equal core tiles of at most ``max_tile_px`` per side. Each tile is run
through the network with a halo of :data:`HALO_PX` (>= the deepest tap's receptive-field radius)
whose start is aligned to :data:`ALIGN_PX` (the deepest stride), so its feature grid is the whole
image's grid shifted by a whole number of positions. A tile keeps the feature positions whose
centre falls in its core (the first / last tile along an axis keep everything before / after),
which partitions every feature map among the tiles; those positions see only real pixels or the
same image-edge padding as a whole-image pass, so the results equal the whole-image metric up to
float round-off:

- LPIPS: per tap, the sum of the head's per-position map and the position count, then
  sum over taps of sum / count (the spatial means).
- DISTS: per tap and channel, each tile's means and centred second moments (float64), merged
  across tiles with Chan et al.'s pairwise update into the global means, variances, covariance.

Memory is that of one extended tile, (max_tile_px + 2 * 128 + 15)^2 per side at most.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from dsdit_geo.metrics.dists import C1, C2, DISTS
from dsdit_geo.metrics.lpips import LPIPS

HALO_PX = 128
"""Context around each core tile (>= the receptive-field radius of AlexNet conv5 / VGG16 relu5_3)."""
ALIGN_PX = 16
"""Extended tiles start on multiples of this (the largest tap stride)."""
MIN_TILE_PX = 64
"""Smallest ``max_tile_px`` accepted."""


@dataclass(frozen=True)
class Span:
    """One tile along one axis: core ``[core0, core1)`` and extended ``[ext0, ext1)`` pixel ranges."""

    core0: int
    core1: int
    ext0: int
    ext1: int
    first: bool
    last: bool

    def owned(self, n_local: int, stride: int, offset: float) -> slice:
        """Local indices of the feature positions (of a map with this stride / centre offset,
        computed on the extended range, ``n_local`` long) whose centres lie in the core."""
        base = self.ext0 // stride
        lo = 0 if self.first else math.ceil((self.core0 - offset) / stride) - base
        hi = n_local if self.last else math.ceil((self.core1 - offset) / stride) - base
        if not 0 <= lo <= hi <= n_local:
            raise RuntimeError(f"tile ownership [{lo}, {hi}) outside a map of {n_local}: bad tap geometry")
        return slice(lo, hi)


def axis_spans(size: int, max_tile_px: int) -> list[Span]:
    """Split ``range(size)`` into the fewest near-equal cores of <= max_tile_px, with halos.

    A size <= max_tile_px gives one span covering everything (a whole-image pass, no halo).
    """
    if max_tile_px < MIN_TILE_PX:
        raise ValueError(f"max_tile_px must be >= {MIN_TILE_PX}, got {max_tile_px}")
    n = max(1, -(-size // max_tile_px))
    cuts = [round(i * size / n) for i in range(n + 1)]
    spans = []
    for i in range(n):
        c0, c1 = cuts[i], cuts[i + 1]
        e0 = max(0, (c0 - HALO_PX) // ALIGN_PX * ALIGN_PX)
        e1 = min(size, c1 + HALO_PX)
        spans.append(Span(c0, c1, e0, e1, first=i == 0, last=i == n - 1))
    return spans


def _tiles(x: torch.Tensor, max_tile_px: int) -> Iterator[tuple[Span, Span, tuple[slice, ...]]]:
    """(row span, column span, index of the extended tile in a (B, C, H, W) tensor) per tile."""
    for rows in axis_spans(x.shape[2], max_tile_px):
        for cols in axis_spans(x.shape[3], max_tile_px):
            yield (
                rows,
                cols,
                (slice(None), slice(None), slice(rows.ext0, rows.ext1), slice(cols.ext0, cols.ext1)),
            )


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
        shapes = f"{tuple(x.shape)} and {tuple(y.shape)}"
        raise ValueError(f"need two (B, 3, H, W) tensors of one shape, got {shapes}")


@dataclass(frozen=True)
class _Moments:
    """Per-channel moments of a pair of feature maps over n positions, (B, C) float64 each:
    means, sums of squared deviations (m2) and of the deviations' product (cxy)."""

    n: int
    mx: torch.Tensor
    my: torch.Tensor
    m2x: torch.Tensor
    m2y: torch.Tensor
    cxy: torch.Tensor

    @classmethod
    def of(cls, a: torch.Tensor, b: torch.Tensor) -> _Moments:
        """Moments of (B, C, h, w) maps, centred on their own means (no cancellation)."""
        ma, mb = a.mean(dim=(2, 3), keepdim=True), b.mean(dim=(2, 3), keepdim=True)
        da, db = a - ma, b - mb

        def total(t: torch.Tensor) -> torch.Tensor:
            return t.sum(dim=(2, 3), dtype=torch.float64)

        return cls(
            a.shape[2] * a.shape[3],
            ma.flatten(2)[..., 0].double(),
            mb.flatten(2)[..., 0].double(),
            total(da * da),
            total(db * db),
            total(da * db),
        )

    def merge(self, other: _Moments) -> _Moments:
        """Moments of the union (Chan et al.'s pairwise update)."""
        n = self.n + other.n
        dx, dy = other.mx - self.mx, other.my - self.my
        w = self.n * other.n / n
        return _Moments(
            n,
            self.mx + dx * other.n / n,
            self.my + dy * other.n / n,
            self.m2x + other.m2x + dx * dx * w,
            self.m2y + other.m2y + dy * dy * w,
            self.cxy + other.cxy + dx * dy * w,
        )


def tiled_lpips(net: LPIPS, x: torch.Tensor, y: torch.Tensor, max_tile_px: int = 1024) -> torch.Tensor:
    """LPIPS of x, y (B, 3, H, W) in [-1, 1] -> (B,) float64, equal to ``net(x, y)`` up to round-off."""
    _check_pair(x, y)
    geometry = net.backbone.tap_geometry
    sums = [torch.zeros(x.shape[0], dtype=torch.float64, device=x.device) for _ in geometry]
    counts = [0] * len(geometry)
    with torch.no_grad():
        for rows, cols, index in _tiles(x, max_tile_px):
            for k, (m, (stride, offset)) in enumerate(zip(net.position_maps(x[index], y[index]), geometry)):
                part = m[:, :, rows.owned(m.shape[2], stride, offset), cols.owned(m.shape[3], stride, offset)]
                sums[k] += part.double().sum(dim=(1, 2, 3))
                counts[k] += part.shape[2] * part.shape[3]
    return sum(s / n for s, n in zip(sums, counts))


def tiled_dists(net: DISTS, x: torch.Tensor, y: torch.Tensor, max_tile_px: int = 1024) -> torch.Tensor:
    """DISTS of x, y (B, 3, H, W) in [0, 1] -> (B,) float64, equal to ``net(x, y)`` up to round-off."""
    _check_pair(x, y)
    geometry = net.tap_geometry
    moments: list[_Moments | None] = [None] * len(geometry)
    with torch.no_grad():
        for rows, cols, index in _tiles(x, max_tile_px):
            feats = zip(net.iter_features(x[index]), net.iter_features(y[index]), geometry)
            for k, (fx, fy, (stride, offset)) in enumerate(feats):
                r = rows.owned(fx.shape[2], stride, offset)
                c = cols.owned(fx.shape[3], stride, offset)
                if r.stop == r.start or c.stop == c.start:
                    continue
                tile = _Moments.of(fx[:, :, r, c], fy[:, :, r, c])
                moments[k] = tile if moments[k] is None else moments[k].merge(tile)
    alphas = torch.split(net.alpha.double().flatten(), net.channels)
    betas = torch.split(net.beta.double().flatten(), net.channels)
    score = torch.ones(x.shape[0], dtype=torch.float64, device=x.device)
    for m, alpha, beta in zip(moments, alphas, betas):
        vx, vy, cov = m.m2x / m.n, m.m2y / m.n, m.cxy / m.n
        s1 = (2 * m.mx * m.my + C1) / (m.mx * m.mx + m.my * m.my + C1)
        s2 = (2 * cov + C2) / (vx + vy + C2)
        score = score - (s1 * alpha).sum(1) - (s2 * beta).sum(1)
    return score
