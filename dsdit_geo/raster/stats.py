"""Scene statistics for radiometry, from decimated reads over the LR ∩ Ref overlap (I/O).

Reads at most MAX_STATS_PX pixels per band: the LR on (a decimation of) its own pixel grid,
the Ref averaged onto that same grid, so the gain/offset compares like with like.
"""

from __future__ import annotations

import numpy as np
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader

from dsdit_geo.errors import InputError
from dsdit_geo.geo.grid import TargetGrid
from dsdit_geo.radiometry import fit_gain_offset, scaling_for
from dsdit_geo.raster.read import decimated_shape, overlap_window, read_decimated, read_warped
from dsdit_geo.raster.values import Radiometry

MAX_STATS_PX = 1_000_000


def _dtype_of(ds: DatasetReader, indexes: list[int]) -> np.dtype:
    return np.result_type(*[ds.dtypes[i - 1] for i in indexes])


def _model(scaling, values: np.ndarray) -> np.ndarray:
    """(C, h, w) raster units -> (C, h, w) float64 model range (NaN kept)."""
    return scaling.to_model(values).astype(np.float64)


def estimate_radiometry(
    lr_ds: DatasetReader, ref_ds: DatasetReader, lr_idx: list[int], ref_idx: list[int], grid: TargetGrid
) -> Radiometry:
    """Model-range maps of LR and Ref (percentiles of their valid pixels over the overlap),
    the Ref->LR gain/offset (Ref averaged to the LR's pixels vs the LR, valid pixels only) and
    the LR's mean as fill value. InputError when either has no valid pixel over the overlap."""
    try:
        lr_window = overlap_window(lr_ds, grid)
        lr_shape = decimated_shape(lr_window, MAX_STATS_PX)
        lr_sample, lr_transform = read_decimated(lr_ds, lr_idx, lr_window, lr_shape, Resampling.nearest)
        ref_window = overlap_window(ref_ds, grid)
        ref_sample, _ = read_decimated(
            ref_ds, ref_idx, ref_window, decimated_shape(ref_window, MAX_STATS_PX), Resampling.nearest
        )
    except RasterioError as exc:
        raise InputError(f"reading scene statistics failed: {exc}") from None
    lr_ok = np.isfinite(lr_sample).all(axis=0)
    if not lr_ok.any():
        raise InputError("the LR has no valid pixels where it overlaps the Ref")
    ref_ok = np.isfinite(ref_sample).all(axis=0)
    if not ref_ok.any():
        raise InputError("the Ref has no valid pixels where it overlaps the LR")
    lr_scaling = scaling_for(_dtype_of(lr_ds, lr_idx), lr_sample[:, lr_ok])
    ref_scaling = scaling_for(_dtype_of(ref_ds, ref_idx), ref_sample[:, ref_ok])

    try:
        if lr_shape == (lr_window.height, lr_window.width):
            lr_mean = lr_sample
        else:  # decimated: area averages, to compare with the Ref's
            lr_mean, _ = read_decimated(lr_ds, lr_idx, lr_window, lr_shape, Resampling.average)
        ref_on_lr = read_warped(ref_ds, ref_idx, lr_ds.crs, lr_transform, lr_shape, Resampling.average)
    except RasterioError as exc:
        raise InputError(f"reading scene statistics failed: {exc}") from None
    lr_model = _model(lr_scaling, lr_mean)
    ref_model = _model(ref_scaling, ref_on_lr)
    both = np.isfinite(lr_model).all(axis=0) & np.isfinite(ref_model).all(axis=0)
    gain_offset = fit_gain_offset(ref_model[:, both], lr_model[:, both])
    lr_fill = _model(lr_scaling, lr_sample)[:, lr_ok].mean(axis=1)
    return Radiometry(lr=lr_scaling, ref=ref_scaling, ref_to_lr=gain_offset, lr_fill=lr_fill)
