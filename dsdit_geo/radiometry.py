"""Radiometry: map raster values to the model range and back, and harmonise the Ref to the LR.

Pure numpy; no I/O. Conventions: images are (C, H, W); per-band statistics are (C,) float64.
The *model range* is per band 0..1 nominal: uint8 data is divided by 255, anything else is
stretched between robust percentiles of the LR scene (an affine map, so it inverts exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROBUST_PERCENTILES = (0.5, 99.5)
GAIN_LIMITS = (0.1, 10.0)


@dataclass(frozen=True)
class BandScaling:
    """Per-band affine map  model = (value - lo) / (hi - lo).  lo, hi: (C,) in raster units."""

    lo: np.ndarray
    hi: np.ndarray

    @property
    def bands(self) -> int:
        return int(self.lo.shape[0])

    def to_model(self, values: np.ndarray) -> np.ndarray:
        """(C, H, W) raster units -> (C, H, W) float32 model range."""
        lo = self.lo.reshape(-1, 1, 1)
        span = (self.hi - self.lo).reshape(-1, 1, 1)
        return ((values.astype(np.float64) - lo) / span).astype(np.float32)

    def from_model(
        self,
        model: np.ndarray,
        dtype: np.dtype | str,
        clip: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """(C, H, W) model range -> (C, H, W) raster units of `dtype`, rounded and clipped to
        the dtype's range and, when given, to `clip` = per-band (lo, hi) (C,) raster units."""
        lo = self.lo.reshape(-1, 1, 1)
        span = (self.hi - self.lo).reshape(-1, 1, 1)
        values = model.astype(np.float64) * span + lo
        if clip is not None:
            values = np.clip(values, clip[0].reshape(-1, 1, 1), clip[1].reshape(-1, 1, 1))
        return cast_to_dtype(values, dtype)

    def to_tags(self) -> dict[str, str]:
        return {
            "model_range_lo": ",".join(f"{v:.6g}" for v in self.lo),
            "model_range_hi": ",".join(f"{v:.6g}" for v in self.hi),
        }


def cast_to_dtype(values: np.ndarray, dtype: np.dtype | str) -> np.ndarray:
    """Round (integer dtypes) and clip `values` into the range of `dtype`."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        info = np.finfo(dtype)
        return np.clip(values, info.min, info.max).astype(dtype)
    raise ValueError(f"unsupported output dtype {dtype}")


def valid_range(
    dtype: np.dtype | str, sample_max: np.ndarray, nbits: list[int | None]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-band (lo, hi) raster units an integer band's values can take: [dtype min, 2**k - 1]
    with k its declared NBITS, else (unsigned) the fewest bits holding `sample_max` (a 12-bit
    band whose sample reaches 3000 or 4095: 4095), within the dtype. None for float bands: their range is
    not declared anywhere, and an LR's pixel averages do not bound the detail above them."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer):
        return None
    info = np.iinfo(dtype)
    hi = np.empty(len(nbits))
    for b, (peak, bits) in enumerate(zip(sample_max, nbits)):
        if bits is None and info.min < 0:  # signed: the bit depth is not implied by the max
            bits = info.bits - 1
        elif bits is None:
            bits = max(1, int(np.ceil(np.log2(max(float(peak), 0.0) + 1))))
        hi[b] = min(float(info.max), 2.0**bits - 1)
    return np.full(len(nbits), float(info.min)), hi


def scaling_for(dtype: np.dtype | str, samples: np.ndarray) -> BandScaling:
    """Choose the model-range map for a raster.

    dtype:   the raster's dtype; uint8 maps 0..255 -> 0..1 whatever the content.
    samples: (C, N) valid values (any N >= 1), e.g. from a decimated read of the LR.
    """
    dtype = np.dtype(dtype)
    n_bands = samples.shape[0]
    if dtype == np.uint8:
        return BandScaling(lo=np.zeros(n_bands), hi=np.full(n_bands, 255.0))
    lo = np.empty(n_bands)
    hi = np.empty(n_bands)
    for b in range(n_bands):
        band = samples[b][np.isfinite(samples[b])]
        if band.size == 0:
            lo[b], hi[b] = 0.0, 1.0
            continue
        lo[b], hi[b] = np.percentile(band, ROBUST_PERCENTILES)
        if not hi[b] > lo[b]:  # flat band: keep the map invertible
            lo[b], hi[b] = float(band.min()) - 0.5, float(band.min()) + 0.5
    return BandScaling(lo=lo, hi=hi)


@dataclass(frozen=True)
class GainOffset:
    """Per-band  harmonised = gain * value + offset  (both (C,))."""

    gain: np.ndarray
    offset: np.ndarray

    def apply(self, image: np.ndarray) -> np.ndarray:
        """(C, H, W) -> (C, H, W) float32."""
        return (image * self.gain.reshape(-1, 1, 1) + self.offset.reshape(-1, 1, 1)).astype(np.float32)

    def to_tags(self) -> dict[str, str]:
        return {
            "ref_gain": ",".join(f"{v:.6g}" for v in self.gain),
            "ref_offset": ",".join(f"{v:.6g}" for v in self.offset),
        }


def fit_gain_offset(ref_lr: np.ndarray, lr: np.ndarray) -> GainOffset:
    """Fit a per-band gain/offset taking the Ref onto the LR by matching mean and spread.

    ref_lr: (C, N) Ref values degraded to the LR's resolution, model range, valid pixels only.
    lr:     (C, N) LR values at the same pixels, model range.
    Moment matching (not least squares) so that land-cover change, which lowers the
    correlation, does not shrink the Ref's contrast. The gain is kept within GAIN_LIMITS.
    """
    if ref_lr.shape != lr.shape:
        raise ValueError(f"shapes differ: {ref_lr.shape} vs {lr.shape}")
    n_bands = lr.shape[0]
    gain = np.ones(n_bands)
    offset = np.zeros(n_bands)
    for b in range(n_bands):
        ok = np.isfinite(ref_lr[b]) & np.isfinite(lr[b])
        if ok.sum() < 2:
            continue
        r, l = ref_lr[b][ok].astype(np.float64), lr[b][ok].astype(np.float64)
        r_std, l_std = r.std(), l.std()
        gain[b] = np.clip(l_std / r_std, *GAIN_LIMITS) if r_std > 1e-8 else 1.0
        offset[b] = l.mean() - gain[b] * r.mean()
    return GainOffset(gain=gain, offset=offset)
