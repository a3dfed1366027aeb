"""Size checks made before anything big is allocated, and the column blocks of a wide grid.

The estimate covers what grows with the width written at once (the strip accumulator: channels
x tile rows x width float32 plus its weights; the writer's 512-row block buffer), with the tile
size (a batch of LR / Ref / validity tiles with their halo, times a factor for the method's own
working copies) and with the grid's area (the TIFF tile indexes libtiff holds, 16 bytes a
512 x 512 px block), plus a fixed part (GDAL's block cache, the two warpers' buffers, the
statistics pass). It is a floor, not the true peak: the model's activations come on top. The
budget is `--max-memory` (parse_size: "2GiB", "500MB", bytes) or, by default, 80 % of RAM.

When rows as wide as the grid do not fit, the grid is done in column blocks (`check_run_size`
returns their width, a multiple of 512 px): each block holds strips only a block (plus a tile on
each side) wide, so the peak no longer grows with the grid's width. A run is refused, with one
line that says what to change, only when the tile batch, or a block 512 px wide next to it, or
the tile indexes do not fit, or the grid is beyond GDAL's limits.
"""

from __future__ import annotations

import os
import re

from dsdit_geo.errors import OptionError

GIB = 1024**3
FALLBACK_BUDGET_BYTES = 16 * GIB  # when the machine's RAM cannot be read
BUDGET_SHARE = 0.8  # of physical RAM
MAX_GRID_SIDE_PX = 2**31 - 1  # GDAL raster sizes are C ints
TILE_WORK_FACTOR = 8  # working copies a method makes of each tile (conditions, noise, outputs)
_WRITER_BLOCK_ROWS = 512
COLUMN_BLOCK_STEP_PX = 512  # column blocks are multiples of the output's 512 px blocks
_INDEX_BYTES_PER_BLOCK = 16 * 2 * 2 * 4 // 3  # offset + size; strips + COG; output + trust; overviews
FIXED_BYTES = 32 * 1024**2 + 2 * 64 * 1024**2 + 1_000_000 * 8 * 8  # cache, warpers, statistics
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)


def parse_size(value: int | float | str, flag: str = "--max-memory") -> int:
    """Bytes from 2147483648, "2GiB", "2 GB", "1.5g", "512MiB" (k/M/G/T; with i: powers of
    1024); OptionError for anything else or a size under 1 MiB."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        n_bytes = float(value)
    else:
        match = _SIZE.match(str(value))
        if not match or (match.group(3) and not match.group(2)):
            raise OptionError(f"{flag} must be a size such as 2GiB, 500MB or 8G, got {value!r}")
        number, unit, binary = float(match.group(1)), match.group(2).lower(), match.group(3)
        n_bytes = number * (1024 ** "kmgt".index(unit) * 1024 if binary else _UNITS[unit])
    if not n_bytes >= 1024**2 or n_bytes != n_bytes or n_bytes == float("inf"):
        raise OptionError(f"{flag} must be at least 1MiB, got {value!r}")
    return int(n_bytes)


def memory_budget_bytes() -> int:
    """What a run may plan to use: 80 % of physical RAM (16 GiB when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * BUDGET_SHARE)
    except (ValueError, OSError, AttributeError):
        return FALLBACK_BUDGET_BYTES


def strip_bytes(
    width_px: int, n_bands: int, tile_px: int, itemsize: int = 8, span_px: int | None = None
) -> int:
    """Accumulator (bands + validity + trust channels and weights, float32, `tile_px` rows,
    `span_px` columns, default `width_px`) and writer buffer (`n_bands` x 512 rows of
    `itemsize` bytes, plus a mask) over `width_px` columns written at once."""
    accumulator = (n_bands + 3) * tile_px * (width_px if span_px is None else span_px) * 4
    writer = (n_bands * itemsize + 1) * min(_WRITER_BLOCK_ROWS, max(1, tile_px)) * width_px
    return accumulator + 2 * writer  # the output and, possibly, the trust map


def block_bytes(block_px: int, width_px: int, n_bands: int, tile_px: int) -> int:
    """`strip_bytes` of a column block writing `block_px` columns of a `width_px` grid: its
    accumulator spans the tiles that meet those columns, at most a tile more on each side."""
    return strip_bytes(block_px, n_bands, tile_px, span_px=min(width_px, block_px + 2 * tile_px))


