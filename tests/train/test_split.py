"""Train / dev split by scene."""

from __future__ import annotations

from pathlib import Path

from dsdit_geo.train.sources import SourceRecord, discover_sources
from dsdit_geo.train.split import choose_dev_scenes, dev_cases, list_dev_cases, split_sources


def _toy(n_scenes: int, crops: int = 2) -> list[SourceRecord]:
    out = []
    for s in range(n_scenes):
        for c in range(crops):
            for d in ("forward", "reverse"):
                out.append(SourceRecord(item_id=f"toy/s{s}_{c}/{d}", scene_id=f"toy/s{s}", dataset="toy",
                                        gt_path=Path(f"g{s}{c}{d}"), ref_path=Path(f"r{s}{c}{d}"),
                                        change_path=None, kind="bitemporal", direction=d))
    out.append(SourceRecord(item_id="one/x", scene_id="one/x", dataset="one", gt_path=Path("x"),
                            ref_path=None, change_path=None, kind="single", direction="single"))
    return out


def test_split_is_by_scene_and_deterministic() -> None:
    records = _toy(30)
    train, dev = split_sources(records, seed=0, changed_scenes={})
    assert split_sources(records, seed=0, changed_scenes={}) == (train, dev)
    train_scenes, dev_scenes = {r.scene_id for r in train}, {r.scene_id for r in dev}
    assert not train_scenes & dev_scenes
    assert len(dev_scenes) == round(0.18 * 30)
    assert len(train) + len(dev) == len(records)
    assert "one/x" in train_scenes  # single-date: train only
    other = split_sources(records, seed=1, changed_scenes={})[1]
    assert {r.scene_id for r in other} != dev_scenes


def test_small_datasets_stay_in_train() -> None:
    assert choose_dev_scenes({"a": ["x", "y"]}) == set()
    assert len(choose_dev_scenes({"a": ["x", "y"], "b": ["p", "q", "r"]})) == 1


def test_only_changed_scenes_are_dev_candidates() -> None:
    scenes = {"cd": [f"s{i}" for i in range(11)]}
    for seed in range(20):
        dev = choose_dev_scenes(scenes, seed, changed_scenes={"cd": ["s3", "s7", "s9"]})
        assert len(dev) == 2 and dev <= {"s3", "s7", "s9"}


def test_real_split(shared_data: Path) -> None:
    records = discover_sources(shared_data)
    train, dev = split_sources(records, seed=0)
    train_scenes, dev_scenes = {r.scene_id for r in train}, {r.scene_id for r in dev}
    assert not train_scenes & dev_scenes
    by_item = {r.item_id.split("/")[1]: r for r in records if r.dataset == "levircd"}
    for crop, parent in (("test_7_0256_0512", "test_7"), ("test_102_0512_0000", "test_102"),
                         ("test_2_0000_0000", "test_2_0000_0512")):
        assert (by_item[crop] in dev) == (by_item[parent] in dev)
    for name in ("kagglesrd", "levircd", "whucd", "dsifn"):
        n_all = len({r.scene_id for r in records if r.dataset == name})
        n_dev = len({r.scene_id for r in dev if r.dataset == name})
        assert 1 <= n_dev and n_dev / n_all <= 0.34
    assert len({r.scene_id for r in dev if r.dataset == "kagglesrd"}) >= 5
    cases = list_dev_cases(records, seed=0)
    levir = [c for c in cases if c.dataset == "levircd"]
    assert levir and all(c.label_path is not None for c in levir)
    assert all(c.scene_id in dev_scenes for c in cases)
    assert all("gt=B,ref=A" in c.case_id or c.dataset != "levircd" for c in cases)


def test_dev_cases_skip_crops_of_listed_parents() -> None:
    def rec(name: str, parent: str | None) -> SourceRecord:
        return SourceRecord(item_id=f"levircd/{name}/gt=B,ref=A", scene_id="levircd/test_7",
                            dataset="levircd", gt_path=Path(name), ref_path=Path(name + "a"),
                            change_path=Path(name + "l"), kind="bitemporal", parent_image=parent)
    cases = dev_cases([rec("test_7", None), rec("test_7_0256_0512", "test_7")])
    assert [c.case_id for c in cases] == ["levircd/test_7/gt=B,ref=A"]
    assert len(dev_cases([rec("test_7_0256_0512", "test_7")])) == 1
