"""DS-DiT model folders: find the bundled default, check a folder, load it, read its settings.

A model folder is what ``DSDiTTransformer.save_pretrained`` writes::

    config.json                              model config (``_class_name`` DSDiTTransformer)
    diffusion_pytorch_model.safetensors      weights (or a sharded ``...safetensors.index.json``)
    inference.json                           optional: recommended sampling / tiling settings
    MODEL_CARD.md                            optional: how it was trained and measured

``inference.json`` is a JSON object with any of ``steps`` (int >= 1), ``guidance`` (w, float),
``ref_scale_weak`` (lambda of the weak pass, float >= 0), ``detail`` (share of the generated
detail kept on top of the model's deterministic base, float >= 0), ``ref_detail`` (the
trust-gated Ref detail gain, ``dsdit_geo.flow.ref_detail``: a number >= 0 for every scale factor,
or an object {scale factor: gain}, e.g. ``{"4": 0, "8": 0.5}``, linear in between),
``ref_detail_sigma_lr_px`` (its high-pass sigma in LR pixels, > 0), ``ref_detail_blurry``
(a second gain schedule of the same form for a blurry LR, blended in by the scene's LR sharpness
measured against the Ref, ``dsdit_geo.lr_sharpness``) and ``lr_sharpness_ramp`` ([blurry, sharp]
sharpness: the blurry schedule in full at or below the first, not at all from the second),
``guide`` (the autoguidance weak model:
a model folder, relative to this folder or absolute, or ``"self"``), ``tile_px`` and
``overlap_px`` (HR px), ``scale_models`` (per-scale weights: {smallest scale factor: model
folder}, relative to this folder or absolute, e.g. ``{"6": "x8"}``: at a scale factor >= a key the
weights of the folder with the largest such key run, below every key this folder's own; the
folders must hold the same architecture, and every other setting stays this folder's); other
keys (notes, measurements) are ignored. Explicit options override it.

The bundled model lives in ``dsdit_geo/weights/default/`` (shipped as package data). Nothing
here ever downloads: every path is local. Problems raise one-line ``ModelError``s.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsdit_geo.errors import ModelError

if TYPE_CHECKING:  # torch / diffusers load only when a model does
    from dsdit_geo.model.transformer import DSDiTTransformer

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent / "default"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"
WEIGHTS_INDEX_FILE = WEIGHTS_FILE + ".index.json"
INFERENCE_FILE = "inference.json"
MODEL_CLASS = "DSDiTTransformer"
SELF_GUIDE = "self"  # autoguidance's weak pass is the model itself (the paper's lambda_weak pass)


def default_weights_dir() -> Path:
    """The bundled model folder; ModelError when it is not there (no ``config.json``)."""
    folder = Path(DEFAULT_WEIGHTS_DIR)
    if not (folder / CONFIG_FILE).is_file():
        raise ModelError("no bundled model found; pass --weights DIR")
    return folder


def resolve_weights_dir(weights: str | os.PathLike[str] | None) -> Path:
    """The model folder to use: ``weights`` or, when None, the bundled one. ModelError unless
    it is a folder holding ``config.json`` and safetensors weights."""
    if weights is None:
        return default_weights_dir()
    folder = Path(os.path.expanduser(os.fspath(weights)))
    if not folder.exists():
        raise ModelError(f"model folder not found: {folder}")
    if not folder.is_dir():
        raise ModelError(
            f"--weights must be a model folder (config.json + safetensors), got the file {folder}"
        )
    if not (folder / CONFIG_FILE).is_file():
        raise ModelError(f"{folder} is not a DS-DiT model folder: it has no {CONFIG_FILE}")
    if not ((folder / WEIGHTS_FILE).is_file() or (folder / WEIGHTS_INDEX_FILE).is_file()):
        raise ModelError(f"{folder} has no {WEIGHTS_FILE}: the model's weights are missing")
    return folder


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read {what} {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{what} {path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{what} {path} must hold a JSON object, got {type(data).__name__}")
    return data


def read_model_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of ``folder`` as a dict; ModelError unless it describes a DS-DiT model."""
    config = _read_json_object(folder / CONFIG_FILE, "model config")
    class_name = config.get("_class_name")
    if class_name != MODEL_CLASS:
        found = f"a {class_name!r} model" if class_name else "no model class"
        raise ModelError(f"{folder} is not a DS-DiT model: its {CONFIG_FILE} describes {found}")
    return config


