"""Scene statistics for radiometry, from bounded reads over the LR ∩ Ref overlap (I/O).

Reads at most about MAX_STATS_PX pixels per input, whatever the scene's size: an overlap that
fits is read whole at full resolution; a larger one through SAMPLE_CELLS² windows spread over
it (full-resolution pixels, so no overview or whole-scene pass is needed; Ctrl-C is seen
between windows). The gain/offset compares LR pixels with the Ref averaged onto them, over
windows small enough that the Ref read under them also stays within the budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from dsdit_geo.errors import InputError
from dsdit_geo.geo.grid import TargetGrid
from dsdit_geo.lr_sharpness import relative_sharpness
from dsdit_geo.radiometry import fit_gain_offset, scaling_for, valid_range
from dsdit_geo.raster.gdal_errors import describe, gdal_errors
from dsdit_geo.raster.read import overlap_window, read_decimated, read_warped
from dsdit_geo.raster.values import Radiometry

MAX_STATS_PX = 1_000_000
SAMPLE_CELLS = 8  # windows per axis when an overlap exceeds the budget
SHARPNESS_LR_PX = 9 * 64 * 64  # LR pixels read for the LR's sharpness (Ref read under them: x scale^2)
SHARPNESS_CELLS = 3  # windows per axis: few and large, the octave filters need room


def _dtype_of(ds: DatasetReader, indexes: list[int]) -> np.dtype:
    return np.result_type(*[ds.dtypes[i - 1] for i in indexes])


def _nbits(ds: DatasetReader, indexes: list[int]) -> list[int | None]:
    """Each band's declared bit depth (NBITS, e.g. 12), else None."""
    bits = [ds.tags(i, ns="IMAGE_STRUCTURE").get("NBITS") for i in indexes]
    return [int(b) if b and b.isdigit() else None for b in bits]


def _model(scaling, values: np.ndarray) -> np.ndarray:
    """(C, h, w) raster units -> (C, h, w) float64 model range (NaN kept)."""
    return scaling.to_model(values).astype(np.float64)


