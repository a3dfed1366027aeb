"""Size checks made before anything big is allocated: absurd grids and tiles are refused with
one line that says what to change, instead of a numpy ArrayMemoryError (or the OOM killer).

The estimate covers what grows with the output grid's width (the strip accumulator: channels x
tile rows x width float32 plus its weights; the writer's 512-row block buffer) and with the tile
size (a batch of LR / Ref / validity tiles with their halo, times a factor for the method's own
working copies), plus a fixed part (GDAL's block cache, the two warpers' buffers, the statistics
pass). It is a floor, not the true peak: the model's activations come on top. The budget is
`--max-memory` (parse_size: "2GiB", "500MB", bytes) or, by default, 80 % of physical RAM.
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


def strip_bytes(width_px: int, n_bands: int, tile_px: int, itemsize: int = 8) -> int:
    """Accumulator (bands + validity + trust channels and weights, float32, `tile_px` rows) and
    writer buffer (`n_bands` x 512 rows of `itemsize` bytes) over a grid `width_px` wide."""
    accumulator = (n_bands + 3) * tile_px * width_px * 4
    writer = (n_bands * itemsize + 1) * min(_WRITER_BLOCK_ROWS, max(1, tile_px)) * width_px
    return accumulator + 2 * writer  # the output and, possibly, the trust map


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
) -> None:
    """OptionError when the grid is beyond GDAL's limits or the estimate exceeds the budget
    (`budget_bytes`, e.g. from --max-memory; None: 80 % of RAM)."""
    if width_px > MAX_GRID_SIDE_PX or height_px > MAX_GRID_SIDE_PX:
        raise OptionError(
            f"the output grid would be {width_px} x {height_px} px, beyond GDAL's limit of "
            f"{MAX_GRID_SIDE_PX} px a side: use a coarser --resolution or a smaller --extent"
        )
    if budget_bytes is None:
        budget, allowed = memory_budget_bytes(), "this machine allows (80 % of RAM; see --max-memory)"
    else:
        budget, allowed = budget_bytes, "--max-memory allows"
    strips = strip_bytes(width_px, n_bands, tile_px)
    tiles = tile_bytes(tile_px, halo_px, batch_size, n_bands)
    if tiles + FIXED_BYTES > budget or tiles + strips + FIXED_BYTES > budget and tiles >= strips:
        raise OptionError(
            f"--tile-px {tile_px} needs about {_gib(tiles + FIXED_BYTES)} for a batch of "
            f"{batch_size} tiles, more than the {_gib(budget)} {allowed}: use a smaller --tile-px "
            "or --batch-size, or a larger --max-memory"
        )
    if strips + tiles + FIXED_BYTES > budget:
        raise OptionError(
            f"the output grid is {width_px} x {height_px} px; writing it needs about "
            f"{_gib(strips + tiles + FIXED_BYTES)} for rows {width_px} px wide, more than the "
            f"{_gib(budget)} {allowed}: use a coarser --resolution, a smaller --extent or a "
            "smaller --tile-px, or a larger --max-memory"
        )


def _gib(n_bytes: float) -> str:
    gib = n_bytes / GIB
    return f"{gib:,.0f} GiB" if gib >= 10 else f"{gib:.2g} GiB"
