"""What a resumed batch skips: complete outputs only (truncation, damage, other options redo)."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, replace

import pytest
import rasterio

from dsdit_geo.batch import completeness
from dsdit_geo.batch.completeness import check_item, check_output, item_key
from dsdit_geo.batch.task import run_item
from dsdit_geo.batch.tiff_layout import LayoutError, check_layout
from dsdit_geo.config import UpscaleOptions
from dsdit_geo.raster.synthetic import write_pair

OPTIONS = UpscaleOptions(method="bicubic")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict:
    """A 584² px, 4-band output (2×2 blocks + one overview) written by a batch item."""
    folder = tmp_path_factory.mktemp("finished")
    lr, ref = write_pair(str(folder), lr_px=60, ref_px=600)
    item = {
        "index": 0,
        "lr": lr,
        "ref": ref,
        "out": str(folder / "out.tif"),
        "trust_map": None,
        "problem": None,
    }
    record = run_item(item, asdict(OPTIONS))
    assert record["status"] == "done", record
    return {"item": item, "key": item_key(lr, ref, OPTIONS)}


@pytest.fixture
def output(finished, tmp_path) -> str:
    """A private copy of the finished output."""
    return shutil.copy(finished["item"]["out"], tmp_path / "out.tif")


def test_a_finished_output_is_complete(finished, output):
    layout = check_layout(output)
    assert layout.ifds == 2 and layout.blocks == 5 and layout.data_end == layout.file_size
    for verify in ("quick", "full"):
        state = check_output(output, finished["key"], verify)
        assert state.complete, state.reason
        assert (state.width, state.height) == (584, 584)
        assert state.megapixels == pytest.approx(584 * 584 / 1e6)


TRUNCATIONS = {
    "last byte": lambda size: size - 1,
    "trailer": lambda size: size - 4,
    "into the last block": lambda size: size - 5,
    "1000 bytes": lambda size: size - 1000,
    "half": lambda size: size // 2,
    "just past the headers": lambda size: 600,
}


@pytest.mark.parametrize("cut", TRUNCATIONS.values(), ids=TRUNCATIONS.keys())
def test_truncation_anywhere_past_the_header_is_incomplete(finished, output, cut):
    os.truncate(output, cut(os.path.getsize(output)))
    state = check_output(output, finished["key"])
    assert not state.complete
    assert "truncated" in state.reason


def test_damaged_trailer_of_the_last_block(finished, output):
    with open(output, "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))
    state = check_output(output, finished["key"])
    assert not state.complete and "trailer" in state.reason


def test_damage_inside_an_early_block_needs_full_verify(finished, output):
    with rasterio.open(output) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(ds.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    assert size > 16
    with open(output, "r+b") as handle:  # the zlib stream header of the first block
        handle.seek(offset)
        handle.write(b"\x00" * 16)
    assert check_output(output, finished["key"], "quick").complete  # only the last blocks are read
    state = check_output(output, finished["key"], "full")
    assert not state.complete and state.reason.startswith("does not decode")


def test_other_inputs_options_or_version_are_incomplete(finished, output, monkeypatch):
    item = finished["item"]
    assert not check_output(output, item_key(item["lr"], item["ref"], replace(OPTIONS, seed=1))).complete
    assert not check_output(output, item_key(item["ref"], item["lr"], OPTIONS)).complete
    assert "other inputs or options" in check_output(output, "0123456789abcdef").reason
    monkeypatch.setattr(completeness, "__version__", "9.9.9")
    state = check_output(output, finished["key"])
    assert not state.complete and "not 9.9.9" in state.reason


def test_missing_or_foreign_files(tmp_path, finished):
    assert check_output(str(tmp_path / "nope.tif"), "k").reason == "missing"
    text = tmp_path / "text.tif"
    text.write_text("not a raster at all")
    assert check_output(str(text), "k").reason == "not a TIFF file"
    with pytest.raises(LayoutError, match="not a TIFF"):
        check_layout(str(text))
    with pytest.raises(ValueError, match="verify"):
        check_output(str(text), "k", "sometimes")


def test_trust_map_must_be_complete_too(finished, output, tmp_path):
    state = check_item(output, str(tmp_path / "trust.tif"), finished["key"])
    assert not state.complete and state.reason == "trust map: missing"


def test_item_key_tracks_what_changes_the_result():
    base = item_key("a.tif", "b.tif", OPTIONS)
    assert base == item_key("a.tif", "b.tif", replace(OPTIONS, device="cuda:1", batch_size=16, quiet=True))
    assert base == item_key("a.tif", "b.tif", replace(OPTIONS, overwrite=True, progress=False))
    for changed in (
        replace(OPTIONS, method="hpf"),
        replace(OPTIONS, seed=3),
        replace(OPTIONS, compress="zstd"),
        replace(OPTIONS, extent=(0, 0, 1, 1)),
        replace(OPTIONS, lr_bands=[1, 2, 3]),
        replace(OPTIONS, trust_map="/x/t.tif"),
    ):
        assert item_key("a.tif", "b.tif", changed) != base
    assert item_key("a.tif", "c.tif", OPTIONS) != base
    assert len(base) == 16


def test_changed_pixels_that_still_decode_need_the_checksum(finished, output):
    """What flipped bytes inside a compressed block can do: a valid file with other pixels."""
    from rasterio.windows import Window

    from dsdit_geo.raster.verify import PIXELS_TAG

    with rasterio.open(output) as ds:
        assert len(ds.tags()[PIXELS_TAG].split(",")) == ds.count
    with rasterio.open(output, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        value = ds.read(2, window=Window(10, 10, 1, 1))
        ds.write(value + 1, 2, window=Window(10, 10, 1, 1))
    assert check_output(output, finished["key"], "quick").complete
    state = check_output(output, finished["key"], "full")
    assert not state.complete and "checksum" in state.reason
