"""Blending overlapping tiles: cosine (Hann) tapers and a strip accumulator (pure numpy).

Each tile gets a separable weight: 1 in its interior and up to the grid edges, a sin² ramp
across each overlap with a neighbour (the two ramps of a pair of tiles sum to 1; no weight is
ever 0). The accumulator keeps a running weighted mean over a band of rows of the grid, so a
constant image comes back exactly, and only O(strip_rows × width) values are held.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dsdit_geo.geo.tiling import TileLayout


def rising_taper(n_px: int) -> np.ndarray:
    """(n_px,) float64 sin² ramp strictly inside (0, 1); reversed it is the matching fall:
    rising_taper(n) + rising_taper(n)[::-1] == 1."""
    return np.sin(0.5 * np.pi * (np.arange(n_px) + 0.5) / n_px) ** 2


def axis_weights(starts: tuple[int, ...], tile_px: int, size_px: int) -> list[np.ndarray]:
    """(tile_px,) weights along one axis for each tile starting at `starts`: a rising ramp over
    the overlap with the previous tile, a falling one over the overlap with the next."""
    weights = []
    for k, start in enumerate(starts):
        w = np.ones(tile_px)
        if k > 0:
            n_prev = starts[k - 1] + tile_px - start
            w[:n_prev] *= rising_taper(n_prev)
        if k + 1 < len(starts):
            n_next = start + tile_px - starts[k + 1]
            w[tile_px - n_next :] *= rising_taper(n_next)[::-1]
        weights.append(w[: max(0, min(tile_px, size_px - start))])
    return weights


class TileWeights:
    """Blend weights of every tile of a layout: weight(tile_row, tile_col) -> (h, w) float32,
    cropped to the grid (so h, w < tile_px for a single tile larger than the grid)."""

    def __init__(self, layout: TileLayout) -> None:
        self._rows = axis_weights(layout.row_starts, layout.tile_px, layout.height_px)
        self._cols = axis_weights(layout.col_starts, layout.tile_px, layout.width_px)

    def weight(self, tile_row: int, tile_col: int) -> np.ndarray:
        return np.outer(self._rows[tile_row], self._cols[tile_col]).astype(np.float32)


class StripAccumulator:
    """Weighted running mean of (C, h, w) tiles over a (height_px, width_px) grid, holding only
    `strip_rows` grid rows starting at `row0` (the first row not yet flushed).

    Tiles must be added in a fixed order (row-major) for reproducible results; rows above the
    next tile row's start are final and are handed out by `flush`, a few rows at a time, so
    callers converting them never hold a whole strip in another dtype.
    """

    def __init__(self, channels: int, height_px: int, width_px: int, strip_rows: int) -> None:
        self.height_px = height_px
        self.width_px = width_px
        self.strip_rows = min(strip_rows, height_px)
        self.row0 = 0
        self._mean = np.zeros((channels, self.strip_rows, width_px), np.float32)
        self._weight = np.zeros((self.strip_rows, width_px), np.float32)

    def add(self, row_px: int, col_px: int, values: np.ndarray, weight: np.ndarray) -> None:
        """Blend `values` (C, h, w) with `weight` (h, w) > 0 in at global (row_px, col_px);
        parts beyond the grid are ignored."""
        h = min(values.shape[1], self.height_px - row_px, weight.shape[0])
        w = min(values.shape[2], self.width_px - col_px, weight.shape[1])
        top = row_px - self.row0
        if top < 0 or top + h > self.strip_rows:
            raise ValueError(f"tile rows {row_px}..{row_px + h} outside the strip at {self.row0}")
        rows, cols = slice(top, top + h), slice(col_px, col_px + w)
        tile_weight = weight[:h, :w]
        total = self._weight[rows, cols] + tile_weight
        share = tile_weight / total  # exactly 1 where nothing was there yet
        mean = self._mean[:, rows, cols]
        mean += share * (values[:, :h, :w].astype(np.float32, copy=False) - mean)
        self._weight[rows, cols] = total

    def flush(self, until_row: int, sink: Callable[[int, np.ndarray], None], chunk_rows: int = 64) -> int:
        """Hand finished rows [row0, until_row) to `sink(row, values)` in chunks of at most
        `chunk_rows` rows (values: (C, k, width_px) float32, valid only during the call), then
        drop them from the strip. Returns the number of rows flushed."""
        n = min(until_row, self.height_px) - self.row0
        if n <= 0:
            return 0
        if n > self.strip_rows or np.any(self._weight[:n] <= 0):
            raise ValueError(f"rows {self.row0}..{self.row0 + n} were not all covered by tiles")
        for start in range(0, n, chunk_rows):
            stop = min(n, start + chunk_rows)
            sink(self.row0 + start, self._mean[:, start:stop])
        keep = self.strip_rows - n
        step = min(n, chunk_rows)  # copy forward in pieces that never overlap: no big temporaries
        for start in range(0, keep, step):
            stop = min(keep, start + step)
            self._mean[:, start:stop] = self._mean[:, start + n : stop + n]
            self._weight[start:stop] = self._weight[start + n : stop + n]
        self._mean[:, keep:] = 0
        self._weight[keep:] = 0
        self.row0 += n
        return n
