"""A grid too wide for --max-memory is done in column blocks: same pixels as whole rows, a peak
that no longer grows with the width, and one clear line when even one block does not fit."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
from affine import Affine
from dsdit_geo_cli.app import app
from rasterio.crs import CRS
from rasterio.windows import Window
from typer.testing import CliRunner

from dsdit_geo import pipeline
from dsdit_geo.config import UpscaleOptions
from dsdit_geo.geo.tiling import TileLayout
from dsdit_geo.memory import GIB, check_run_size, run_bytes
from dsdit_geo.pipeline import upscale_file
from dsdit_geo.raster.cog import AtomicCogWriter, OutputSpec
from dsdit_geo.raster.synthetic import RGBN, naip_like, s2_like, write_scene
from dsdit_geo.raster.verify import BLOCK_PIXELS_TAG, PIXELS_TAG, checksum_mismatch, content_checksums

BANDS = 4
SCALE = 10.0
X0, Y0 = 500_000.0, 4_000_000.0
GRID = (1360, 100)  # the Ref's: the LR covers it


@pytest.fixture(scope="module")
def wide_pair(tmp_path_factory) -> tuple[str, str]:
    """An S2-like LR (10 m) and a NAIP-like Ref (1 m) of a strip: a grid of 1360 x 100 px, three
    column blocks of 512 px."""
    folder = tmp_path_factory.mktemp("wide")
    lr, ref = str(folder / "lr.tif"), str(folder / "ref.tif")
    write_scene(
        lr, "EPSG:32611", Affine(SCALE, 0, X0, 0, -SCALE, Y0), 140, 12, BANDS, "uint16", s2_like,
        nodata=0, supersample=int(SCALE), nodata_box=(0, 0, 6, 6),
    )  # fmt: skip
    write_scene(
        ref, "EPSG:26911", Affine(1, 0, X0 + 15.5, 0, -1, Y0 - 15.5), *GRID, BANDS, "uint8",
        naip_like, change=True, colorinterp=RGBN,
    )  # fmt: skip
    return lr, ref


def run(pair, out, **options):
    return upscale_file(*pair, str(out), UpscaleOptions(quiet=True, **options))


def read(path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    with rasterio.open(path) as ds:
        return ds.read(), ds.read_masks(), ds.tags()


@pytest.fixture
def planned(monkeypatch) -> list[tuple]:
    """The arguments of each run's check_run_size (grid, bands, tile, halo, batch, budget)."""
    calls: list[tuple] = []

    def spy(*args):
        calls.append(args)
        return check_run_size(*args)

    monkeypatch.setattr(pipeline, "check_run_size", spy)
    return calls


@pytest.mark.parametrize(
    "method, options",
    [
        ("bicubic", {"tile_px": 128, "overlap_px": 48}),  # blends across every block edge
        ("hpf", {}),  # 512 px tiles, the last one clamped: it overlaps its neighbour by 300 px
        # the bundled model (position-keyed noise, hpf anchor on the global lattice). Batches of
        # one: its floats change by an ulp with the batch size (so a few output values move by
        # one unit with --batch-size, blocks or not), not with the other tiles in the batch.
        pytest.param("dsdit", {"batch_size": 1, "steps": 1}, marks=pytest.mark.slow),
    ],
)
def test_column_blocks_give_the_same_pixels_as_whole_rows(
    wide_pair, tmp_path, monkeypatch, planned, method, options
):
    trust_map = "trust.tif" if method != "bicubic" else None  # relative: the same option tag
    monkeypatch.chdir((tmp_path / "rows").mkdir() or tmp_path / "rows")
    rows = run(wide_pair, "out.tif", method=method, trust_map=trust_map, **options)
    budget = run_bytes(*planned[-1][:6], 512) + 1  # column blocks 512 px wide
    assert planned[-1][0] == rows.width and check_run_size(*planned[-1][:6], budget) == 512
    monkeypatch.chdir((tmp_path / "blocks").mkdir() or tmp_path / "blocks")
    blocks = run(wide_pair, "out.tif", method=method, max_memory=budget, trust_map=trust_map, **options)
    assert (rows.width, rows.height) == GRID
    a, b = read(rows.out_path), read(blocks.out_path)
    np.testing.assert_array_equal(b[0], a[0])
    np.testing.assert_array_equal(b[1], a[1])
    assert PIXELS_TAG in a[2] and BLOCK_PIXELS_TAG in b[2]  # rows vs column blocks
    checksums = {PIXELS_TAG, BLOCK_PIXELS_TAG}
    assert {k: v for k, v in a[2].items() if k not in checksums} == {
        k: v for k, v in b[2].items() if k not in checksums
    }
    if trust_map:
        np.testing.assert_array_equal(read(blocks.trust_map_path)[0], read(rows.trust_map_path)[0])
    with rasterio.open(blocks.out_path) as ds:
        assert checksum_mismatch(ds) is None