# Config sizes beyond these are no model this code can run: refused before anything is allocated.
_CONFIG_INT_LIMITS = {
    "depth": (1, 256),
    "num_heads": (1, 1024),
    "hidden_dim": (1, 65536),
    "patch_size": (1, 256),
    "in_channels": (1, 256),
    "freq_channels": (1, 65536),
}
_MAX_MLP_RATIO = 64.0
MAX_INFERENCE_TILE_PX = 8192


def check_config_sizes(config: dict[str, Any], folder: Path) -> None:
    """ModelError for sizes in a model config that are out of range or would not fit in memory
    (depth 1e6, num_heads 0, hidden_dim not a multiple of num_heads, ...)."""
    from dsdit_geo.memory import memory_budget_bytes

    where = f"{folder}/{CONFIG_FILE}"
    for key, (low, high) in _CONFIG_INT_LIMITS.items():
        value = config.get(key)
        bad_int = isinstance(value, bool) or not isinstance(value, int)
        if value is not None and (bad_int or not low <= value <= high):
            raise ModelError(f"{where}: {key} must be an integer from {low} to {high}, got {value!r}")
    ratio = config.get("mlp_ratio")
    ratio_ok = isinstance(ratio, (int, float)) and not isinstance(ratio, bool) and math.isfinite(ratio)
    if ratio is not None and not (ratio_ok and 0 < ratio <= _MAX_MLP_RATIO):
        raise ModelError(f"{where}: mlp_ratio must be a number in (0, {_MAX_MLP_RATIO:g}], got {ratio!r}")
    hidden, heads = config.get("hidden_dim", 192), config.get("num_heads", 3)
    if hidden % heads:
        raise ModelError(f"{where}: hidden_dim {hidden} must be a multiple of num_heads {heads}")
    # three streams, each block ~ (4 attention + 2 * mlp_ratio MLP) hidden^2 weights, float32
    n_bytes = 3 * config.get("depth", 5) * (4 + 2 * (ratio or 3.0)) * hidden * hidden * 4
    if n_bytes > memory_budget_bytes():
        size = f"about {n_bytes / 2**30:,.0f} GiB"
        raise ModelError(f"{where}: a model this size ({size}) does not fit in memory")


@dataclass(frozen=True)
class InferenceDefaults:
    """Recommended settings from ``inference.json``; None = not given (use the code's default)."""

    steps: int | None = None
    guidance: float | None = None
    ref_scale_weak: float | None = None
    detail: float | None = None
    ref_detail: tuple[tuple[float, float], ...] | None = None  # (scale factor, gain), sorted
    ref_detail_sigma_lr_px: float | None = None
    ref_detail_blurry: tuple[tuple[float, float], ...] | None = None  # as ref_detail, for a blurry LR
    lr_sharpness_ramp: tuple[float, float] | None = None  # (blurry, sharp), 0 < blurry < sharp
    tile_px: int | None = None
    overlap_px: int | None = None
    guide: str | None = None
    start: str | None = None
    scale_models: tuple[tuple[float, str], ...] | None = None  # (smallest scale factor, folder), sorted


START_MODES = ("noise", "zero")
"""Where sampling starts at sigma 1: position-keyed Gaussian noise (a diffusion model), or all
zeros (a deterministic one-step model trained with ``one_step``; see `train.loop`)."""


