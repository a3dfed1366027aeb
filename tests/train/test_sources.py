"""Source discovery: real folder layout (shared data) and user CSV / folder inputs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dsdit_geo.errors import InputError
from dsdit_geo.train.images import ImageCache, RasterImage, align_to_gt, read_rgb_uint8
from dsdit_geo.train.sources import discover_sources, load_sources, sources_from_csv, sources_from_folder


def test_discovers_every_source(shared_data: Path) -> None:
    records = discover_sources(shared_data)
    counts = Counter(r.dataset for r in records)
    assert counts == {"kagglesrd": 160, "levircd": 28, "whucd": 6, "dsifn": 20, "naip": 2,
                      "neon": 1, "hro": 1, "spacenet_ms": 3}
    assert len({r.item_id for r in records}) == len(records)
    scenes = {r.scene_id for r in records if r.dataset == "kagglesrd"}
    assert len(scenes) == 38
    for r in records:
        assert r.gt_path.is_file() and (r.ref_path is None or r.ref_path.is_file())
        assert (r.kind == "single") == (r.ref_path is None)


def test_both_directions_and_scene_keys(shared_data: Path) -> None:
    records = {r.item_id: r for r in discover_sources(shared_data, ["levircd", "kagglesrd"])}
    fwd = records["levircd/test_7_0256_0512/gt=B,ref=A"]
    rev = records["levircd/test_7_0256_0512/gt=A,ref=B"]
    assert fwd.gt_path == rev.ref_path and fwd.ref_path == rev.gt_path
    assert fwd.scene_id == rev.scene_id == records["levircd/test_7/gt=B,ref=A"].scene_id == "levircd/test_7"
    assert fwd.parent_image == "test_7" and fwd.change_path.name == "test_7_0256_0512.tif"
    assert records["levircd/test_2_0000_0512/gt=B,ref=A"].scene_id == "levircd/test_2"
    assert records["levircd/test_2_0000_0512/gt=B,ref=A"].parent_image is None  # parent absent
    assert records["kagglesrd/set24_1c/gt=HR,ref=Ref"].scene_id == "kagglesrd/set24"


def test_single_date_choices(shared_data: Path) -> None:
    records = discover_sources(shared_data, ["naip", "neon", "spacenet_ms"])
    naip = sorted(r.gt_path.name for r in records if r.dataset == "naip")
    assert naip == ["m_3211605_ne_11_060_20200415.tif", "m_4208701_ne_16_060_20200902.tif"]
    neon = [r for r in records if r.dataset == "neon"][0]
    image = read_rgb_uint8(neon.gt_path, neon.bands, neon.stretch, neon.nodata)
    assert image.pixels.shape == (3, 400, 400) and 0 < (~image.valid).sum() < 0.01 * 400 * 400
    ms = [r for r in records if r.dataset == "spacenet_ms"][0]
    assert ms.bands == (3, 2, 1) and ms.stretch == "percentile"
    image = read_rgb_uint8(ms.gt_path, ms.bands, ms.stretch, ms.nodata)
    assert image.pixels.dtype == np.uint8 and image.pixels.max() == 255


def test_cache_loads_pairs_on_the_gt_grid(shared_data: Path) -> None:
    records = discover_sources(shared_data, ["levircd"])
    cache = ImageCache()
    pair = cache.pair(records[0])
    assert pair.gt.shape == pair.ref.shape and pair.gt.dtype == np.uint8
    assert pair.change is not None and pair.change.shape == pair.gt.shape[1:]
    assert cache.pair(records[0]) is pair


def test_csv_and_folder_inputs(tmp_path: Path, raster_writer) -> None:
    rng = np.random.default_rng(0)
    for sub in ("gt", "ref"):
        (tmp_path / sub).mkdir()
    for name in ("p1", "p2"):
        raster_writer(tmp_path / "gt" / f"{name}.png", rng.integers(0, 255, (3, 40, 40), dtype=np.uint8))
        raster_writer(tmp_path / "ref" / f"{name}.png", rng.integers(0, 255, (3, 40, 40), dtype=np.uint8))
    raster_writer(tmp_path / "gt" / "solo.png", rng.integers(0, 255, (3, 40, 40), dtype=np.uint8))
    folder = sources_from_folder(tmp_path)
    assert Counter(r.kind for r in folder) == {"bitemporal": 4, "single": 1}
    assert load_sources(tmp_path) == folder

    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("gt,ref,scene\ngt/p1.png,ref/p1.png,A\ngt/p2.png,ref/p2.png,A\ngt/solo.png,,\n")
    records = sources_from_csv(csv_path, both_directions=False)
    assert [r.kind for r in records] == ["bitemporal", "bitemporal", "single"]
    assert records[0].scene_id == records[1].scene_id == "user/A"
    assert load_sources(csv_path)[0].gt_path == tmp_path / "gt" / "p1.png"

    (tmp_path / "bad.csv").write_text("gt/p1.png,ref/missing.png\n")
    with pytest.raises(InputError):
        sources_from_csv(tmp_path / "bad.csv")
    with pytest.raises(InputError):
        discover_sources(tmp_path / "nowhere")


def test_align_ref_of_other_size() -> None:
    gt = RasterImage(np.zeros((3, 100, 100), np.uint8), np.ones((100, 100), bool), None, None)
    near = RasterImage(np.full((3, 101, 99), 7, np.uint8), np.ones((101, 99), bool), None, None)
    out = align_to_gt(near, gt)
    assert out.pixels.shape == (3, 100, 100) and not out.valid[:, 99].any() and out.valid[:, :99].all()
    half = RasterImage(np.full((3, 50, 50), 9, np.uint8), np.ones((50, 50), bool), None, None)
    out = align_to_gt(half, gt)
    assert out.pixels.shape == (3, 100, 100) and np.all(out.pixels[:, 5:-5, 5:-5] == 9)
