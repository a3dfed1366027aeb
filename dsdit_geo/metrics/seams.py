"""Seam measures: is there more gradient on given grid lines than elsewhere? (pure numpy)

The gradient between row r-1 and row r (vertical) and between column c-1 and column c
(horizontal), in absolute value, averaged over all bands and pixels. A *line* r means the
step from r-1 to r. ratio = mean gradient across the chosen lines / mean gradient across all
other lines; 1.0 means the lines are invisible, 1.2 means 20 % more contrast across them.
NaN pixels (nodata) are left out of both means.

- `tile_seam_ratio`: the lines are the edges of the pipeline's tiles (`TileLayout`).
- `patch_grid_ratio`: the lines are multiples of a period (a transformer's patch size).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dsdit_geo.geo.tiling import TileLayout


def _as_chw(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image[None]
    if image.ndim != 3:
        raise ValueError(f"expected (H, W) or (C, H, W), got shape {image.shape}")
    return image


def _lines(n_lines: int, chosen: Iterable[int], period_px: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(on, off) masks over lines 1..n_lines (index line-1); with a period, `off` keeps only
    lines at the same phase (line mod period) as some chosen line."""
    on = np.zeros(n_lines, bool)
    on[[k - 1 for k in chosen if 1 <= k <= n_lines]] = True
    off = ~on
    if period_px:
        phase = np.arange(1, n_lines + 1) % period_px
        off &= np.isin(phase, phase[on])
    return on, off


def line_gradient_ratio(
    image: np.ndarray, rows: Iterable[int], cols: Iterable[int], period_px: int | None = None
) -> float:
    """Mean |gradient| across row lines `rows` and column lines `cols` (each in 1..size-1:
    the step from index-1 to index) / mean |gradient| across every other line, or with
    `period_px` (e.g. the LR pixel in output pixels, when whole) every other line at the same
    phase of that period, so a structure repeating with it (the LR's pixel grid) does not count.
    NaN when there are no lines of either kind or no gradient elsewhere."""
    chw = _as_chw(image)
    d_rows = np.abs(np.diff(chw, axis=1))  # (C, H-1, W): line r is index r-1
    d_cols = np.abs(np.diff(chw, axis=2))  # (C, H, W-1)
    on_rows, off_rows = _lines(d_rows.shape[1], rows, period_px)
    on_cols, off_cols = _lines(d_cols.shape[2], cols, period_px)
    on = np.concatenate([d_rows[:, on_rows, :].ravel(), d_cols[:, :, on_cols].ravel()])
    off = np.concatenate([d_rows[:, off_rows, :].ravel(), d_cols[:, :, off_cols].ravel()])
    on, off = on[np.isfinite(on)], off[np.isfinite(off)]
    if on.size == 0 or off.size == 0 or not off.mean() > 0:
        return float("nan")
    return float(on.mean() / off.mean())


def tile_edges(starts: Iterable[int], tile_px: int, size_px: int) -> list[int]:
    """Lines where a tile starts or ends inside the grid (its first row / the row after it)."""
    edges = set()
    for start in starts:
        edges.update(e for e in (start, start + tile_px) if 0 < e < size_px)
    return sorted(edges)


def tile_seam_ratio(
    image: np.ndarray, tile_px: int, overlap_px: int, lr_period_px: int | None = None
) -> float:
    """Gradient on the edges of the pipeline's tiles (tile_px, overlap_px over the image's grid,
    as `TileLayout.over` places them) vs everywhere else (with `lr_period_px`, the scale when
    it is whole: elsewhere at the same phase of the LR's pixel grid); 1.0 = seams invisible."""
    chw = _as_chw(image)
    layout = TileLayout.over(chw.shape[1], chw.shape[2], tile_px, overlap_px)
    rows = tile_edges(layout.row_starts, tile_px, layout.height_px)
    cols = tile_edges(layout.col_starts, tile_px, layout.width_px)
    return line_gradient_ratio(chw, rows, cols, lr_period_px)


def patch_grid_ratio(image: np.ndarray, period_px: int = 8, offset_px: int = 0) -> float:
    """Gradient on lines at multiples of `period_px` (plus `offset_px`: where a tile's patch
    grid falls on the output grid) vs on the other lines; 1.0 = no patch grid visible."""
    if period_px < 2:
        raise ValueError(f"period_px must be at least 2, got {period_px}")
    chw = _as_chw(image)
    rows = range(offset_px % period_px, chw.shape[1], period_px)
    cols = range(offset_px % period_px, chw.shape[2], period_px)
    return line_gradient_ratio(chw, rows, cols)


__all__ = ["line_gradient_ratio", "patch_grid_ratio", "tile_edges", "tile_seam_ratio"]