def sample_windows(window: Window, budget_px: int, cells: int = SAMPLE_CELLS) -> list[Window]:
    """`window` itself when it holds at most `budget_px` pixels, else up to cells x cells
    windows, one centred in each cell of a regular grid over it, holding <= budget_px in all."""
    width, height = int(window.width), int(window.height)
    if width * height <= budget_px:
        return [window]
    nx, ny = min(cells, width), min(cells, height)
    cell_w, cell_h = width // nx, height // ny
    per_window = max(1, budget_px // (nx * ny))
    h = max(1, min(cell_h, math.isqrt(per_window)))
    w = max(1, min(cell_w, per_window // h))
    windows = []
    for j in range(ny):
        for i in range(nx):
            col = int(window.col_off) + i * cell_w + (cell_w - w) // 2
            row = int(window.row_off) + j * cell_h + (cell_h - h) // 2
            windows.append(Window(col, row, w, h))
    return windows


def _read_samples(ds: DatasetReader, indexes: list[int], windows: list[Window]) -> np.ndarray:
    """(C, 1, N) float64 full-resolution pixels of `windows` side by side (NaN where masked)."""
    parts = [
        read_decimated(ds, indexes, w, (int(w.height), int(w.width)), Resampling.nearest)[0]
        for w in windows
    ]
    return np.concatenate([p.reshape(len(indexes), 1, -1) for p in parts], axis=2)


def _windows_with_ref(
    lr_ds: DatasetReader, ref_ds: DatasetReader, lr_idx: list[int], ref_idx: list[int], windows: list[Window]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per window of the LR: (LR pixels, the Ref averaged onto them), each (C, h, w) float64
    (NaN where invalid)."""
    for w in windows:
        shape = (int(w.height), int(w.width))
        lr = read_decimated(lr_ds, lr_idx, w, shape, Resampling.nearest)[0]
        ref = read_warped(ref_ds, ref_idx, lr_ds.crs, lr_ds.window_transform(w), shape, Resampling.average)
        yield lr, ref


def _ref_on_lr(
    lr_ds: DatasetReader, ref_ds: DatasetReader, lr_idx: list[int], ref_idx: list[int], windows: list[Window]
) -> tuple[np.ndarray, np.ndarray]:
    """(LR, Ref averaged onto the LR's pixels), each (C, 1, N) float64, over `windows` of the LR."""
    lr_parts, ref_parts = [], []
    for lr, ref in _windows_with_ref(lr_ds, ref_ds, lr_idx, ref_idx, windows):
        lr_parts.append(lr.reshape(len(lr_idx), 1, -1))
        ref_parts.append(ref.reshape(len(ref_idx), 1, -1))
    return np.concatenate(lr_parts, axis=2), np.concatenate(ref_parts, axis=2)


def estimate_radiometry(
    lr_ds: DatasetReader, ref_ds: DatasetReader, lr_idx: list[int], ref_idx: list[int], grid: TargetGrid
) -> Radiometry:
    """Model-range maps of LR and Ref (percentiles of their valid pixels over the overlap),
    the Ref->LR gain/offset (Ref averaged to the LR's pixels vs the LR, valid pixels only) and
    the LR's mean as fill value and its valid range (integer bands: their bit depth, declared
    or implied by the sample's max; the output is clamped to it).
    InputError when either has no valid pixel over the overlap (or its sample)."""
    try:
        lr_window = overlap_window(lr_ds, grid)
        lr_sample = _read_samples(lr_ds, lr_idx, sample_windows(lr_window, MAX_STATS_PX))
        ref_window = overlap_window(ref_ds, grid)
        ref_sample = _read_samples(ref_ds, ref_idx, sample_windows(ref_window, MAX_STATS_PX))
    except (RasterioError, *gdal_errors()) as exc:
        raise InputError(f"reading scene statistics failed: {describe(exc)}") from None
    lr_ok = np.isfinite(lr_sample).all(axis=0)
    if not lr_ok.any():
        raise InputError("the LR has no valid pixels where it overlaps the Ref")
    ref_ok = np.isfinite(ref_sample).all(axis=0)
    if not ref_ok.any():
        raise InputError("the Ref has no valid pixels where it overlaps the LR")
    lr_scaling = scaling_for(_dtype_of(lr_ds, lr_idx), lr_sample[:, lr_ok])
    ref_scaling = scaling_for(_dtype_of(ref_ds, ref_idx), ref_sample[:, ref_ok])

    ref_per_lr_px = max(1.0, ref_window.width * ref_window.height / (lr_window.width * lr_window.height))
    fit_windows = sample_windows(lr_window, max(64, int(MAX_STATS_PX / ref_per_lr_px)))
    try:
        lr_mean, ref_on_lr = _ref_on_lr(lr_ds, ref_ds, lr_idx, ref_idx, fit_windows)
    except (RasterioError, *gdal_errors()) as exc:
        raise InputError(f"reading scene statistics failed: {describe(exc)}") from None
    lr_model = _model(lr_scaling, lr_mean)
    ref_model = _model(ref_scaling, ref_on_lr)
    both = np.isfinite(lr_model).all(axis=0) & np.isfinite(ref_model).all(axis=0)
    gain_offset = fit_gain_offset(ref_model[:, both], lr_model[:, both])
    lr_fill = _model(lr_scaling, lr_sample)[:, lr_ok].mean(axis=1)
    lr_range = valid_range(
        _dtype_of(lr_ds, lr_idx), lr_sample[:, lr_ok].max(axis=1), _nbits(lr_ds, lr_idx)
    )
    return Radiometry(
        lr=lr_scaling, ref=ref_scaling, ref_to_lr=gain_offset, lr_fill=lr_fill, lr_range=lr_range
    )


def estimate_lr_sharpness(
    lr_ds: DatasetReader,
    ref_ds: DatasetReader,
    lr_idx: list[int],
    ref_idx: list[int],
    grid: TargetGrid,
    radiometry: Radiometry,
) -> float | None:
    """The LR's sharpness relative to the Ref (`dsdit_geo.lr_sharpness.relative_sharpness`,
    m ~ 1 sharp, lower blurry) over up to SHARPNESS_CELLS² windows of the LR's own pixels
    (at most SHARPNESS_LR_PX in all) with the Ref averaged onto them, on luminance (the mean of
    the bands in model range, the Ref harmonised). None when it cannot be measured (a flat
    Ref, too few valid pixels). InputError when reading fails."""
    windows = sample_windows(overlap_window(lr_ds, grid), SHARPNESS_LR_PX, SHARPNESS_CELLS)
    parts = []
    try:
        for lr, ref in _windows_with_ref(lr_ds, ref_ds, lr_idx, ref_idx, windows):
            lr_model = _model(radiometry.lr, lr)
            ref_model = radiometry.ref_to_lr.apply(_model(radiometry.ref, ref)).astype(np.float64)
            valid = np.isfinite(lr_model).all(axis=0) & np.isfinite(ref_model).all(axis=0)
            parts.append((lr_model.mean(axis=0), ref_model.mean(axis=0), valid))
    except (RasterioError, *gdal_errors()) as exc:
        raise InputError(f"reading scene statistics failed: {describe(exc)}") from None
    return relative_sharpness(parts)
