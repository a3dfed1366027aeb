"""DS-DiT run settings, resolved once: options > the model folder's inference.json > defaults.

`DSDiTSettings.resolve(options)` reads the model folder's ``config.json`` and ``inference.json``
(no weights, no torch model), picks every value, checks it once and returns a frozen object;
`DSDiTUpscaler.from_settings` builds the upscaler from it and the loaded model(s).
`check_sampling` is the one check of steps / guidance / lambda_weak (CLI, API, inference.json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import ModelError, OptionError
from dsdit_geo.weights import (
    InferenceDefaults,
    check_config_sizes,
    read_inference_defaults,
    read_model_config,
    resolve_guide_dir,
    resolve_scale_models,
    resolve_weights_dir,
    weights_for_scale,
)

DEFAULT_STEPS = 8
DEFAULT_GUIDANCE = 1.0
DEFAULT_REF_SCALE_WEAK = 0.0  # the weak pass runs without its Ref attention term
DEFAULT_DETAIL = 1.0  # the whole generated sample
MAX_DETAIL = 4.0
DEFAULT_REF_DETAIL = 0.0  # no trust-gated Ref detail unless the model folder asks for it
MAX_REF_DETAIL = 2.0
DEFAULT_REF_DETAIL_SIGMA_LR_PX = 0.25
DEFAULT_LR_SHARPNESS_RAMP = (0.8, 0.9)  # (blurry, sharp) LR sharpness: the blurry schedule's full / no weight
DEFAULT_START = "noise"  # inference.json "start": "zero" for a one-step model (weights.START_MODES)
DEFAULT_TILE_PX = 128  # rounded up to a multiple of the patch size
DEFAULT_OVERLAP_PX = 32
T = TypeVar("T", int, float)


def check_sampling(
    steps: int | None,
    guidance: float | None,
    ref_scale_weak: float | None,
    detail: float | None = None,
    ref_detail: float | None = None,
) -> None:
    """OptionError for a sampling value out of range (None = not given, not checked)."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise OptionError(f"--steps must be at least 1, got {steps}")
    if guidance is not None and not math.isfinite(float(guidance)):
        raise OptionError(f"--guidance must be a finite number, got {guidance}")
    if guidance is not None and guidance < 0:  # w 0 is the guide alone; below it points away from the model
        raise OptionError(f"--guidance must be >= 0 (1 turns autoguidance off), got {guidance:g}")
    if ref_scale_weak is not None and not (math.isfinite(float(ref_scale_weak)) and ref_scale_weak >= 0):
        raise OptionError(f"--ref-scale-weak must be a finite number >= 0, got {ref_scale_weak}")
    if detail is not None and not (math.isfinite(float(detail)) and 0 <= detail <= MAX_DETAIL):
        raise OptionError(f"--detail must be a number from 0 to {MAX_DETAIL:g}, got {detail}")
    if ref_detail is not None and not (math.isfinite(float(ref_detail)) and 0 <= ref_detail <= MAX_REF_DETAIL):
        raise OptionError(f"--ref-detail must be a number from 0 to {MAX_REF_DETAIL:g}, got {ref_detail:g}")


