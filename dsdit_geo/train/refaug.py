"""Reference augmentation and synthesis (pure numpy, every draw from the caller's generator).

Images are (3, H, W) float32 RGB in the model range (0..1 nominal); masks are (H, W) bool.
A real Ref of another date is mildly augmented (photometric jitter, a seasonal colour shift,
sometimes pasted changes). A single-date raster gets a *synthetic* Ref made from its own ground
truth with the same operations, stronger, plus a slight blur or sharpening difference. The
misregistration shift and the replacement by an unrelated image are drawn here but applied by
`dataset.py` (they need the crop geometry). Pasted changes return the mask of the pixels that
no longer match the ground truth. The scene-wide part of an augmentation is returned as a
`RefLook` so that the harmonisation can be fitted on the whole augmented scene, as the
pipeline fits it, rather than on the crop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

# donor(height_px, width_px) -> (3, height_px, width_px) float32 from some other image
Donor = Callable[[int, int], np.ndarray]
# (top, left, height, width) of the area pasted changes should fall in (the training crop)
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class RefAugConfig:
    """Probabilities and strengths of the Ref augmentations.

    p_unrelated:        chance a Ref is replaced by an unrelated image (dataset.py applies it).
    p_aligned:          chance the Ref is the ground truth itself, aligned (no shift), with the
                        real-Ref augmentations (photometric, seasonal, pasted changes).
    real_*:             for real Refs; synth_*: for Refs synthesised from the ground truth.
    *_strength:         1.0 = the full ranges of `photometric_jitter` / `seasonal_shift`.
    *_shift_px:         misregistration: integer shifts up to this many HR pixels per axis.
    paste_count, paste_size_px: pasted changes per Ref and their side lengths.
    """

    p_unrelated: float = 0.2
    p_aligned: float = 0.0
    real_p_photometric: float = 0.5
    real_photometric_strength: float = 0.5
    real_p_seasonal: float = 0.3
    real_seasonal_strength: float = 0.6
    real_p_paste: float = 0.3
    real_shift_px: int = 2
    synth_photometric_strength: float = 1.0
    synth_seasonal_strength: float = 1.0
    synth_p_paste: float = 0.8
    synth_shift_px: int = 3
    paste_count: tuple[int, int] = (1, 4)
    paste_size_px: tuple[int, int] = (10, 48)


DEFAULT_REFAUG = RefAugConfig()


def _log_uniform_sym(rng: np.random.Generator, max_factor: float, size=None) -> np.ndarray:
    """exp(U(-log f, log f)): multiplicative jitter symmetric around 1."""
    return np.exp(rng.uniform(-math.log(max_factor), math.log(max_factor), size))


@dataclass(frozen=True)
class RefLook:
    """The scene-wide part of a Ref augmentation (photometric jitter, seasonal shift), as drawn
    parameters so the same change can be applied to the crop and to the whole scene (which
    the harmonisation is fitted on). Arrays are (3, 1, 1) float32; None = not applied."""

    gamma: np.ndarray | None = None
    gain: np.ndarray | None = None
    offset: np.ndarray | None = None
    haze: float = 0.0
    haze_colour: np.ndarray | None = None
    veg_delta: np.ndarray | None = None
    cast: float = 0.0

    def apply(self, image: np.ndarray) -> np.ndarray:
        """(3, H, W) model range -> (3, H, W) float32, clipped to 0..1 (NaN stays NaN)."""
        out = np.clip(image, 0.0, 1.0).astype(np.float32)
        if self.gamma is not None:
            out = out ** self.gamma
            out = out * self.gain + self.offset
            out = out * (1.0 - self.haze) + self.haze * self.haze_colour
            out = np.clip(out, 0.0, 1.0)
        if self.veg_delta is not None:
            out = out + self.veg_delta * vegetation_weight(out)[None]
            out = out + np.array([self.cast, 0.0, -self.cast], dtype=np.float32).reshape(3, 1, 1)
        return np.clip(out, 0.0, 1.0).astype(np.float32)


IDENTITY_LOOK = RefLook()


def draw_look(rng: np.random.Generator, photometric_strength: float | None,
              seasonal_strength: float | None) -> RefLook:
    """Draw a look; a None strength leaves that part out.

    Photometric (illumination / sensor): per-band gamma (x/÷ 1.2), global gain (x/÷ 1.25) times
    per-band gain (x/÷ 1.12), per-band offset (±0.04), haze up to 12 % towards a light grey.
    Seasonal: vegetation (excess green) turns browner (dry / autumn: +R, -G) or greener (+G, -R)
    and the scene takes a warm or cool cast (±0.03 on R and B in opposite directions).
    All ranges are scaled by the strengths (1.0 = full).
    """
    fields: dict = {}
    if photometric_strength is not None:
        s = float(photometric_strength)
        fields["gamma"] = _log_uniform_sym(rng, 1.0 + 0.2 * s, (3, 1, 1)).astype(np.float32)
        fields["gain"] = (_log_uniform_sym(rng, 1.0 + 0.25 * s)
                          * _log_uniform_sym(rng, 1.0 + 0.12 * s, (3, 1, 1))).astype(np.float32)
        fields["offset"] = rng.uniform(-0.04 * s, 0.04 * s, (3, 1, 1)).astype(np.float32)
        fields["haze"] = float(rng.uniform(0.0, 0.12 * s))
        fields["haze_colour"] = (rng.uniform(0.6, 0.9)
                                 + rng.uniform(-0.03, 0.03, (3, 1, 1))).astype(np.float32)
    if seasonal_strength is not None:
        s = float(seasonal_strength)
        amount = rng.uniform(0.3, 1.0) * s
        if rng.random() < 0.5:  # browner
            delta = np.array([0.10, -0.05, -0.03], dtype=np.float32) * amount
        else:                   # greener, lusher
            delta = np.array([-0.04, 0.06, -0.01], dtype=np.float32) * amount
        fields["veg_delta"] = delta.reshape(3, 1, 1).astype(np.float32)
        fields["cast"] = float(rng.uniform(-0.03, 0.03) * s)
    return RefLook(**fields)


def photometric_jitter(image: np.ndarray, rng: np.random.Generator,
                       strength: float = 1.0) -> np.ndarray:
    """Illumination / sensor differences (see `draw_look`). (3, H, W) -> (3, H, W) float32."""
    return draw_look(rng, strength, None).apply(image)


def vegetation_weight(image: np.ndarray) -> np.ndarray:
    """(H, W) 0..1: how vegetated each pixel looks, from the excess-green index 2G - R - B."""
    excess_green = 2.0 * image[1] - image[0] - image[2]
    return np.clip((excess_green - 0.01) / 0.08, 0.0, 1.0).astype(np.float32)


def seasonal_shift(image: np.ndarray, rng: np.random.Generator,
                   strength: float = 1.0) -> np.ndarray:
    """Another season (see `draw_look`). (3, H, W) -> (3, H, W) float32, clipped to 0..1."""
    return draw_look(rng, None, strength).apply(image)


def blur_or_sharpen(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A different optical sharpness: Gaussian blur (sigma 0.3..1.0 px) or an unsharp mask
    (amount 0.2..0.8, sigma 1 px), even odds. (3, H, W) -> (3, H, W) float32, clipped."""
    if rng.random() < 0.5:
        sigma = rng.uniform(0.3, 1.0)
        out = gaussian_filter1d(gaussian_filter1d(image, sigma, axis=1), sigma, axis=2)
    else:
        soft = gaussian_filter1d(gaussian_filter1d(image, 1.0, axis=1), 1.0, axis=2)
        out = image + rng.uniform(0.2, 0.8) * (image - soft)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def draw_shift_px(rng: np.random.Generator, max_shift_px: int) -> tuple[int, int]:
    """(dy, dx) integer misregistration, each uniform in [-max, max]."""
    if max_shift_px <= 0:
        return 0, 0
    dy, dx = rng.integers(-max_shift_px, max_shift_px + 1, size=2)
    return int(dy), int(dx)


