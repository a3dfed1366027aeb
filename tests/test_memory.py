"""Size estimates made before allocating: absurd grids and tiles are refused with a hint."""

from __future__ import annotations

import re

import pytest

from dsdit_geo.errors import OptionError
from dsdit_geo.memory import (
    FIXED_BYTES,
    GIB,
    MAX_GRID_SIDE_PX,
    check_run_size,
    memory_budget_bytes,
    parse_size,
    run_bytes,
    strip_bytes,
    tile_bytes,
)


def test_a_normal_run_passes():
    check_run_size(20_000, 20_000, 4, 128, 0, 4, budget_bytes=4 * GIB)
    assert memory_budget_bytes() > 0


def test_a_huge_grid_says_what_to_change():
    with pytest.raises(OptionError, match="coarser --resolution, a smaller --extent") as info:
        check_run_size(10_000_000, 10_000_000, 4, 128, 0, 4, budget_bytes=4 * GIB)
    assert "10000000 x 10000000 px" in str(info.value)
    with pytest.raises(OptionError, match="beyond GDAL's limit"):
        check_run_size(MAX_GRID_SIDE_PX + 1, 10, 1, 128, 0, 1)


def test_a_huge_tile_says_what_to_change():
    with pytest.raises(
        OptionError, match="--tile-px 100000 needs about .* smaller --tile-px or --batch-size"
    ):
        check_run_size(1000, 1000, 4, 100_000, 0, 4, budget_bytes=64 * GIB)


@pytest.mark.parametrize("short_by", [1, 300 * 1024, 20 * 1024**2])
def test_the_need_and_the_budget_read_differently(short_by):
    """A budget just under the need is not shown as the same size ("0.24 GiB ... the 0.24 GiB")."""
    need = tile_bytes(256, 0, 4, 4) + FIXED_BYTES
    with pytest.raises(OptionError) as info:
        check_run_size(1000, 1000, 4, 256, 0, 4, budget_bytes=need - short_by)
    sizes = re.findall(r"([0-9][0-9,.]*) (MiB|GiB|bytes)", str(info.value))
    assert len(sizes) == 2 and sizes[0] != sizes[1] and sizes[0][1] == sizes[1][1], info.value


def test_sizes_are_whole_mib_below_10_gib():
    with pytest.raises(OptionError, match=r"needs about [0-9,]+ MiB for .* the 200 MiB --max-memory"):
        check_run_size(1000, 1000, 4, 2048, 0, 4, budget_bytes=200 * 1024**2)
    with pytest.raises(OptionError, match=r"needs about [0-9,]+\.[0-9] GiB for .* the 12\.0 GiB --max"):
        check_run_size(1000, 1000, 4, 100_000, 0, 4, budget_bytes=12 * GIB)


def test_strip_memory_grows_with_width():
    assert strip_bytes(200_000, 4, 128) == 2 * strip_bytes(100_000, 4, 128)


@pytest.mark.parametrize(
    "text, n_bytes",
    [
        ("2GiB", 2 * GIB),
        ("2 GB", 2 * 10**9),
        ("512MiB", 512 * 1024**2),
        ("1.5g", 1_500_000_000),
        (3 * GIB, 3 * GIB),
    ],
)
def test_sizes_parse(text, n_bytes):
    assert parse_size(text) == n_bytes


@pytest.mark.parametrize("text", ["abc", "2XB", "-1G", "0", "1k", "iB", "nan"])
def test_bad_sizes_say_what_is_expected(text):
    with pytest.raises(OptionError, match="--max-memory must be"):
        parse_size(text)


def test_max_memory_splits_a_wide_grid_into_column_blocks_and_says_when_one_does_not_fit():
    assert check_run_size(100_000, 1000, 4, 128, 0, 4, budget_bytes=2 * GIB) == 100_000
    block = check_run_size(226_000, 1000, 4, 128, 0, 4, budget_bytes=2 * GIB)
    assert 512 <= block < 226_000 and block % 512 == 0
    too_small = run_bytes(226_000, 1000, 4, 128, 0, 4, 512) - 1
    with pytest.raises(OptionError) as info:
        check_run_size(226_000, 1000, 4, 128, 0, 4, budget_bytes=too_small)
    message = str(info.value)
    assert "226000 x 1000 px" in message and "--max-memory allows" in message
    assert "column block 512 px wide" in message and "smaller --tile-px" in message
    assert "larger --max-memory" in message and "\n" not in message
