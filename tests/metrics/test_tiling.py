"""Tile geometry for the exact tiled perceptual metrics (pure, needs no weights)."""

from __future__ import annotations

import itertools

import pytest

from dsdit_geo.metrics.tiling import ALIGN_PX, HALO_PX, axis_spans


@pytest.mark.parametrize(("size", "tile"), [(50, 64), (64, 64), (65, 64), (1000, 300), (4099, 1024)])
def test_axis_spans_partition_and_halo(size: int, tile: int) -> None:
    spans = axis_spans(size, tile)
    assert spans[0].core0 == 0 and spans[-1].core1 == size
    assert spans[0].first and spans[-1].last
    for prev, nxt in itertools.pairwise(spans):
        assert prev.core1 == nxt.core0
    for s in spans:
        assert 0 < s.core1 - s.core0 <= tile
        assert s.ext0 % ALIGN_PX == 0
        assert s.ext0 == 0 or s.ext0 <= s.core0 - HALO_PX
        assert s.ext1 == size or s.ext1 >= s.core1 + HALO_PX


@pytest.mark.parametrize(("stride", "offset"), [(1, 0.0), (4, 3.0), (8, 3.5), (16, 15.0)])
def test_owned_positions_partition_the_feature_map(stride: int, offset: float) -> None:
    """Every global feature index is owned by exactly one tile (n_global from a whole-image pass)."""
    size = 1000
    n_global = (size - 1) // stride + 1
    owned: list[int] = []
    for s in axis_spans(size, 150):
        base = s.ext0 // stride
        n_local = n_global - base if s.last else (s.ext1 - s.ext0) // stride
        sl = s.owned(n_local, stride, offset)
        owned += [base + i for i in range(sl.start, sl.stop)]
    assert owned == list(range(n_global))


def test_tile_size_floor() -> None:
    with pytest.raises(ValueError, match=">= 64"):
        axis_spans(100, 32)