def index_bytes(width_px: int, height_px: int) -> int:
    """The TIFF tile indexes (offsets, sizes) libtiff holds for the output's 512 px blocks."""
    blocks = -(-width_px // COLUMN_BLOCK_STEP_PX) * -(-height_px // COLUMN_BLOCK_STEP_PX)
    return blocks * _INDEX_BYTES_PER_BLOCK


def run_bytes(
    width_px: int, height_px: int, n_bands: int, tile_px: int, halo_px: int, batch_size: int, block_px: int
) -> int:
    """The estimated floor of a run's memory when it writes `block_px` columns at a time."""
    strips = block_bytes(min(block_px, width_px), width_px, n_bands, tile_px)
    tiles = tile_bytes(tile_px, halo_px, batch_size, n_bands)
    return strips + tiles + index_bytes(width_px, height_px) + FIXED_BYTES


def tile_bytes(tile_px: int, halo_px: int, batch_size: int, n_bands: int) -> int:
    """A batch of tiles read with their halo (LR, Ref, two validity planes) and worked on."""
    side = tile_px + 2 * halo_px
    return batch_size * (2 * n_bands + 2) * side * side * 4 * TILE_WORK_FACTOR


def check_run_size(
    width_px: int,
    height_px: int,
    n_bands: int,
    tile_px: int,
    halo_px: int,
    batch_size: int,
    budget_bytes: int | None = None,
) -> int:
    """The grid columns to write at a time (px): `width_px` (whole rows) when that fits the
    budget (`budget_bytes`, e.g. from --max-memory; None: 80 % of RAM), else the widest column
    block, a multiple of 512 px, that does. OptionError when the grid is beyond GDAL's limits or
    even a block 512 px wide does not fit."""
    if width_px > MAX_GRID_SIDE_PX or height_px > MAX_GRID_SIDE_PX:
        raise OptionError(
            f"the output grid would be {width_px} x {height_px} px, beyond GDAL's limit of "
            f"{MAX_GRID_SIDE_PX} px a side: use a coarser --resolution or a smaller --extent"
        )
    if budget_bytes is None:
        budget, allowed = memory_budget_bytes(), "this machine allows (80 % of RAM; see --max-memory)"
    else:
        budget, allowed = budget_bytes, "--max-memory allows"
    tiles = tile_bytes(tile_px, halo_px, batch_size, n_bands)
    if tiles + FIXED_BYTES > budget:
        need, have = _sizes(tiles + FIXED_BYTES, budget)
        raise OptionError(
            f"--tile-px {tile_px} needs about {need} for a batch of {batch_size} tiles, more than "
            f"the {have} {allowed}: use a smaller --tile-px or --batch-size, or a larger --max-memory"
        )
    indexes = index_bytes(width_px, height_px)
    if indexes + tiles + FIXED_BYTES > budget:
        need, have = _sizes(indexes + tiles + FIXED_BYTES, budget)
        raise OptionError(
            f"the output grid is {width_px} x {height_px} px; its TIFF tile indexes and a batch of "
            f"tiles need about {need}, more than the {have} {allowed}: use a coarser "
            "--resolution, a smaller --extent or a larger --max-memory"
        )

    def fits(block_px: int) -> bool:
        return run_bytes(width_px, height_px, n_bands, tile_px, halo_px, batch_size, block_px) <= budget

    if fits(width_px):
        return width_px
    step = COLUMN_BLOCK_STEP_PX
    if not fits(step):
        floor = run_bytes(width_px, height_px, n_bands, tile_px, halo_px, batch_size, step)
        need, have = _sizes(floor, budget)
        raise OptionError(
            f"the output grid is {width_px} x {height_px} px; even a column block {step} px wide "
            f"needs about {need} with --tile-px {tile_px} and --batch-size {batch_size}, more "
            f"than the {have} {allowed}: use a smaller --tile-px or --batch-size, or a "
            "larger --max-memory"
        )
    low, high = 1, -(-width_px // step)  # fits(low * step); high * step >= width_px does not
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid * step) else (low, mid)
    return low * step


def _sizes(need: float, budget: float) -> tuple[str, str]:
    """`need` and `budget` in one unit (MiB below 10 GiB, else GiB), with as many decimals as it
    takes to tell them apart: never "needs about 246 MiB, more than the 246 MiB allowed"."""
    for decimals in range(4):
        texts = _size(need, decimals, max(need, budget)), _size(budget, decimals, max(need, budget))
        if texts[0] != texts[1] or need == budget:
            return texts
    return f"{int(need):,} bytes", f"{int(budget):,} bytes"


def _size(n_bytes: float, decimals: int = 0, scale: float | None = None) -> str:
    """'246 MiB' (whole MiB) when `scale` (default `n_bytes`) is under 10 GiB, else '12.5 GiB';
    `decimals` more digits after the point."""
    if (n_bytes if scale is None else scale) < 10 * GIB:
        return f"{n_bytes / 1024**2:,.{decimals}f} MiB"
    return f"{n_bytes / GIB:,.{1 + decimals}f} GiB"