def _int_setting(
    data: dict[str, Any], key: str, minimum: int, path: Path, maximum: int | None = None
) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelError(f"{path}: {key} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ModelError(f"{path}: {key} must be at most {maximum}, got {value!r}")
    return value


def _float_setting(data: dict[str, Any], key: str, minimum: float | None, path: Path) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (minimum is not None and value < minimum):
        bound = "a finite number" if minimum is None else f"a finite number >= {minimum:g}"
        raise ModelError(f"{path}: {key} must be {bound}, got {value!r}")
    return float(value)


def check_gain(gain: Any, label: str) -> float:
    """`gain` as a float when it is a finite number >= 0 (not a bool); ValueError naming
    ``label`` otherwise."""
    ok = isinstance(gain, (int, float)) and not isinstance(gain, bool) and math.isfinite(gain)
    if not ok or gain < 0:
        raise ValueError(f"{label} must be a finite number >= 0, got {gain!r}")
    return float(gain)


def parse_gain_schedule(value: Any, key: str) -> tuple[tuple[float, float], ...]:
    """{scale factor > 0: gain >= 0} (JSON keys are strings: {"4": 0, "8": 0.4}) as sorted
    (scale factor, gain) pairs; ValueError naming ``key`` on anything else."""
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be an object of scale factor: gain, got {value!r}")
    if not value:
        raise ValueError(f"{key} must not be an empty object")
    points: list[tuple[float, float]] = []
    for scale_text, gain in value.items():
        scale = _scale_key(scale_text, key, [known for known, _ in points])
        points.append((scale, check_gain(gain, f"{key}[{scale_text!r}]")))
    return tuple(sorted(points))


def _scale_key(scale_text: Any, key: str, known: list[float]) -> float:
    """A JSON object key naming a scale factor > 0 (not one of ``known``) as a float;
    ValueError naming ``key`` otherwise."""
    try:
        scale = float(scale_text)
    except (TypeError, ValueError):
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"{key} keys must be scale factors > 0, got {scale_text!r}")
    if scale in known:
        raise ValueError(f"{key} names the scale factor {scale:g} twice")
    return scale


def _scale_models_setting(data: dict[str, Any], path: Path) -> tuple[tuple[float, str], ...] | None:
    """``scale_models``: {scale factor > 0: a non-empty folder name} as sorted pairs."""
    value = data.get("scale_models")
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise ModelError(f"{path}: scale_models must be an object of scale factor: model folder, got {value!r}")
    routes: list[tuple[float, str]] = []
    for scale_text, name in value.items():
        try:
            scale = _scale_key(scale_text, "scale_models", [known for known, _ in routes])
        except ValueError as exc:
            raise ModelError(f"{path}: {exc}") from None
        if not isinstance(name, str) or not name.strip():
            raise ModelError(f"{path}: scale_models[{scale_text!r}] must be a model folder name, got {name!r}")
        routes.append((scale, name))
    return tuple(sorted(routes))


