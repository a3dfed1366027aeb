"""How sharp the LR is, measured against the Ref of the same place (pure numpy, no I/O).

A sensor's blur (its MTF) takes the finest octave out of an image more than the next one. So
the ratio of the energy in the finest octave to the energy in the octave below it,

    o(x) = RMS(x - G_0.7 x) / RMS(G_0.7 x - G_1.4 x)      (Gaussian sigmas in pixels),

drops as the image gets blurrier, while for a given scene it depends little on the content.
Comparing the LR's o with the o of the Ref averaged onto the LR's pixels (what an ideal,
area-sampling sensor would have seen of the Ref's scene) cancels most of the content:

    m = o(LR) / o(Ref on the LR's pixels)

m near 1: the LR keeps its finest octave (e.g. antialiased bicubic); m well below 1: a blurry
sensor (a Gaussian or Sentinel-2-like MTF). `blurry_weight` turns m into a weight in [0, 1]
that the trust-gated Ref detail step (`dsdit_geo.flow.ref_detail`) uses to give a blurry LR
more of the Ref's detail. m is a scene-level number: it is measured once per run over sampled
windows (`dsdit_geo.raster.stats.estimate_lr_sharpness`).

Images are (H, W) luminance, any unit (o is scale-free); masks (H, W) bool, True = valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

FINE_SIGMA_PX = 0.7
COARSE_SIGMA_PX = 1.4
SUPPORT_PX = 5  # ceil(3 x 1.4): pixels whose filter support lies inside the valid area
MIN_PIXELS = 256  # fewer usable pixels over all windows: no measurement
MIN_COARSE_RMS = 1e-4  # model-range units: a Ref with less detail than this (flat) gives none


@dataclass(frozen=True)
class OctaveEnergy:
    """Sums of squared finest-octave and next-octave band values over `count` pixels."""

    fine: float = 0.0
    coarse: float = 0.0
    count: int = 0

    def __add__(self, other: OctaveEnergy) -> OctaveEnergy:
        return OctaveEnergy(self.fine + other.fine, self.coarse + other.coarse, self.count + other.count)

    def ratio(self) -> float | None:
        """o = RMS(fine) / RMS(coarse); None with too few pixels or no coarse-octave detail."""
        if self.count < MIN_PIXELS:
            return None
        if np.sqrt(self.coarse / self.count) < MIN_COARSE_RMS:
            return None
        return float(np.sqrt(self.fine / self.coarse))


def usable_pixels(valid: np.ndarray) -> np.ndarray:
    """(H, W) bool: valid pixels whose whole filter support (SUPPORT_PX around) is valid."""
    if not valid.any():
        return np.zeros_like(valid, dtype=bool)
    return ndimage.binary_erosion(valid, iterations=SUPPORT_PX, border_value=0)


def octave_energy(image: np.ndarray, usable: np.ndarray) -> OctaveEnergy:
    """The finest- and next-octave energies of (H, W) `image` over the `usable` pixels.
    Pixels outside `usable` may hold anything (NaN included): they are filled before filtering
    and never counted."""
    if not usable.any():
        return OctaveEnergy()
    filled = np.where(np.isfinite(image), image, 0.0).astype(np.float64)
    filled[~usable] = filled[usable].mean()
    fine_blur = ndimage.gaussian_filter(filled, FINE_SIGMA_PX, mode="reflect")
    coarse_blur = ndimage.gaussian_filter(filled, COARSE_SIGMA_PX, mode="reflect")
    fine = (filled - fine_blur)[usable]
    coarse = (fine_blur - coarse_blur)[usable]
    return OctaveEnergy(float(np.sum(fine**2)), float(np.sum(coarse**2)), int(usable.sum()))


def relative_sharpness(windows: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float | None:
    """m = o(LR) / o(Ref on the LR's pixels) over windows of (lr (H, W), ref_on_lr (H, W),
    valid (H, W) bool: both valid). None where either ratio is undefined (too few usable pixels,
    or a Ref without detail, e.g. flat)."""
    lr_energy, ref_energy = OctaveEnergy(), OctaveEnergy()
    for lr, ref_on_lr, valid in windows:
        usable = usable_pixels(valid & np.isfinite(lr) & np.isfinite(ref_on_lr))
        lr_energy = lr_energy + octave_energy(lr, usable)
        ref_energy = ref_energy + octave_energy(ref_on_lr, usable)
    lr_ratio, ref_ratio = lr_energy.ratio(), ref_energy.ratio()
    if lr_ratio is None or ref_ratio is None:
        return None
    return lr_ratio / ref_ratio


def check_ramp(ramp: tuple[float, float], label: str = "the sharpness ramp") -> None:
    """ValueError naming `label` unless ramp = (blurry, sharp) with 0 < blurry < sharp."""
    if not 0 < ramp[0] < ramp[1]:
        raise ValueError(f"{label} must be 0 < blurry < sharp, got {ramp}")


def blurry_weight(sharpness: float | None, ramp: tuple[float, float]) -> float:
    """w in [0, 1]: 1 at or below ramp[0] (a blurry LR), 0 at or above ramp[1] (a sharp one),
    linear between; 0 when the sharpness is unknown (None)."""
    if sharpness is None:
        return 0.0
    check_ramp(ramp)
    blurry, sharp = ramp
    return float(np.clip((sharp - sharpness) / (sharp - blurry), 0.0, 1.0))
