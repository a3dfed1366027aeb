"""Make the LR from an HR image, as a sensor would, and put it back on the HR grid.

Pure numpy (+ the GDAL kernels of `dsdit_geo.resample`, which the pipeline uses too). Images
are (C, H, W) float32 in the model range (0..1 nominal); `scale` = LR pixel size / HR pixel size
(fractional allowed).

The chain: Gaussian blur of sigma = b * scale HR pixels (the optics), area averaging by `scale`
(the detector, `resample.downsample_average`), optional sharpening of the LR (an unsharp mask, as
many imagery products apply; training only), optional Gaussian noise and 8- or 12-bit
quantisation of the LR, then GDAL cubic back onto the HR grid (`resample.upsample_cubic`, the
kernel the pipeline's WarpedVRT read uses). With b in [0.25, 0.55] the MTF at the LR Nyquist
frequency (blur x box) is 0.47 .. 0.14, 0.29 at the deterministic b = 0.4: the range quoted
for Sentinel-2 and similar sensors.

Borders: `degrade_crop` degrades a crop with a margin of `margin_px(scale)` HR pixels on each
side and keeps the centre, which then equals the whole-image degradation exactly (no edge
artefacts); `degrade_to_lr` (whole images, evaluation) reflects at the image edges.

Speed: every step is linear and separable, so `degrade_crop` applies them as small matrices
(rows and columns): Gaussian taps as scipy builds them, GDAL's fractional area weights and GDAL's
cubic (Keys a = -0.5) taps. Away from the image edges (which the margin guarantees) these equal
`resample.downsample_average` / `resample.upsample_cubic` to float32 rounding (tested), at a
fraction of the cost of a GDAL warp per sample; `method="gdal"` runs the GDAL functions instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt, gaussian_filter1d

from dsdit_geo.resample import downsample_average, upsample_cubic

BLUR_TRUNCATE = 3.0     # Gaussian kernel radius in sigmas
# Sensor models ("kernels") of the LR:
#   gauss_area: Gaussian optics (sigma b * scale) then area averaging (the detector) - the default;
#   bicubic_aa: antialiased bicubic downsampling as PIL / OpenCV INTER_AREA-free / Matlab imresize
#               do it (Keys a = -0.5 kernel stretched by the scale, taps renormalised at edges);
#   s2_mtf:     a Sentinel-2-like system MTF: a Gaussian PSF whose MTF at the LR Nyquist
#               frequency is S2_MTF_AT_NYQUIST, point-sampled at the LR pixel centres.
KERNELS = ("gauss_area", "bicubic_aa", "s2_mtf")
S2_MTF_AT_NYQUIST = 0.25
# Gaussian MTF(f) = exp(-2 pi^2 sigma^2 f^2) at f = 1 / (2 scale)  ->  sigma = S2_MTF_SIGMA * scale
S2_MTF_SIGMA = math.sqrt(2.0 * math.log(1.0 / S2_MTF_AT_NYQUIST)) / math.pi
CUBIC_RADIUS_LR = 2.0   # GDAL cubic support radius in LR pixels
# Optional LR sharpening (the processing many imagery products apply): an unsharp mask on the LR,
# lr + amount * (lr - G(lr)), G a Gaussian of this sigma in LR pixels (radius 3 sigma).
SHARPEN_SIGMA_LR_PX = 1.0
CUBIC_A = -0.5          # GDAL's Keys parameter


def gaussian_matrix(n_px: int, sigma_px: float) -> np.ndarray:
    """(n, n) float64 operator of a 1-D Gaussian blur with scipy's taps (radius
    int(3 sigma + 0.5), normalised) and 'reflect' (half-sample symmetric) edges."""
    if sigma_px <= 0:
        return np.eye(n_px)
    radius = int(BLUR_TRUNCATE * sigma_px + 0.5)
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * (offsets / sigma_px) ** 2)
    taps /= taps.sum()
    rows = np.repeat(np.arange(n_px), offsets.size)
    cols = np.mod(np.arange(n_px)[:, None] + offsets[None, :], 2 * n_px).ravel()
    cols = np.where(cols >= n_px, 2 * n_px - 1 - cols, cols)
    out = np.zeros((n_px, n_px))
    np.add.at(out, (rows, cols), np.tile(taps, n_px))
    return out


def average_matrix(n_in_px: int, scale: float) -> np.ndarray:
    """(floor(n/scale), n) float64 operator of 1-D area averaging: LR cell i covers HR
    [i*scale, (i+1)*scale), each HR pixel weighted by its overlap (GDAL average)."""
    n_out = int(np.floor(n_in_px / scale + 1e-9))
    edges = np.arange(n_out + 1) * scale
    hr_px = np.arange(n_in_px)
    lo = np.maximum(edges[:-1, None], hr_px[None, :])
    hi = np.minimum(edges[1:, None], hr_px[None, :] + 1)
    return np.clip(hi - lo, 0.0, None) / scale


def _keys(dist: np.ndarray) -> np.ndarray:
    d = np.abs(dist)
    a = CUBIC_A
    near = (a + 2) * d**3 - (a + 3) * d**2 + 1
    far = a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def cubic_matrix(n_lr_px: int, scale: float, start_px: int, n_out_px: int) -> np.ndarray:
    """(n_out, n_lr) float64 operator of GDAL cubic upsampling onto HR pixels
    start_px .. start_px + n_out - 1 (HR grid anchored at the LR grid's corner). Taps beyond
    the LR are clamped to its edge, which GDAL does differently: use away from the edges."""
    centre = (np.arange(start_px, start_px + n_out_px) + 0.5) / scale - 0.5
    first = np.floor(centre).astype(int)
    out = np.zeros((n_out_px, n_lr_px))
    rows = np.arange(n_out_px)
    for k in range(-1, 3):
        idx = first + k
        np.add.at(out, (rows, np.clip(idx, 0, n_lr_px - 1)), _keys(centre - idx))
    return out


def bicubic_aa_matrix(n_in_px: int, scale: float) -> np.ndarray:
    """(floor(n/scale), n) float64 operator of antialiased bicubic downsampling (PIL / Matlab
    imresize): LR pixel i averages HR pixels j with Keys (a = -0.5) weights of
    ((j + 0.5) - (i + 0.5) scale) / scale; taps outside the image are dropped and the rest
    renormalised (PIL's edge rule)."""
    n_out = int(np.floor(n_in_px / scale + 1e-9))
    centres = (np.arange(n_out) + 0.5) * scale
    dist = ((np.arange(n_in_px) + 0.5)[None, :] - centres[:, None]) / scale
    out = _keys(dist)
    return out / out.sum(axis=1, keepdims=True)


def point_sample_matrix(n_in_px: int, scale: float) -> np.ndarray:
    """(floor(n/scale), n) float64 operator that samples the HR signal at the LR pixel centres
    ((i + 0.5) scale - 0.5 in HR pixel coordinates), linearly between HR pixels."""
    n_out = int(np.floor(n_in_px / scale + 1e-9))
    pos = np.clip((np.arange(n_out) + 0.5) * scale - 0.5, 0.0, n_in_px - 1.0)
    left = np.floor(pos).astype(int)
    right = np.minimum(left + 1, n_in_px - 1)
    frac = pos - left
    out = np.zeros((n_out, n_in_px))
    np.add.at(out, (np.arange(n_out), left), 1.0 - frac)
    np.add.at(out, (np.arange(n_out), right), frac)
    return out


def down_matrix(n_in_px: int, params: "DegradeParams") -> np.ndarray:
    """(floor(n/scale), n) float64 operator of the LR sensor model `params.kernel` along one axis."""
    scale = params.scale
    if params.kernel == "bicubic_aa":
        return bicubic_aa_matrix(n_in_px, scale)
    if params.kernel == "s2_mtf":
        return point_sample_matrix(n_in_px, scale) @ gaussian_matrix(n_in_px, S2_MTF_SIGMA * scale)
    return average_matrix(n_in_px, scale) @ gaussian_matrix(n_in_px, params.blur * scale)


def separable_apply(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (C, rows.shape[0], cols.shape[0]) float32: rows @ image[c] @ cols.T per band.
    Runs in torch on one thread (numpy's BLAS pool would spread these tiny products over the
    cores the training step needs). Not for threads running beside a torch computation."""
    image_t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    rows_t = torch.from_numpy(rows.astype(np.float32))
    cols_t = torch.from_numpy(np.ascontiguousarray(cols.T, dtype=np.float32))
    threads = torch.get_num_threads()
    if threads == 1:
        return torch.matmul(torch.matmul(rows_t, image_t), cols_t).numpy()
    # Products this small only lose from a thread pool (100x slower on busy cores); the
    # setting is restored at once, so the training step keeps its threads.
    torch.set_num_threads(1)
    try:
        return torch.matmul(torch.matmul(rows_t, image_t), cols_t).numpy()
    finally:
        torch.set_num_threads(threads)


def area_downsample(image: np.ndarray, scale: float) -> np.ndarray:
    """(C, H, W) -> (C, floor(H/scale), floor(W/scale)) float32; equals
    `resample.downsample_average` (separable matrices instead of a GDAL warp)."""
    return separable_apply(image, average_matrix(image.shape[1], scale),
                      average_matrix(image.shape[2], scale))


@dataclass(frozen=True)
class DegradeConfig:
    """Ranges of the random degradation (training) and the fixed values (deterministic mode).

    scale_range:       LR/HR pixel-size ratio, drawn log-uniform.
    kernels:           sensor models drawn uniformly per sample (see KERNELS); the first one is
                       used in deterministic mode.
    blur_range:        b, blur sigma = b * scale HR px, drawn uniform; blur_fixed when deterministic
                       (kernel "gauss_area" only).
    noise_prob, noise_sigma_range: chance of LR Gaussian noise, its sigma (model range, log-uniform).
    quant_probs:       chances of 8-bit and of 12-bit quantisation of the LR (else none).
    sharpen_prob, sharpen_range: chance of an unsharp mask on the LR (SHARPEN_SIGMA_LR_PX) and
                       its amount, drawn uniform; 0 = never (then no random draw is made, so
                       older runs' sample streams are unchanged). Never in deterministic mode.
    """

    scale_range: tuple[float, float] = (4.0, 10.0)
    kernels: tuple[str, ...] = ("gauss_area",)
    blur_range: tuple[float, float] = (0.25, 0.55)
    blur_fixed: float = 0.4
    noise_prob: float = 0.5
    noise_sigma_range: tuple[float, float] = (0.001, 0.015)
    quant_probs: tuple[float, float] = (0.4, 0.3)
    sharpen_prob: float = 0.0
    sharpen_range: tuple[float, float] = (0.2, 1.0)


DEFAULT_DEGRADE = DegradeConfig()


@dataclass(frozen=True)
class DegradeParams:
    """One drawn degradation. noise_sigma 0 = none; quant_levels 255 / 4095 / 0 (none);
    kernel: one of KERNELS (blur is used by "gauss_area" only); sharpen: the LR unsharp-mask
    amount (0 = none)."""

    scale: float
    blur: float
    noise_sigma: float = 0.0
    quant_levels: int = 0
    kernel: str = "gauss_area"
    sharpen: float = 0.0

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise ValueError(f"unknown degradation kernel {self.kernel!r} (known: {', '.join(KERNELS)})")

    @property
    def reach_sigmas(self) -> float:
        """The kernel's reach before the LR grid, in units of `scale` HR px (the blur b for
        gauss_area; the equivalent for the others), for margin checks."""
        if self.kernel == "bicubic_aa":
            return 2.0 / BLUR_TRUNCATE
        if self.kernel == "s2_mtf":
            return S2_MTF_SIGMA
        return self.blur

    @property
    def sharpen_taps_lr(self) -> int:
        """LR pixels the sharpening reaches on each side (0 without it)."""
        return int(BLUR_TRUNCATE * SHARPEN_SIGMA_LR_PX + 0.5) if self.sharpen > 0 else 0


def draw_scale(rng: np.random.Generator, scale_range: tuple[float, float]) -> float:
    """Log-uniform scale in [lo, hi] (a single value when lo == hi)."""
    lo, hi = scale_range
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


def draw_params(rng: np.random.Generator, scale: float,
                config: DegradeConfig = DEFAULT_DEGRADE) -> DegradeParams:
    """Random sensor model, blur, noise and quantisation for one sample at `scale`. With a
    single kernel no extra random draw is made (older runs' sample streams are unchanged)."""
    kernel = config.kernels[0] if len(config.kernels) == 1 else str(config.kernels[int(rng.integers(len(config.kernels)))])
    blur = float(rng.uniform(*config.blur_range))
    noise = 0.0
    if rng.random() < config.noise_prob:
        lo, hi = config.noise_sigma_range
        noise = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    u = rng.random()
    p8, p12 = config.quant_probs
    quant = 255 if u < p8 else 4095 if u < p8 + p12 else 0
    sharpen = 0.0
    if config.sharpen_prob > 0 and rng.random() < config.sharpen_prob:
        sharpen = float(rng.uniform(*config.sharpen_range))
    return DegradeParams(scale=float(scale), blur=blur, noise_sigma=noise, quant_levels=quant, kernel=kernel,
                         sharpen=sharpen)


def deterministic_params(scale: float, config: DegradeConfig = DEFAULT_DEGRADE,
                         kernel: str | None = None) -> DegradeParams:
    """Fixed blur, no noise, no quantisation (evaluation); `kernel` (default: the config's
    first) is the sensor model."""
    return DegradeParams(scale=float(scale), blur=config.blur_fixed, kernel=kernel or config.kernels[0])


def margin_px(scale: float, max_blur: float = DEFAULT_DEGRADE.blur_range[1]) -> int:
    """HR pixels to add on each side of a crop so that its centre degrades as in the whole
    image: blur reach (3 sigma) + one LR pixel (the averaging cell) + cubic reach (2 LR px) + one
    LR pixel for the partial cell `downsample_average` drops at the far edge."""
    return int(math.ceil((BLUR_TRUNCATE * max_blur + 2.0 + CUBIC_RADIUS_LR) * scale)) + 1


def max_reach(config: DegradeConfig = DEFAULT_DEGRADE) -> float:
    """The largest kernel reach (in `scale` units, like b) any sample of `config` can have."""
    reach = max(config.blur_range[1], config.blur_fixed)
    for kernel in config.kernels:
        reach = max(reach, DegradeParams(scale=2.0, blur=0.0, kernel=kernel).reach_sigmas)
    return reach + (SHARPEN_SIGMA_LR_PX if config.sharpen_prob > 0 else 0.0)


def margin_is_enough(region_px: int, crop_px: int, margin: int, params: DegradeParams) -> bool:
    """Whether the crop [margin, margin + crop_px) of a region of `region_px` pixels degrades
    exactly as inside an endless image: its cubic taps (widened by the sharpening's reach) stay
    on whole LR cells of the region, and those cells hold no pixel within the blur radius of the
    region's edge."""
    if crop_px < 1:
        return False
    scale = params.scale
    reach = params.reach_sigmas
    radius_px = int(BLUR_TRUNCATE * reach * scale + 0.5) if reach > 0 else 0
    n_lr = int(np.floor(region_px / scale + 1e-9))
    first_tap = int(np.floor((margin + 0.5) / scale - 0.5)) - 1 - params.sharpen_taps_lr
    last_tap = int(np.floor((margin + crop_px - 0.5) / scale - 0.5)) + 2 + params.sharpen_taps_lr
    return (first_tap >= 0 and last_tap <= n_lr - 1 and first_tap * scale >= radius_px
            and (last_tap + 1) * scale <= region_px - radius_px)


def _blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Separable Gaussian blur of (C, H, W) along H and W, reflecting at the edges."""
    if sigma_px <= 0:
        return image
    out = gaussian_filter1d(image, sigma_px, axis=1, mode="reflect", truncate=BLUR_TRUNCATE)
    return gaussian_filter1d(out, sigma_px, axis=2, mode="reflect", truncate=BLUR_TRUNCATE)


def sharpen_lr(lr: np.ndarray, amount: float) -> np.ndarray:
    """(C, h, w) LR -> the same with an unsharp mask lr + amount * (lr - G(lr)), G a Gaussian of
    SHARPEN_SIGMA_LR_PX LR px reflecting at the edges (a crop's margin keeps the edges out of
    its centre); amount 0 returns `lr` unchanged."""
    if amount <= 0:
        return lr
    return (lr + amount * (lr - _blur(lr, SHARPEN_SIGMA_LR_PX))).astype(np.float32, copy=False)


def apply_degradation(hr: np.ndarray, params: DegradeParams,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """(C, H, W) HR, model range -> (C, floor(H/scale), floor(W/scale)) float32 LR.
    `rng` draws the noise (required when params.noise_sigma > 0)."""
    hr = np.asarray(hr, dtype=np.float32)
    if params.kernel == "gauss_area":
        lr = downsample_average(_blur(hr, params.blur * params.scale), params.scale)
    else:
        lr = separable_apply(hr, down_matrix(hr.shape[1], params), down_matrix(hr.shape[2], params))
    return _noise_and_quantise(sharpen_lr(lr, params.sharpen), params, rng)


def _noise_and_quantise(lr: np.ndarray, params: DegradeParams,
                        rng: np.random.Generator | None) -> np.ndarray:
    if params.noise_sigma > 0:
        if rng is None:
            raise ValueError("noise needs a random generator")
        lr = lr + params.noise_sigma * rng.standard_normal(lr.shape, dtype=np.float32)
    if params.quant_levels:
        lr = np.round(np.clip(lr, 0.0, 1.0) * params.quant_levels) / params.quant_levels
    return lr.astype(np.float32, copy=False)


def degrade_to_lr(hr: np.ndarray, scale: float, rng: np.random.Generator | None = None,
                  config: DegradeConfig = DEFAULT_DEGRADE, kernel: str | None = None) -> np.ndarray:
    """Whole image (C, H, W) model range -> LR (C, floor(H/scale), floor(W/scale)) float32.

    rng None: deterministic (blur b = config.blur_fixed, no noise, no quantisation, sensor
    model `kernel`), for evaluation; else kernel, blur, noise and quantisation are drawn from `rng`.
    """
    params = deterministic_params(scale, config, kernel) if rng is None else draw_params(rng, scale, config)
    return apply_degradation(hr, params, rng)


def lr_on_hr_grid(lr: np.ndarray, scale: float, hr_shape: tuple[int, int]) -> np.ndarray:
    """(C, h, w) LR -> (C, *hr_shape) float32 on the HR grid (GDAL cubic, both grids sharing the
    top-left corner). HR pixels beyond the LR's extent (the partial LR cell at the bottom and
    right) take the nearest computed value instead of NaN."""
    out = upsample_cubic(lr, scale, hr_shape)
    missing = ~np.isfinite(out).all(axis=0)
    if missing.any():
        if missing.all():
            raise ValueError(f"LR {lr.shape} at scale {scale} does not cover {hr_shape}")
        rows, cols = distance_transform_edt(missing, return_distances=False, return_indices=True)
        out = out[:, rows, cols]
    return out


def degrade_crop(hr_region: np.ndarray, margin: int, params: DegradeParams,
                 rng: np.random.Generator | None = None,
                 method: str = "matrix") -> tuple[np.ndarray, np.ndarray]:
    """Degrade an HR region that has `margin` extra pixels on every side of the crop.

    hr_region: (C, S + 2m, S' + 2m) model range, m = margin >= margin_px(scale).
    Returns (lr, lr_hr): lr (C, floor((S+2m)/scale), ...) the region's LR (its grid anchored at
    the region's top-left corner) and lr_hr (C, S, S') the LR on the HR grid over the crop.
    method "matrix" (fast, separable operators) or "gdal" (`resample` functions); they agree
    to float32 rounding. Noise is drawn from `rng` after the blur/average, identically for both.
    """
    hr_region = np.asarray(hr_region, dtype=np.float32)
    height, width = hr_region.shape[1:]
    crop_h, crop_w = height - 2 * margin, width - 2 * margin
    for n_px, crop_px in ((height, crop_h), (width, crop_w)):
        if not margin_is_enough(n_px, crop_px, margin, params):
            raise ValueError(f"margin {margin} too small for scale {params.scale}, blur {params.blur}")
    if method == "gdal":
        if params.kernel != "gauss_area":
            raise ValueError(f"method 'gdal' implements kernel gauss_area only, not {params.kernel!r}")
        lr = apply_degradation(hr_region, params, rng)
        lr_hr = upsample_cubic(lr, params.scale, (height, width))
        lr_hr = lr_hr[:, margin:height - margin, margin:width - margin]
    elif method == "matrix":
        down_rows, down_cols = down_matrix(height, params), down_matrix(width, params)
        lr = separable_apply(hr_region, down_rows, down_cols)
        lr = _noise_and_quantise(sharpen_lr(lr, params.sharpen), params, rng)
        up_rows = cubic_matrix(lr.shape[1], params.scale, margin, crop_h)
        up_cols = cubic_matrix(lr.shape[2], params.scale, margin, crop_w)
        lr_hr = separable_apply(lr, up_rows, up_cols)
    else:
        raise ValueError(f"unknown method {method!r}")
    return lr.astype(np.float32, copy=False), np.ascontiguousarray(lr_hr, dtype=np.float32)