def _schedule_setting(data: dict[str, Any], key: str, path: Path) -> tuple[tuple[float, float], ...] | None:
    """A gain >= 0 (every scale factor: ((1, gain),)) or {scale factor > 0: gain >= 0}."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        return ((1.0, float(_float_setting(data, key, 0.0, path))),)
    try:
        return parse_gain_schedule(value, key)
    except ValueError as exc:
        raise ModelError(f"{path}: {exc}") from None


def _ramp_setting(data: dict[str, Any], key: str, path: Path) -> tuple[float, float] | None:
    """[blurry, sharp]: two finite numbers with 0 < blurry < sharp."""
    value = data.get(key)
    if value is None:
        return None
    numbers = isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not numbers or not 0 < value[0] < value[1]:
        raise ModelError(f"{path}: {key} must be [blurry, sharp] with 0 < blurry < sharp, got {value!r}")
    return float(value[0]), float(value[1])


def _text_setting(data: dict[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ModelError(f"{path}: {key} must be a non-empty string, got {value!r}")
    return value


def read_inference_defaults(folder: Path) -> InferenceDefaults:
    """The settings in ``folder/inference.json`` (all None when the file is absent)."""
    path = folder / INFERENCE_FILE
    if not path.exists():
        return InferenceDefaults()
    data = _read_json_object(path, "inference settings")
    defaults = InferenceDefaults(
        steps=_int_setting(data, "steps", 1, path),
        guidance=_float_setting(data, "guidance", None, path),
        ref_scale_weak=_float_setting(data, "ref_scale_weak", 0.0, path),
        detail=_float_setting(data, "detail", 0.0, path),
        ref_detail=_schedule_setting(data, "ref_detail", path),
        ref_detail_sigma_lr_px=_float_setting(data, "ref_detail_sigma_lr_px", 0.0, path),
        ref_detail_blurry=_schedule_setting(data, "ref_detail_blurry", path),
        lr_sharpness_ramp=_ramp_setting(data, "lr_sharpness_ramp", path),
        tile_px=_int_setting(data, "tile_px", 1, path, MAX_INFERENCE_TILE_PX),
        overlap_px=_int_setting(data, "overlap_px", 0, path, MAX_INFERENCE_TILE_PX),
        guide=_text_setting(data, "guide", path),
        start=_text_setting(data, "start", path),
        scale_models=_scale_models_setting(data, path),
    )
    if defaults.ref_detail_sigma_lr_px == 0.0:
        raise ModelError(f"{path}: ref_detail_sigma_lr_px must be > 0, got 0")
    if defaults.start is not None and defaults.start not in START_MODES:
        raise ModelError(f"{path}: start must be one of {', '.join(START_MODES)}, got {defaults.start!r}")
    tile_px, overlap_px = defaults.tile_px, defaults.overlap_px
    if tile_px is not None and overlap_px is not None and overlap_px >= tile_px:
        raise ModelError(f"{path}: overlap_px {overlap_px} must be below tile_px {tile_px}")
    return defaults


def resolve_guide_dir(
    guide: str | os.PathLike[str] | None, model_folder: Path, recommended: str | None
) -> Path | None:
    """The autoguidance weak model's folder, or None for the model itself.

    guide: an explicit ``--guide`` (a folder, or "self"); None: ``recommended``, the ``guide``
    of ``model_folder``'s inference.json (relative paths are relative to ``model_folder``),
    else the model itself. ModelError (prefixed with where the guide was named) when the
    folder is not a DS-DiT model folder.
    """
    if guide is None:
        if recommended is None or recommended == SELF_GUIDE:
            return None
        path = Path(recommended)
        folder = path if path.is_absolute() else model_folder / path
        where = f"{model_folder / INFERENCE_FILE}: guide"
    else:
        if os.fspath(guide) == SELF_GUIDE:
            return None
        folder = Path(os.path.expanduser(os.fspath(guide)))
        where = "--guide"
    if folder.is_file():
        raise ModelError(f"{where}: must be a model folder (config.json + safetensors), got the file {folder}")
    try:
        folder = resolve_weights_dir(folder)
        read_model_config(folder)
        return folder
    except ModelError as exc:
        raise ModelError(f"{where}: {exc}") from None


def resolve_scale_models(
    model_folder: Path, routes: tuple[tuple[float, str], ...] | None
) -> tuple[tuple[float, Path], ...]:
    """The per-scale model folders of ``model_folder``'s inference.json as sorted (smallest
    scale factor, folder) pairs (relative names are relative to ``model_folder``). ModelError
    when one is not a DS-DiT model folder or its architecture (config.json) differs from
    ``model_folder``'s, or its safetensors file is corrupt or truncated."""
    if not routes:
        return ()
    own = _architecture(read_model_config(model_folder))
    resolved: list[tuple[float, Path]] = []
    for scale, name in routes:
        where = f"{model_folder / INFERENCE_FILE}: scale_models[{scale:g}]"
        path = Path(os.path.expanduser(name))
        folder = path if path.is_absolute() else model_folder / path
        try:
            folder = resolve_weights_dir(folder)
            config = _architecture(read_model_config(folder))
            _check_safetensors(folder / WEIGHTS_FILE)  # a broken file fails here, not at the first run at that scale
        except ModelError as exc:
            raise ModelError(f"{where}: {exc}") from None
        differ = sorted(k for k in own.keys() | config.keys() if own.get(k) != config.get(k))
        if differ:
            shown = ", ".join(f"{k} {config.get(k)!r} vs {own.get(k)!r}" for k in differ[:3])
            raise ModelError(f"{where}: {folder} is not the same architecture as {model_folder} ({shown})")
        resolved.append((scale, folder))
    return tuple(resolved)