def _patch_alpha(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(h, w) 0..1 footprint of one pasted change: rectangle, ellipse or irregular blob,
    with a soft edge of about one pixel."""
    shape = rng.integers(3)
    if shape == 0:     # rectangle (a new building, a paved lot)
        alpha = np.ones((height, width), dtype=np.float32)
        alpha[0, :] = alpha[-1, :] = alpha[:, 0] = alpha[:, -1] = 0.5
        return alpha
    yy = (np.arange(height, dtype=np.float32) + 0.5) / height * 2 - 1
    xx = (np.arange(width, dtype=np.float32) + 0.5) / width * 2 - 1
    radius = np.sqrt(yy[:, None] ** 2 + xx[None, :] ** 2)
    if shape == 2:     # blob: an ellipse with a noisy boundary (a field, a pond, a clearing)
        noise = rng.standard_normal((height, width)).astype(np.float32)
        sigma = max(height, width) / 6.0
        noise = gaussian_filter1d(gaussian_filter1d(noise, sigma, axis=0), sigma, axis=1)
        radius = radius + 0.35 * noise / (noise.std() + 1e-6)
    soft_px = 2.0 / max(min(height, width), 2)
    return np.clip((1.0 - radius) / soft_px + 0.5, 0.0, 1.0).astype(np.float32)


def paste_changes(image: np.ndarray, rng: np.random.Generator, donor: Donor,
                  focus: Box | None = None, count: tuple[int, int] = (1, 4),
                  size_px: tuple[int, int] = (10, 48)) -> tuple[np.ndarray, np.ndarray]:
    """Paste count[0]..count[1] changes: patches of other images (via `donor`) or flat surfaces
    (new roofs, cleared ground) with random footprints, centred inside `focus` (default: the
    whole image). Returns (image (3, H, W) float32, changed (H, W) bool where alpha > 0.5)."""
    out = image.astype(np.float32, copy=True)
    changed = np.zeros(image.shape[1:], dtype=bool)
    height, width = image.shape[1:]
    top0, left0, fh, fw = focus if focus is not None else (0, 0, height, width)
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        ph, pw = (int(v) for v in rng.integers(size_px[0], size_px[1] + 1, size=2))
        cy = int(rng.integers(top0, top0 + fh))
        cx = int(rng.integers(left0, left0 + fw))
        y0, x0 = max(cy - ph // 2, 0), max(cx - pw // 2, 0)
        y1, x1 = min(cy - ph // 2 + ph, height), min(cx - pw // 2 + pw, width)
        if y1 - y0 < 2 or x1 - x0 < 2:
            continue
        ph, pw = y1 - y0, x1 - x0
        alpha = _patch_alpha(rng, ph, pw)
        if rng.random() < 0.6:
            patch = donor(ph, pw).astype(np.float32)
        else:
            colour = rng.uniform(0.1, 0.9) + rng.uniform(-0.08, 0.08, (3, 1, 1))
            patch = colour + 0.02 * rng.standard_normal((3, ph, pw))
        area = out[:, y0:y1, x0:x1]
        out[:, y0:y1, x0:x1] = area * (1.0 - alpha) + np.clip(patch, 0, 1) * alpha
        changed[y0:y1, x0:x1] |= alpha > 0.5
    return out, changed


@dataclass(frozen=True)
class AugmentedRef:
    """ref: (3, H, W) float32; changed: (H, W) bool (pasted changes); look: the scene-wide
    part of the augmentation, to apply to the scene the harmonisation is fitted on."""

    ref: np.ndarray
    changed: np.ndarray
    look: RefLook


def augment_real_ref(ref: np.ndarray, rng: np.random.Generator, donor: Donor,
                     focus: Box | None = None, config: RefAugConfig = DEFAULT_REFAUG) -> AugmentedRef:
    """Mild augmentation of a real Ref of another date: sometimes photometric jitter, a
    seasonal shift, pasted changes."""
    photometric = config.real_photometric_strength if rng.random() < config.real_p_photometric else None
    seasonal = config.real_seasonal_strength if rng.random() < config.real_p_seasonal else None
    look = draw_look(rng, photometric, seasonal)
    out = look.apply(ref)
    changed = np.zeros(out.shape[1:], dtype=bool)
    if rng.random() < config.real_p_paste:
        out, changed = paste_changes(out, rng, donor, focus, config.paste_count, config.paste_size_px)
    return AugmentedRef(out, changed, look)


def synthesize_ref(gt: np.ndarray, rng: np.random.Generator, donor: Donor,
                   focus: Box | None = None, config: RefAugConfig = DEFAULT_REFAUG) -> AugmentedRef:
    """A Ref 'of another date' made from the ground truth itself: strong photometric and
    seasonal shifts, a blur/sharpen difference and (usually) pasted changes."""
    look = draw_look(rng, config.synth_photometric_strength, config.synth_seasonal_strength)
    out = blur_or_sharpen(look.apply(gt), rng)
    changed = np.zeros(out.shape[1:], dtype=bool)
    if rng.random() < config.synth_p_paste:
        out, changed = paste_changes(out, rng, donor, focus, config.paste_count, config.paste_size_px)
    return AugmentedRef(out, changed, look)