def test_a_very_wide_grid_is_planned_in_blocks_within_the_budget():
    budget = 2 * GIB
    assert check_run_size(20_000, 20_000, 4, 128, 0, 4, budget) == 20_000  # whole rows, as before
    block = check_run_size(226_000, 1000, 4, 128, 0, 4, budget)
    assert 512 <= block < 226_000 and block % 512 == 0
    assert run_bytes(226_000, 1000, 4, 128, 0, 4, 226_000) > budget  # whole rows would not fit
    assert run_bytes(226_000, 1000, 4, 128, 0, 4, block) <= budget
    assert run_bytes(226_000, 1000, 4, 128, 0, 4, block + 512) > budget  # the widest that fits
    for width in (226_000, 2_260_000):  # the peak does not grow with the width
        block = check_run_size(width, 1000, 4, 128, 0, 4, budget)
        assert run_bytes(width, 1000, 4, 128, 0, 4, block) <= budget


def test_blocks_cover_the_grid_and_hold_every_tile_of_their_pixels():
    layout = TileLayout.over(300, 2100, 200, 70)
    blocks = layout.column_blocks(512)
    assert [(b.col0_px, b.col1_px) for b in blocks] == [
        (0, 512), (512, 1024), (1024, 1536), (1536, 2048), (2048, 2100)
    ]  # fmt: skip
    for block in blocks:
        held = {t.tile_col for t in layout.tiles(block)}
        for col in range(block.col0_px, block.col1_px):
            needed = {j for j, start in enumerate(layout.col_starts) if start <= col < start + layout.tile_px}
            assert needed <= held
        assert block.span0_px == layout.col_starts[min(held)]
    assert layout.column_blocks(2100) == layout.column_blocks(10**6) and len(layout.column_blocks(2100)) == 1
    assert sum(layout.count(b) for b in layout.column_blocks(2100)) == len(layout)


def test_too_small_a_budget_for_one_block_is_one_error_line(wide_pair, tmp_path):
    budget = run_bytes(*GRID, BANDS, 128, 0, 4, 512) - 1024**2  # bicubic: no halo
    result = CliRunner().invoke(
        app,
        ["upscale", *wide_pair, str(tmp_path / "out.tif"), "-m", "bicubic", "--tile-px", "128",
         "--max-memory", str(budget), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "even a column block 512 px wide" in lines[0] and "larger --max-memory" in lines[0]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("masked", [False, True])
def test_the_writer_takes_column_blocks_and_checksums_them(tmp_path, masked):
    s = OutputSpec(
        crs=CRS.from_epsg(26911), transform=Affine(1, 0, 5e5, 0, -1, 4e6), width=1300, height=700,
        count=2, dtype="uint16", nodata=None if masked else 0, write_mask=masked,
    )  # fmt: skip
    data = np.random.default_rng(1).integers(1, 4000, (s.count, s.height, s.width)).astype(s.dtype)
    valid = np.ones((s.height, s.width), bool)
    valid[600:, 1000:] = False
    with AtomicCogWriter(str(tmp_path / "out.tif"), s) as writer:
        for col0 in (0, 1024):
            cols = slice(col0, min(s.width, col0 + 1024))
            for row in range(0, s.height, 300):
                writer.write_rows(row, data[:, row : row + 300, cols], valid[row : row + 300, cols], col0)
        with pytest.raises(ValueError, match="column blocks must come left to right"):
            writer.write_rows(0, data[:, :10, :512], valid[:10, :512], 512)
        writer.commit()
    with rasterio.open(tmp_path / "out.tif") as ds:
        np.testing.assert_array_equal(ds.read(), data)
        if masked:
            np.testing.assert_array_equal(ds.read_masks(1) > 0, valid)
        tags = ds.tags()
        block_tags = {k: v for k, v in tags.items() if k.startswith("DSDIT_GEO_BLOCK_")}
        assert PIXELS_TAG not in tags and len(block_tags) == 1 + masked
        assert content_checksums(ds, by_blocks=True) == block_tags and checksum_mismatch(ds) is None
    with rasterio.open(tmp_path / "out.tif", "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.write(np.full((1, 1), 7, np.uint16), 1, window=Window(1200, 650, 1, 1))
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert "do not match" in checksum_mismatch(ds)
