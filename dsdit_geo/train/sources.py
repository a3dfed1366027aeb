"""Discover training material: bi-temporal HR pairs and single-date HR rasters.

Nothing here reads pixels; it lists files and turns them into `SourceRecord`s (one per ground
truth / reference *direction*). The imagery itself stays where it is (never copied into the
repository); `images.py` reads it at run time.

Sources under a data root (default: `$DSDIT_GEO_DATA`, else `../shared/data` beside the checkout):

| dataset          | kind        | records                                                     |
|------------------|-------------|-------------------------------------------------------------|
| kagglesrd        | bitemporal  | HR <-> Ref of each triplet (the provided LR is ignored)      |
| levircd          | bitemporal  | A <-> B, building-change label                              |
| whucd            | bitemporal  | prev <-> curr, building-change label                        |
| dsifn            | bitemporal  | A <-> B, change label                                       |
| naip             | single      | the two native 0.6 m clips only, bands 1-3 (RGB of RGBN)    |
| neon             | single      | OSBS_029, nodata 255                                        |
| hro              | single      | the Colorado HRO clip                                       |
| spacenet_ms      | single      | ms{1,2,3}_4band_1m (B,G,R,N uint16): bands 3,2,1 stretched  |
|                  |             | 0.5/99.5 percentiles -> 8 bit; zeros are masked (nodata 0)  |

The SpaceNet pan rasters are left out: one band, and an RGB model learns nothing about colour
from a grey image replicated three times.

Both directions of a bi-temporal pair are records. The *forward* direction takes the later date
as ground truth and the earlier as reference (levircd/dsifn B<-A, whucd curr<-prev, kagglesrd
HR<-Ref), which is the product's situation (a recent LR and an older HR reference).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dsdit_geo.errors import InputError

Kind = Literal["bitemporal", "single"]
Stretch = Literal["uint8", "percentile"]

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2")
ALL_DATASETS = ("kagglesrd", "levircd", "whucd", "dsifn", "naip", "neon", "hro", "spacenet_ms")
NAIP_NATIVE_CLIPS = ("m_3211605_ne_11_060_20200415.tif", "m_4208701_ne_16_060_20200902.tif")
_LEVIR_CROP = re.compile(r"^(?P<parent>.+)_(?P<row>\d{4})_(?P<col>\d{4})$")
_KAGGLE_SET = re.compile(r"^(?P<scene>set\d+)_")


@dataclass(frozen=True)
class SourceRecord:
    """One training item: a ground-truth HR raster and, for bi-temporal pairs, a reference.

    item_id:    unique, e.g. "levircd/test_7_0256_0512/gt=B,ref=A".
    scene_id:   the split key ("levircd/test_7"): records sharing it overlap or are crops of
                one scene and always land in the same split.
    bands:      1-based band indexes read as R, G, B.
    stretch:    "uint8" (value / 255) or "percentile" (per band 0.5 / 99.5 % of valid pixels).
    nodata:     value marking invalid pixels (all bands equal to it); None: the file's own.
    direction:  "forward" (GT = later date), "reverse", or "single".
    parent_image: for a crop whose enclosing image is also a record, that image's name
                (evaluation lists only the enclosing image).
    """

    item_id: str
    scene_id: str
    dataset: str
    gt_path: Path
    ref_path: Path | None
    change_path: Path | None
    kind: Kind
    bands: tuple[int, ...] = (1, 2, 3)
    stretch: Stretch = "uint8"
    nodata: float | None = None
    direction: str = "forward"
    parent_image: str | None = None


CHECKOUT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NO_DATA_MESSAGE = (
    "no data folder: pass --data DIR or set $DSDIT_GEO_DATA (the default, ../shared/data beside "
    "a development checkout, is not here)"
)


def default_data_root() -> Path:
    """`$DSDIT_GEO_DATA` when set, else `../shared/data` beside the repository checkout;
    InputError (NO_DATA_MESSAGE) when that is not a folder (an installed package)."""
    env = os.environ.get("DSDIT_GEO_DATA")
    if env:
        return Path(env)
    if not CHECKOUT_DATA.is_dir():
        raise InputError(NO_DATA_MESSAGE)
    return CHECKOUT_DATA


def _images(folder: Path) -> dict[str, Path]:
    """stem -> path of the image files directly in `folder` (sorted, so listing is stable)."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def _pair_records(dataset: str, name: str, scene: str, later: Path, earlier: Path,
                  later_tag: str, earlier_tag: str, label: Path | None,
                  parent_image: str | None = None) -> list[SourceRecord]:
    """The forward (GT = later) and reverse records of one bi-temporal pair."""
    common = dict(scene_id=f"{dataset}/{scene}", dataset=dataset, change_path=label,
                  kind="bitemporal", parent_image=parent_image)
    return [
        SourceRecord(item_id=f"{dataset}/{name}/gt={later_tag},ref={earlier_tag}",
                     gt_path=later, ref_path=earlier, direction="forward", **common),
        SourceRecord(item_id=f"{dataset}/{name}/gt={earlier_tag},ref={later_tag}",
                     gt_path=earlier, ref_path=later, direction="reverse", **common),
    ]