def weights_for_scale(default: Path, scale_models: tuple[tuple[float, Path], ...], scale: float | None) -> Path:
    """The weights folder that runs at ``scale`` (LR / HR pixel size): the folder of the
    largest ``scale_models`` key <= scale, else ``default`` (also for scale None)."""
    chosen = default
    if scale is not None:
        for smallest, folder in scale_models:
            if scale >= smallest - 1e-9:
                chosen = folder
    return chosen


def _architecture(config: dict[str, Any]) -> dict[str, Any]:
    """A model config without the bookkeeping keys diffusers adds (``_class_name`` ...)."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


def load_model(folder: Path) -> DSDiTTransformer:
    """The fp32 DSDiTTransformer saved in ``folder`` (checked with ``resolve_weights_dir``), in
    eval mode, without gradients, on the CPU. ModelError for a config that is not DS-DiT, bad
    config values, corrupt or truncated weights, and weights that do not fit the config."""
    import torch
    from diffusers.utils import logging as diffusers_logging
    from safetensors import SafetensorError

    from dsdit_geo.model.transformer import DSDiTTransformer

    check_config_sizes(read_model_config(folder), folder)
    _check_safetensors(folder / WEIGHTS_FILE)
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # no "accelerate not found" / pickle-fallback chatter
    try:
        model, info = DSDiTTransformer.from_pretrained(
            str(folder),
            torch_dtype=torch.float32,
            local_files_only=True,
            use_safetensors=True,
            low_cpu_mem_usage=False,
            output_loading_info=True,
        )
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{folder}/{CONFIG_FILE} is not a valid DS-DiT config: {_first_line(exc)}") from None
    except RuntimeError as exc:
        if "state_dict" in str(exc):  # "Error(s) in loading state_dict ...:\n\tsize mismatch for ..."
            detail = _first_line(str(exc).split(":", 1)[-1])
            raise ModelError(f"the weights in {folder} do not fit its {CONFIG_FILE}: {detail}") from None
        raise ModelError(f"cannot load the model in {folder}: {_first_line(exc)}") from None
    except (OSError, KeyError, SafetensorError) as exc:
        raise ModelError(f"cannot load the model in {folder}: {_first_line(exc)}") from None
    finally:
        diffusers_logging.set_verbosity(verbosity)
    problems = {k: v for k, v in info.items() if k != "error_msgs" and v}
    if problems or info.get("error_msgs"):
        kind, keys = next(iter(problems.items())) if problems else ("errors", info["error_msgs"])
        raise ModelError(
            f"the weights in {folder} do not fit its {CONFIG_FILE} ({kind.replace('_', ' ')}: "
            f"{len(keys)}, e.g. {_first_line(keys[0])})"
        )
    model.eval().requires_grad_(False)
    return model


def _check_safetensors(path: Path) -> None:
    """ModelError unless ``path`` (when present; sharded models skip this) has a valid
    safetensors header that covers the whole file (catches corrupt and truncated files)."""
    if not path.is_file():
        return
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except (OSError, SafetensorError) as exc:
        raise ModelError(f"{path} is not a readable safetensors file: {_first_line(exc)}") from None


def _first_line(value: Any) -> str:
    text = str(value).strip()
    return (text.splitlines() or [type(value).__name__])[0].strip()[:200]


__all__ = [
    "CONFIG_FILE",
    "DEFAULT_WEIGHTS_DIR",
    "INFERENCE_FILE",
    "SELF_GUIDE",
    "WEIGHTS_FILE",
    "InferenceDefaults",
    "default_weights_dir",
    "load_model",
    "read_inference_defaults",
    "read_model_config",
    "resolve_guide_dir",
    "resolve_scale_models",
    "resolve_weights_dir",
    "weights_for_scale",
]
