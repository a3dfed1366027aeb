import numpy as np
import pytest

from dsdit_geo.geo.tiling import TileLayout, axis_starts, reflect_indices

CASES = [(1, 64, 0), (64, 64, 8), (65, 64, 8), (100, 64, 16), (500, 128, 32), (1000, 256, 0), (257, 16, 15)]


@pytest.mark.parametrize("size, tile, overlap", CASES)
def test_tiles_cover_the_axis_exactly(size, tile, overlap):
    starts = axis_starts(size, tile, overlap)
    assert starts[0] == 0
    covered = np.zeros(max(size, tile), int)
    for s in starts:
        covered[s : s + tile] += 1
    assert covered[:size].min() >= 1
    if size >= tile:
        assert starts[-1] + tile == size  # last tile clamped to the edge
    else:
        assert starts == (0,)  # one tile, reflect-padded beyond the grid
    steps = np.diff(starts)
    assert np.all(steps > 0) and np.all(steps <= tile - overlap)


def test_layout_is_row_major_and_reports_finished_rows():
    layout = TileLayout.over(100, 150, 64, 16)
    tiles = list(layout)
    assert len(tiles) == len(layout) == len(layout.row_starts) * len(layout.col_starts)
    assert [t.index for t in tiles] == list(range(len(tiles)))
    assert [(t.row_px, t.col_px) for t in tiles] == sorted((t.row_px, t.col_px) for t in tiles)
    assert [t.last_in_row for t in tiles].count(True) == len(layout.row_starts)
    assert layout.rows_done_after(0) == layout.row_starts[1]
    assert layout.rows_done_after(len(layout.row_starts) - 1) == 100


@pytest.mark.parametrize("start, stop, size", [(-5, 12, 10), (-25, 40, 7), (3, 9, 10), (0, 5, 1)])
def test_reflect_indices_match_one_global_pad(start, stop, size):
    if size == 1:
        np.testing.assert_array_equal(reflect_indices(start, stop, size), 0)
        return
    pad = 60
    padded = np.pad(np.arange(size), pad, mode="reflect")
    np.testing.assert_array_equal(reflect_indices(start, stop, size), padded[start + pad : stop + pad])


def test_bad_tiling_is_rejected():
    with pytest.raises(ValueError):
        axis_starts(100, 64, 64)
