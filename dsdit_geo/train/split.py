"""Deterministic train / dev split by scene.

Split rule (quotable in a model card):

    Records are grouped by scene (`SourceRecord.scene_id`): both directions of a bi-temporal
    pair, every LEVIR-CD crop `parent_RRRR_CCCC` together with its 1024-px parent (e.g.
    `test_7_0256_0512` with `test_7`, `test_2_0000_0000` with `test_2_0000_0512`), and every
    KaggleSRD crop `setNNN_1a..1e` of one Draper set share a scene, so overlapping pixels never
    straddle the split. Within each bi-temporal dataset with at least 3 scenes, the scenes are
    ranked by SHA-256 of "<seed>/<dataset>/<scene>" and the first max(1, round(0.18 * n)) go
    to dev. In datasets with change labels only scenes whose label shows change are eligible
    for dev (the dev split must exercise the trust map); unchanged scenes are trained on.
    Single-date rasters (synthetic Refs) are train-only. Nothing from a dev scene is ever
    trained on.

With seed 0 on ../shared/data this holds out 7 of 38 KaggleSRD sets, 2 of 11 LEVIR-CD scenes,
1 of 3 WHU-CD pairs and 2 of 10 DSIFN pairs (see `describe_split`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dsdit_geo.train.sources import SourceRecord

DEV_FRACTION = 0.18
MIN_SCENES_FOR_DEV = 3


@dataclass(frozen=True)
class DevCase:
    """One evaluation case: ground truth, a real reference of another date, optional label."""

    case_id: str
    scene_id: str
    dataset: str
    gt_path: Path
    ref_path: Path
    label_path: Path | None


def scene_rank(seed: int, dataset: str, scene_id: str) -> str:
    """The hash that orders scenes within a dataset (smaller = earlier to dev)."""
    return hashlib.sha256(f"{seed}/{dataset}/{scene_id}".encode()).hexdigest()


def choose_dev_scenes(scenes_by_dataset: Mapping[str, Sequence[str]], seed: int = 0,
                      dev_fraction: float = DEV_FRACTION,
                      changed_scenes: Mapping[str, Iterable[str]] | None = None) -> set[str]:
    """Pure core of the split: the dev scene ids.

    scenes_by_dataset: dataset -> its (bi-temporal) scene ids.
    changed_scenes:    dataset -> scenes whose change label has changed pixels, for datasets
                       with labels: only those are eligible for dev (datasets absent from the
                       mapping have no constraint).
    """
    dev: set[str] = set()
    for dataset, scenes in sorted(scenes_by_dataset.items()):
        ranked = sorted(set(scenes), key=lambda s: scene_rank(seed, dataset, s))
        if len(ranked) < MIN_SCENES_FOR_DEV:
            continue
        n_dev = max(1, round(dev_fraction * len(ranked)))
        if changed_scenes is not None and dataset in changed_scenes:
            changed = set(changed_scenes[dataset])
            ranked = [s for s in ranked if s in changed]
        dev.update(ranked[:n_dev])
    return dev


def scenes_with_change(records: Sequence[SourceRecord]) -> dict[str, set[str]]:
    """dataset -> scenes with at least one changed pixel in a label (reads the labels)."""
    from dsdit_geo.train.images import read_label  # I/O, kept out of the pure core

    out: dict[str, set[str]] = defaultdict(set)
    seen: set[Path] = set()
    for rec in records:
        if rec.change_path is None or rec.change_path in seen:
            continue
        seen.add(rec.change_path)
        out[rec.dataset]  # datasets with labels are constrained even if nothing changed
        if read_label(rec.change_path).any():
            out[rec.dataset].add(rec.scene_id)
    return dict(out)


def split_sources(records: Sequence[SourceRecord], seed: int = 0,
                  dev_fraction: float = DEV_FRACTION,
                  changed_scenes: Mapping[str, Iterable[str]] | None = None,
                  ) -> tuple[list[SourceRecord], list[SourceRecord]]:
    """(train, dev) records by the module's split rule. `changed_scenes` defaults to reading
    the change labels (`scenes_with_change`); the result is deterministic in `seed`."""
    scenes: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        if rec.kind == "bitemporal":
            scenes[rec.dataset].append(rec.scene_id)
    if changed_scenes is None:
        changed_scenes = scenes_with_change(records)
    dev_scenes = choose_dev_scenes(scenes, seed, dev_fraction, changed_scenes)
    train = [r for r in records if r.scene_id not in dev_scenes]
    dev = [r for r in records if r.scene_id in dev_scenes]
    return train, dev


def _image_name(record: SourceRecord) -> str:
    """The pair's image name inside its dataset ("test_7_0256_0512")."""
    return record.item_id.split("/")[1]


def dev_cases(dev_records: Sequence[SourceRecord], both_directions: bool = False) -> list[DevCase]:
    """Evaluation cases from dev records: bi-temporal pairs only, the forward direction (GT =
    later date, Ref = earlier) unless `both_directions`; a crop whose enclosing image is also
    a case is left out (its pixels are already evaluated)."""
    present = {(r.dataset, _image_name(r)) for r in dev_records if r.kind == "bitemporal"}
    cases = []
    for rec in dev_records:
        if rec.kind != "bitemporal" or rec.ref_path is None:
            continue
        if rec.direction != "forward" and not both_directions:
            continue
        if rec.parent_image is not None and (rec.dataset, rec.parent_image) in present:
            continue
        cases.append(DevCase(case_id=rec.item_id, scene_id=rec.scene_id, dataset=rec.dataset,
                             gt_path=rec.gt_path, ref_path=rec.ref_path, label_path=rec.change_path))
    return cases


def list_dev_cases(records: Sequence[SourceRecord], seed: int = 0,
                   both_directions: bool = False, **split_kw) -> list[DevCase]:
    """Split `records` and list the dev split's evaluation cases (see `dev_cases`)."""
    _, dev = split_sources(records, seed, **split_kw)
    return dev_cases(dev, both_directions)


def describe_split(train: Sequence[SourceRecord], dev: Sequence[SourceRecord]) -> str:
    """Per dataset: number of train / dev scenes and the dev scene ids (for logs and cards)."""
    lines = []
    datasets = sorted({r.dataset for r in [*train, *dev]})
    for name in datasets:
        tr = sorted({r.scene_id for r in train if r.dataset == name})
        dv = sorted({r.scene_id for r in dev if r.dataset == name})
        lines.append(f"{name}: {len(tr)} train scenes, {len(dv)} dev scenes"
                     + (f" ({', '.join(s.split('/', 1)[1] for s in dv)})" if dv else ""))
    return "\n".join(lines)
