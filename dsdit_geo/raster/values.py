"""Raster values <-> model-range tiles for one run (pure numpy).

`Radiometry` holds the LR's and Ref's model-range maps, the Ref->LR harmonisation and the
fill value for invalid LR pixels; it turns raw tiles (C, H, W) float with NaN = invalid into
what an upscaler eats, and blended model-range strips back into the LR's units and dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsdit_geo.radiometry import BandScaling, GainOffset


@dataclass(frozen=True)
class Radiometry:
    """lr, ref: model-range maps (raster units -> 0..1); ref_to_lr: per-band gain/offset from
    the Ref's model range to the LR's; lr_fill: (C,) model-range value put in invalid LR pixels
    (the LR's mean over the overlap: a global constant, so tiling does not change it);
    lr_range: per-band (lo, hi) (C,) raster units the output is clamped to (the LR's valid
    range, `radiometry.valid_range`), None: the dtype's range only."""

    lr: BandScaling
    ref: BandScaling
    ref_to_lr: GainOffset
    lr_fill: np.ndarray
    lr_range: tuple[np.ndarray, np.ndarray] | None = None

    def prepare_tile(self, lr_raw: np.ndarray, ref_raw: np.ndarray) -> tuple[np.ndarray, ...]:
        """lr_raw, ref_raw: (C, H, W) raster units, NaN where invalid ->
        (lr_model, ref_model) (C, H, W) float32 and (lr_valid, ref_valid) (1, H, W) bool.
        Invalid LR pixels hold lr_fill; invalid Ref pixels hold the LR (no extra detail)."""
        lr_valid = np.isfinite(lr_raw).all(axis=0, keepdims=True)
        lr_model = self.lr.to_model(lr_raw)  # in float64: a float64 tile never overflows here
        lr_model = np.where(
            np.isfinite(lr_model), lr_model, self.lr_fill.reshape(-1, 1, 1).astype(np.float32)
        )
        ref_valid = np.isfinite(ref_raw).all(axis=0, keepdims=True)
        ref_model = self.ref_to_lr.apply(self.ref.to_model(ref_raw))
        ref_model = np.where(ref_valid, ref_model, lr_model)
        return lr_model.astype(np.float32), ref_model.astype(np.float32), lr_valid, ref_valid

    def to_output(
        self, model: np.ndarray, valid: np.ndarray, dtype: str, nodata: float | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """model (C, n, W) model range, valid (n, W) bool -> ((C, n, W) in `dtype` with nodata
        where invalid, valid), clamped to lr_range. Valid pixels that would equal nodata are
        nudged one unit."""
        values = self.lr.from_model(model, dtype, self.lr_range)
        if nodata is None:
            return values, valid
        if np.isnan(nodata):
            values[:, ~valid] = np.nan
            return values, valid
        nodata_value = np.asarray(nodata).astype(values.dtype)
        clash = (values == nodata_value) & valid
        if clash.any():
            values[clash] = _next_to(nodata_value)
        values[:, ~valid] = nodata_value
        return values, valid

    def to_tags(self) -> dict[str, str]:
        lr_tags = {f"lr_{k}": v for k, v in self.lr.to_tags().items()}
        ref_tags = {f"ref_{k}": v for k, v in self.ref.to_tags().items()}
        return {**lr_tags, **ref_tags, **self.ref_to_lr.to_tags()}


def _next_to(value: np.ndarray) -> np.ndarray:
    """The representable value one unit away from `value`, towards the middle of the dtype."""
    if np.issubdtype(value.dtype, np.integer):
        info = np.iinfo(value.dtype)
        return value + 1 if value < info.max else value - 1
    return np.nextafter(value, np.zeros_like(value) if value != 0 else np.ones_like(value))
