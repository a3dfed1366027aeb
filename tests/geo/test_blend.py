import numpy as np
import pytest

from dsdit_geo.geo.blend import StripAccumulator, TileWeights, axis_weights, rising_taper
from dsdit_geo.geo.tiling import TileLayout


def blend(image: np.ndarray, layout: TileLayout) -> np.ndarray:
    """Cut `image` (C, H, W) into the layout's tiles (reflect-padded past the edges) and blend
    them back through the strip accumulator, flushing after each row of tiles."""
    c, h, w = image.shape
    pad = layout.tile_px
    padded = np.pad(image, ((0, 0), (0, pad), (0, pad)), mode="reflect")
    weights = TileWeights(layout)
    acc = StripAccumulator(c, h, w, layout.tile_px)
    out = np.full_like(image, np.nan)
    for tile in layout:
        values = padded[
            :, tile.row_px : tile.row_px + layout.tile_px, tile.col_px : tile.col_px + layout.tile_px
        ]
        acc.add(tile.row_px, tile.col_px, values, weights.weight(tile.tile_row, tile.tile_col))
        if tile.last_in_row:

            def sink(row0, rows):
                out[:, row0 : row0 + rows.shape[1]] = rows

            acc.flush(layout.rows_done_after(tile.tile_row), sink, chunk_rows=7)
    return out


def test_taper_pairs_sum_to_one_and_never_vanish():
    for n in (1, 2, 7, 64):
        ramp = rising_taper(n)
        assert np.all(ramp > 0) and np.all(ramp < 1)
        np.testing.assert_allclose(ramp + ramp[::-1], 1.0, atol=1e-15)


@pytest.mark.parametrize("size, tile, overlap", [(100, 64, 16), (300, 64, 8), (1000, 256, 64), (50, 64, 8)])
def test_weights_sum_to_one(size, tile, overlap):
    layout = TileLayout.over(size, size, tile, overlap)
    total = np.zeros(size)
    for start, w in zip(layout.row_starts, axis_weights(layout.row_starts, tile, size)):
        total[start : start + len(w)] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    weights = TileWeights(layout)
    assert all(
        weights.weight(i, j).min() > 0
        for i in range(len(layout.row_starts))
        for j in range(len(layout.col_starts))
    )
    # ...and the 2-D weights of all tiles sum to one at every pixel
    grid = np.zeros((size, size))
    for t in layout:
        w = weights.weight(t.tile_row, t.tile_col)
        grid[t.row_px : t.row_px + w.shape[0], t.col_px : t.col_px + w.shape[1]] += w
    np.testing.assert_allclose(grid, 1.0, atol=1e-6)


@pytest.mark.parametrize("tile, overlap", [(32, 0), (32, 8), (48, 20), (128, 16)])
def test_constant_image_comes_back_exactly(tile, overlap):
    image = np.full((3, 90, 110), np.float32(0.3141593), np.float32)
    out = blend(image, TileLayout.over(90, 110, tile, overlap))
    assert np.array_equal(out, image)


@pytest.mark.parametrize("tile, overlap", [(32, 0), (32, 8), (48, 20), (128, 16)])
def test_consistent_tiles_blend_back_to_the_image(tile, overlap):
    image = np.random.default_rng(0).random((2, 90, 110)).astype(np.float32)
    out = blend(image, TileLayout.over(90, 110, tile, overlap))
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_accumulator_refuses_rows_it_no_longer_holds():
    acc = StripAccumulator(1, 100, 10, 20)
    acc.add(0, 0, np.ones((1, 20, 10), np.float32), np.ones((20, 10), np.float32))
    seen = []
    assert acc.flush(10, lambda row, rows: seen.append((row, rows.shape[1])), chunk_rows=4) == 10
    assert seen == [(0, 4), (4, 4), (8, 2)]
    with pytest.raises(ValueError):
        acc.add(0, 0, np.ones((1, 20, 10), np.float32), np.ones((20, 10), np.float32))
    with pytest.raises(ValueError):
        acc.flush(30, print)  # rows 20..30 were never covered