@dataclass(frozen=True)
class DSDiTSettings:
    """Everything a DS-DiT run needs besides the loaded weights (all resolved and checked).

    weights: the model folder; guide: the autoguidance weak model's folder (None: the model
    itself at lambda ref_scale_weak); detail: share of the generated detail kept over the
    model's deterministic base (`DSDiTUpscaler`); ref_detail: the trust-gated Ref detail gain
    as (scale factor, gain) pairs (`dsdit_geo.flow.ref_detail`; one pair = the same gain at every
    scale), ref_detail_sigma_lr_px its high-pass sigma in LR px; ref_detail_blurry: the gain
    schedule for a blurry LR, blended in by the measured LR sharpness over lr_sharpness_ramp
    (`dsdit_geo.lr_sharpness`; empty: off, and always off under an explicit --ref-detail);
    start: "noise" or "zero", what sampling
    starts from at sigma 1 (inference.json only: a property of how the model was trained);
    device: a resolved torch device name ("cpu", "cuda:0"); tile_px / overlap_px: defaults when
    the user gives none; patch_px, provides_trust, injection: from config.json; scale_models:
    (smallest scale factor, weights folder) pairs from inference.json, the per-scale weights
    (`weights_at`; every other setting is shared).
    """

    weights: Path
    guide: Path | None
    steps: int
    guidance: float
    ref_scale_weak: float
    detail: float
    ref_detail: tuple[tuple[float, float], ...]
    ref_detail_sigma_lr_px: float
    start: str
    seed: int
    device: str
    tile_px: int
    overlap_px: int
    patch_px: int
    injection: str
    provides_trust: bool
    scale_models: tuple[tuple[float, Path], ...] = ()
    ref_detail_blurry: tuple[tuple[float, float], ...] = ()
    lr_sharpness_ramp: tuple[float, float] = DEFAULT_LR_SHARPNESS_RAMP

    def weights_at(self, scale: float | None) -> Path:
        """The weights folder that runs at ``scale`` (None: ``weights``)."""
        return weights_for_scale(self.weights, self.scale_models, scale)

    @property
    def uses_guide(self) -> bool:
        """Whether a separate guide model runs (w = 1 never runs the weak pass)."""
        return self.guide is not None and self.guidance != 1.0

    @property
    def guide_label(self) -> str:
        """The guide's name in tags: its path inside the model folder, else its folder name."""
        if self.guide is None:
            return ""
        try:
            return self.guide.resolve().relative_to(self.weights.resolve()).as_posix()
        except ValueError:
            return self.guide.name

    @classmethod
    def resolve(cls, options: UpscaleOptions) -> DSDiTSettings:
        """Settings for `options` (method dsdit). ModelError / OptionError (one line) for a bad
        model folder, guide, inference.json or value; reads no weights."""
        from dsdit_geo.device import resolve_device  # torch: only once a DS-DiT run is asked for

        folder = resolve_weights_dir(options.weights)
        config = read_model_config(folder)
        check_config_sizes(config, folder)
        recommended = read_inference_defaults(folder)
        steps = _pick(options.steps, recommended.steps, DEFAULT_STEPS)
        guidance = float(_pick(options.guidance, recommended.guidance, DEFAULT_GUIDANCE))
        weak = float(_pick(options.ref_scale_weak, recommended.ref_scale_weak, DEFAULT_REF_SCALE_WEAK))
        detail = float(_pick(options.detail, recommended.detail, DEFAULT_DETAIL))
        check_sampling(steps, guidance, weak, detail, options.ref_detail)
        ref_detail_blurry: tuple[tuple[float, float], ...] = ()
        if options.ref_detail is not None:  # the user's gain at every scale, whatever the LR
            ref_detail = ((1.0, float(options.ref_detail)),)
        else:
            ref_detail = recommended.ref_detail or ((1.0, DEFAULT_REF_DETAIL),)
            ref_detail_blurry = recommended.ref_detail_blurry or ()
        for _, gain in (*ref_detail, *ref_detail_blurry):
            if gain > MAX_REF_DETAIL:
                raise ModelError(f"{folder}/inference.json: ref_detail gains must be at most "
                                 f"{MAX_REF_DETAIL:g}, got {gain:g}")
        sigma_lr_px = recommended.ref_detail_sigma_lr_px or DEFAULT_REF_DETAIL_SIGMA_LR_PX  # never 0
        start = recommended.start or DEFAULT_START
        if start == "zero" and steps != 1:
            raise OptionError(f"{folder.name} is a one-step model (inference.json start \"zero\"): "
                              f"--steps must be 1, got {steps}")
        guide = resolve_guide_dir(options.guide, folder, recommended.guide)
        scale_models = resolve_scale_models(folder, recommended.scale_models)
        patch_px = int(config.get("patch_size", 8))
        tile_px, overlap_px = _tiling(recommended, patch_px, folder)
        injection = str(config.get("injection", "plw"))
        return cls(
            weights=folder,
            guide=guide,
            steps=steps,
            guidance=guidance,
            ref_scale_weak=weak,
            detail=detail,
            ref_detail=ref_detail,
            ref_detail_sigma_lr_px=float(sigma_lr_px),
            start=start,
            seed=int(options.seed),
            device=str(resolve_device(options.device)),
            tile_px=tile_px,
            overlap_px=overlap_px,
            patch_px=patch_px,
            injection=injection,
            provides_trust=injection == "plw",
            scale_models=scale_models,
            ref_detail_blurry=ref_detail_blurry,
            lr_sharpness_ramp=recommended.lr_sharpness_ramp or DEFAULT_LR_SHARPNESS_RAMP,
        )


def _pick(option: T | None, recommended: T | None, default: T) -> T:
    """The first value that is not None: explicit option, inference.json, built-in default."""
    if option is not None:
        return option
    return recommended if recommended is not None else default


def _tiling(recommended: InferenceDefaults, patch_px: int, folder: Path) -> tuple[int, int]:
    """Default (tile_px, overlap_px) from inference.json or the constants; ModelError when
    inference.json's tile does not suit the model's patch size."""
    if recommended.tile_px is None:
        tile_px = -(-DEFAULT_TILE_PX // patch_px) * patch_px
    elif recommended.tile_px % patch_px:
        raise ModelError(
            f"{folder}/inference.json: tile_px {recommended.tile_px} is not a multiple of the "
            f"model's patch size {patch_px}"
        )
    else:
        tile_px = recommended.tile_px
    if recommended.overlap_px is None:
        return tile_px, min(DEFAULT_OVERLAP_PX, tile_px // 2)
    if recommended.overlap_px >= tile_px:
        raise ModelError(
            f"{folder}/inference.json: overlap_px {recommended.overlap_px} must be below tile_px {tile_px}"
        )
    return tile_px, recommended.overlap_px