def kagglesrd_records(folder: Path) -> list[SourceRecord]:
    """KaggleSRD triplets: HR <-> Ref; scene = Draper set (`setNNN_1a..1e` are one scene)."""
    rows: list[tuple[str, str, Path, Path]] = []
    index = folder / "index.csv"
    if index.is_file():
        with index.open(newline="") as f:
            for row in csv.DictReader(f):
                rows.append((row["id"], row["draper_set"], folder / row["hr"], folder / row["ref"]))
    else:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            refs = _images(sub / "Ref")
            for stem, hr in _images(sub / "HR").items():
                match = _KAGGLE_SET.match(stem)
                if stem in refs and match:
                    rows.append((stem, match["scene"], hr, refs[stem]))
    records: list[SourceRecord] = []
    for item, scene, hr, ref in sorted(rows):
        records += _pair_records("kagglesrd", item, scene, hr, ref, "HR", "Ref", None)
    return records


def levircd_records(folder: Path) -> list[SourceRecord]:
    """LEVIR-CD A <-> B with labels; crops `parent_RRRR_CCCC` share the parent's scene."""
    a_images, b_images, labels = (_images(folder / s) for s in ("A", "B", "label"))
    records: list[SourceRecord] = []
    for name, a_path in a_images.items():
        if name not in b_images:
            continue
        match = _LEVIR_CROP.match(name)
        scene = match["parent"] if match else name
        parent = scene if match and scene in a_images else None
        records += _pair_records("levircd", name, scene, b_images[name], a_path, "B", "A",
                                 labels.get(name), parent)
    return records


def _simple_pair_records(dataset: str, folder: Path, earlier: str, later: str) -> list[SourceRecord]:
    """Pairs stored as `<earlier>/<name>`, `<later>/<name>`, `label/<name>`; one scene each.
    A name `N_k` (DSIFN: tile k of test image N) belongs to scene N."""
    e_images, l_images, labels = (_images(folder / s) for s in (earlier, later, "label"))
    records: list[SourceRecord] = []
    for name, e_path in e_images.items():
        if name in l_images:
            scene = name.split("_")[0]
            records += _pair_records(dataset, name, scene, l_images[name], e_path, later, earlier,
                                     labels.get(name))
    return records


def _single(dataset: str, path: Path, **kw) -> SourceRecord:
    return SourceRecord(item_id=f"{dataset}/{path.stem}", scene_id=f"{dataset}/{path.stem}",
                        dataset=dataset, gt_path=path, ref_path=None, change_path=None,
                        kind="single", direction="single", **kw)


def single_date_records(root: Path, dataset: str) -> list[SourceRecord]:
    """Single-date HR rasters of one of the datasets naip, neon, hro, spacenet_ms."""
    if dataset == "naip":
        paths = [root / "naip_stactools" / n for n in NAIP_NATIVE_CLIPS]
        return [_single("naip", p) for p in paths if p.is_file()]
    if dataset == "neon":
        return [_single("neon", p, nodata=255.0) for p in _images(root / "neon_deepforest").values()]
    if dataset == "hro":
        return [_single("hro", p) for p in _images(root / "hro_colorado_riotiler").values()]
    if dataset == "spacenet_ms":
        paths = sorted((root / "spacenet_solaris").glob("ms*_4band_1m.tif"))
        return [_single("spacenet_ms", p, bands=(3, 2, 1), stretch="percentile", nodata=0.0)
                for p in paths]
    raise ValueError(f"not a single-date dataset: {dataset}")


