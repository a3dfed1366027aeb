"""Evaluation cases: (ground truth, Ref of another date, optional change label) and their pixels.

A case is a `dsdit_geo.train.split.DevCase`. Sources:
- the dev split of the shared data (`dev_split_cases`, split seed 0 by default);
- a folder with `gt/` (or `hr/`), `ref/` and optionally `label/` (or `change/`), files matched
  by stem; or a CSV of `gt,ref[,label]` rows (`cases_from_path`, see `read_cases_csv`);
- a data root in the shared layout (its dev split).

`read_case` loads one case as uint8 RGB arrays on the GT's pixel grid (the Ref is aligned to it
by `train.images.align_to_gt`, as training does).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsdit_geo.errors import InputError, OptionError
from dsdit_geo.train.sources import IMAGE_SUFFIXES, discover_sources, sources_from_folder
from dsdit_geo.train.split import DevCase, list_dev_cases

Case = DevCase

USER_DATASET = "user"
_LABEL_HEADERS = ("label", "change", "mask")


@dataclass(frozen=True)
class CaseImages:
    """One case in memory, on the GT's pixel grid.

    gt, ref:     (3, H, W) uint8 RGB.
    gt_valid:    (H, W) bool, False where the GT is nodata (left out of every metric).
    ref_valid:   (H, W) bool, False where the Ref has no data (masked in the written Ref).
    label:       (H, W) bool change label (True = changed) or None.
    label_valid: (H, W) bool, where the label says anything (False beyond a smaller label).
    """

    gt: np.ndarray
    ref: np.ndarray
    gt_valid: np.ndarray
    ref_valid: np.ndarray
    label: np.ndarray | None = None
    label_valid: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.gt.shape[1]), int(self.gt.shape[2])


def dev_split_cases(data_root: Path | str | None = None, split_seed: int = 0) -> list[Case]:
    """The dev split's cases (forward direction) of the data under `data_root` (default
    `$DSDIT_GEO_DATA`, else ../shared/data). InputError when there is no data."""
    records = discover_sources(data_root)
    cases = list_dev_cases(records, seed=split_seed)
    if not cases:
        raise InputError(f"the data under {data_root or 'the default data root'} has no dev cases")
    return cases


def read_cases_csv(csv_path: Path | str) -> list[Case]:
    """Cases from a CSV. With a header, columns are found by name: gt (or hr), ref, and
    optionally label (or change), id, dataset. Without one, rows read `gt,ref[,label]`, or
    `gt,ref,scene,change` (the training CSV) when the third cell is not an image file.
    Relative paths are relative to the CSV's folder."""
    csv_path = Path(csv_path)
    with csv_path.open(newline="") as f:
        rows = [[c.strip() for c in r] for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"no cases listed in {csv_path}")
    header = [c.lower() for c in rows[0]]
    if header[0] in ("gt", "hr"):
        cols = {name: i for i, name in enumerate(header)}
        label_col = next((cols[n] for n in _LABEL_HEADERS if n in cols), None)
        if "ref" not in cols:
            raise InputError(f"{csv_path}: the header has no 'ref' column")
        body = rows[1:]
        picked = [
            (r[0], _cell(r, cols["ref"]), _cell(r, label_col), _cell(r, cols.get("id")),
             _cell(r, cols.get("dataset")))
            for r in body
        ]
    else:
        picked = []
        for r in rows:
            third = _cell(r, 2)
            label = third if third.lower().endswith(IMAGE_SUFFIXES) else _cell(r, 3)
            picked.append((r[0], _cell(r, 1), label, "", ""))
    cases = []
    for gt, ref, label, case_id, dataset in picked:
        if not ref:
            raise InputError(f"{csv_path}: the row for {gt} has no Ref")
        paths = [csv_path.parent / p if p else None for p in (gt, ref, label)]
        for path in paths:
            if path is not None and not path.is_file():
                raise InputError(f"{csv_path}: file not found: {path}")
        cases.append(_case(paths[0], paths[1], paths[2], case_id, dataset))
    if not cases:
        raise InputError(f"no cases listed in {csv_path}")
    return cases


