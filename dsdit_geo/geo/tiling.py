"""Tile windows over the target grid, and global reflect-padding indices (pure).

Sizes are HR-grid pixels. Tiles are squares of `tile_px` stepping by `tile_px - overlap_px`;
the last tile of a row / column is clamped to the grid edge so tiles cover the grid exactly.
A grid smaller than a tile gets a single tile that runs past the grid (read reflect-padded).
A wide grid can be done in column blocks: each block writes its own grid columns and blends
every tile whose footprint meets them (the tiles across a block edge are done by both blocks).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


def axis_starts(size_px: int, tile_px: int, overlap_px: int) -> tuple[int, ...]:
    """Start offsets of tiles along one axis of `size_px` pixels (first 0, last size - tile)."""
    if size_px <= 0 or tile_px <= 0 or not 0 <= overlap_px < tile_px:
        raise ValueError(f"bad tiling: size {size_px}, tile {tile_px}, overlap {overlap_px}")
    if size_px <= tile_px:
        return (0,)
    stride = tile_px - overlap_px
    starts = list(range(0, size_px - tile_px, stride))
    starts.append(size_px - tile_px)
    return tuple(starts)


@dataclass(frozen=True)
class Tile:
    """One tile: global HR (row, col) of its top-left pixel, position in the layout."""

    index: int
    tile_row: int
    tile_col: int
    row_px: int
    col_px: int
    last_in_row: bool


@dataclass(frozen=True)
class ColumnBlock:
    """Grid columns [col0_px, col1_px) written by one pass over every tile row, made of the tile
    columns [first_tile_col, stop_tile_col) whose footprint meets them; those tiles span grid
    columns [span0_px, span1_px) (what the pass blends). Pixels."""

    col0_px: int
    col1_px: int
    first_tile_col: int
    stop_tile_col: int
    span0_px: int
    span1_px: int


@dataclass(frozen=True)
class TileLayout:
    """All tiles over a (height_px, width_px) grid, in row-major order."""

    height_px: int
    width_px: int
    tile_px: int
    overlap_px: int
    row_starts: tuple[int, ...]
    col_starts: tuple[int, ...]

    @classmethod
    def over(cls, height_px: int, width_px: int, tile_px: int, overlap_px: int) -> TileLayout:
        return cls(
            height_px=height_px,
            width_px=width_px,
            tile_px=tile_px,
            overlap_px=overlap_px,
            row_starts=axis_starts(height_px, tile_px, overlap_px),
            col_starts=axis_starts(width_px, tile_px, overlap_px),
        )

    def __len__(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    def __iter__(self) -> Iterator[Tile]:
        return self.tiles()

    def tiles(self, block: ColumnBlock | None = None) -> Iterator[Tile]:
        """Row-major tiles of `block`'s tile columns (None: all); `last_in_row` marks the last
        of each row within them. `index` stays the tile's place in the whole layout."""
        n_cols = len(self.col_starts)
        first, stop = (0, n_cols) if block is None else (block.first_tile_col, block.stop_tile_col)
        for i, row_px in enumerate(self.row_starts):
            for j in range(first, stop):
                yield Tile(i * n_cols + j, i, j, row_px, self.col_starts[j], last_in_row=j == stop - 1)

    def column_blocks(self, block_px: int) -> tuple[ColumnBlock, ...]:
        """Grid columns cut every `block_px` px into blocks, left to right; `block_px` >= the
        width gives one block of every tile (the whole-width pass)."""
        if block_px < 1:
            raise ValueError(f"column blocks must be at least 1 px wide, got {block_px}")
        blocks = []
        for col0 in range(0, self.width_px, block_px):
            col1 = min(self.width_px, col0 + block_px)
            first = bisect.bisect_right(self.col_starts, col0 - self.tile_px)  # ends past col0
            stop = bisect.bisect_left(self.col_starts, col1)  # starts before col1
            span1 = min(self.width_px, self.col_starts[stop - 1] + self.tile_px)
            blocks.append(ColumnBlock(col0, col1, first, stop, self.col_starts[first], span1))
        return tuple(blocks)

    def count(self, block: ColumnBlock) -> int:
        """Tiles in `block` (over all tile rows)."""
        return len(self.row_starts) * (block.stop_tile_col - block.first_tile_col)

    def rows_done_after(self, tile_row: int) -> int:
        """Grid rows [0, returned) are final once tile rows 0..tile_row have been accumulated."""
        if tile_row + 1 < len(self.row_starts):
            return self.row_starts[tile_row + 1]
        return self.height_px


def reflect_indices(start: int, stop: int, size: int) -> np.ndarray:
    """Indices into [0, size) for global positions [start, stop) under one global reflect pad
    of the grid (numpy 'reflect': -1 -> 1, size -> size - 2), repeated as often as needed."""
    positions = np.arange(start, stop, dtype=np.int64)
    if size == 1:
        return np.zeros_like(positions)
    period = 2 * (size - 1)
    folded = np.mod(positions, period)
    return np.where(folded < size, folded, period - folded)