def discover_sources(data_root: Path | str | None = None,
                     datasets: Iterable[str] = ALL_DATASETS) -> list[SourceRecord]:
    """All records of `datasets` found under `data_root` (missing folders give no records).

    Raises InputError when `data_root` is not a folder or nothing is found.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    if not root.is_dir():
        raise InputError(f"training data folder not found: {root}")
    records: list[SourceRecord] = []
    for name in datasets:
        if name == "kagglesrd" and (root / "kagglesrd").is_dir():
            records += kagglesrd_records(root / "kagglesrd")
        elif name == "levircd":
            records += levircd_records(root / "levircd")
        elif name == "whucd":
            records += _simple_pair_records("whucd", root / "whucd_samples", "prev", "curr")
        elif name == "dsifn":
            records += _simple_pair_records("dsifn", root / "dsifn_samples", "A", "B")
        elif name in ("naip", "neon", "hro", "spacenet_ms"):
            records += single_date_records(root, name)
        elif name not in ALL_DATASETS:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(ALL_DATASETS)}")
    if not records:
        raise InputError(f"no training images found under {root}")
    return records


def _user_pair(dataset: str, gt: Path, ref: Path | None, change: Path | None, scene: str,
               both_directions: bool) -> list[SourceRecord]:
    if ref is None:
        return [_single(dataset, gt)]
    name = gt.stem
    pair = _pair_records(dataset, name, scene, gt, ref, "gt", "ref", change)
    return pair if both_directions else pair[:1]


def sources_from_csv(csv_path: Path | str, dataset: str = "user",
                     both_directions: bool = True) -> list[SourceRecord]:
    """Records from a CSV with columns `gt,ref[,scene[,change]]` (header optional; relative
    paths are relative to the CSV's folder; an empty `ref` makes a single-date record)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise InputError(f"pairs CSV not found: {csv_path}")
    with csv_path.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if rows and rows[0][0].strip().lower() in ("gt", "hr"):
        rows = rows[1:]
    records: list[SourceRecord] = []
    for row in rows:
        cells = [c.strip() for c in row] + ["", "", ""]
        gt = csv_path.parent / cells[0]
        ref = csv_path.parent / cells[1] if cells[1] else None
        change = csv_path.parent / cells[3] if cells[3] else None
        for path in (gt, ref, change):
            if path is not None and not path.is_file():
                raise InputError(f"{csv_path}: file not found: {path}")
        records += _user_pair(dataset, gt, ref, change, cells[2] or gt.stem, both_directions)
    if not records:
        raise InputError(f"no pairs listed in {csv_path}")
    return records


def sources_from_folder(folder: Path | str, dataset: str = "user",
                        both_directions: bool = True) -> list[SourceRecord]:
    """Records from a folder holding `gt/` (or `hr/`) and `ref/` with matching file names, and
    optionally `change/` (or `label/`). GT files without a Ref become single-date records."""
    folder = Path(folder)
    gts = _images(folder / "gt") or _images(folder / "hr")
    if not gts:
        raise InputError(f"{folder}: expected a gt/ (or hr/) folder of images")
    refs = _images(folder / "ref")
    changes = _images(folder / "change") or _images(folder / "label")
    records: list[SourceRecord] = []
    for stem, gt in gts.items():
        records += _user_pair(dataset, gt, refs.get(stem), changes.get(stem), stem, both_directions)
    return records


def load_sources(spec: Path | str | None = None) -> list[SourceRecord]:
    """Records from a data root (the shared layout), a pairs CSV, or a gt/ref folder."""
    if spec is None:
        return discover_sources()
    path = Path(spec)
    if path.suffix.lower() == ".csv":
        return sources_from_csv(path)
    if (path / "gt").is_dir() or (path / "hr").is_dir():
        return sources_from_folder(path)
    return discover_sources(path)