def _cell(row: Sequence[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def _case(gt: Path, ref: Path, label: Path | None, case_id: str = "", dataset: str = "") -> Case:
    dataset = dataset or USER_DATASET
    case_id = case_id or f"{dataset}/{gt.stem}"
    return DevCase(case_id=case_id, scene_id=case_id, dataset=dataset, gt_path=gt, ref_path=ref,
                   label_path=label)


def cases_from_path(path: Path | str, split_seed: int = 0) -> list[Case]:
    """Cases from a CSV, a gt/ref(/label) folder, or a data root in the shared layout (its dev
    split). InputError when the path is missing or holds no pairs."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"cases not found: {path}")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise InputError(f"--cases must be a folder or a .csv file, got {path}")
        return read_cases_csv(path)
    if (path / "gt").is_dir() or (path / "hr").is_dir():
        records = sources_from_folder(path, dataset=USER_DATASET, both_directions=False)
        cases = [_case(r.gt_path, r.ref_path, r.change_path) for r in records if r.ref_path is not None]
        if not cases:
            raise InputError(f"{path}: no GT image has a Ref of the same name in ref/")
        return cases
    try:
        return dev_split_cases(path, split_seed)
    except InputError:
        raise InputError(
            f"{path} holds no cases: expected gt/ and ref/ folders (optional label/), "
            "a CSV of gt,ref[,label] rows, or a data root with bi-temporal pairs"
        ) from None


def select_cases(cases: Sequence[Case], datasets: Iterable[str] | None = None,
                 limit: int | None = None) -> list[Case]:
    """The cases of `datasets` (all when None), at most `limit` of them, in order.
    OptionError when the filter leaves nothing or limit < 1."""
    chosen = list(cases)
    if datasets is not None:
        wanted = {d.strip().lower() for d in datasets if d.strip()}
        present = sorted({c.dataset for c in chosen})
        unknown = sorted(wanted - set(present))
        if unknown:
            raise OptionError(
                f"--datasets {', '.join(unknown)} has no cases here: choose among {', '.join(present)}"
            )
        chosen = [c for c in chosen if c.dataset in wanted]
    if limit is not None:
        if limit < 1:
            raise OptionError(f"--limit must be at least 1, got {limit}")
        chosen = chosen[:limit]
    if not chosen:
        raise OptionError("no cases to evaluate")
    return chosen


def read_case(case: Case) -> CaseImages:
    """Read a case's GT, Ref (aligned to the GT's grid) and label (cut / padded to the GT's
    size; pixels beyond it are unlabelled). InputError when a file cannot be read."""
    from dsdit_geo.train.images import align_to_gt, read_label, read_rgb_uint8  # rasterio I/O

    gt = read_rgb_uint8(Path(case.gt_path))
    ref = align_to_gt(read_rgb_uint8(Path(case.ref_path)), gt)
    label = label_valid = None
    if case.label_path is not None:
        try:
            raw = read_label(Path(case.label_path))
        except Exception as exc:  # rasterio raises several types for unreadable files
            raise InputError(f"cannot read the change label {case.label_path}: {exc}") from None
        label, label_valid = fit_label(raw, gt.pixels.shape[1:])
    return CaseImages(gt=gt.pixels, ref=ref.pixels, gt_valid=gt.valid, ref_valid=ref.valid,
                      label=label, label_valid=label_valid)


def fit_label(label: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(h, w) bool label -> ((H, W) label, (H, W) labelled mask): cut or padded at the bottom
    and right to `shape`; padded pixels are unlabelled."""
    out = np.zeros(shape, bool)
    known = np.zeros(shape, bool)
    h, w = min(shape[0], label.shape[0]), min(shape[1], label.shape[1])
    out[:h, :w] = label[:h, :w]
    known[:h, :w] = True
    return out, known


REF_MODES = ("real", "gt", "unrelated", "flat")
"""The Ref-use probes: the case's own Ref; the ground truth as the Ref (a perfect Ref); the Ref
of another scene of the case list (a useless Ref); a constant mid-grey Ref (no detail)."""
FLAT_GREY = 128


def fit_to_shape(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(C, h, w) -> (C, H, W): the top-left part, mirrored (symmetric) where it is too small."""
    height, width = shape
    out = pixels[:, :height, :width]
    pad_h, pad_w = height - out.shape[1], width - out.shape[2]
    while pad_h > 0 or pad_w > 0:  # symmetric padding reaches at most the image size per pass
        step_h, step_w = min(pad_h, out.shape[1]), min(pad_w, out.shape[2])
        out = np.pad(out, ((0, 0), (0, step_h), (0, step_w)), mode="symmetric")
        pad_h, pad_w = height - out.shape[1], width - out.shape[2]
    return np.ascontiguousarray(out)


def unrelated_case(cases: Sequence[Case], index: int) -> Case:
    """The first case after `index` (cyclically) from another scene: InputError if none."""
    n = len(cases)
    for k in range(1, n):
        other = cases[(index + k) % n]
        if other.scene_id != cases[index].scene_id:
            return other
    raise InputError("--ref-mode unrelated needs cases from at least two scenes")


def with_ref_mode(images: CaseImages, mode: str, unrelated: CaseImages | None = None) -> CaseImages:
    """`images` with its Ref replaced as the probe `mode` says (REF_MODES); `unrelated` is the
    other scene's case for mode 'unrelated'."""
    from dataclasses import replace

    shape = images.shape
    if mode == "real":
        return images
    if mode == "gt":
        return replace(images, ref=images.gt.copy(), ref_valid=images.gt_valid.copy())
    if mode == "flat":
        return replace(images, ref=np.full_like(images.gt, FLAT_GREY), ref_valid=np.ones(shape, bool))
    if mode == "unrelated":
        if unrelated is None:
            raise ValueError("mode 'unrelated' needs the other case's images")
        return replace(images, ref=fit_to_shape(unrelated.ref, shape),
                       ref_valid=fit_to_shape(unrelated.ref_valid[None], shape)[0])
    raise OptionError(f"unknown --ref-mode {mode!r}: choose among {', '.join(REF_MODES)}")
