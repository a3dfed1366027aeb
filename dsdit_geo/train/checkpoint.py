"""Checkpoints of a run, atomic and self-describing, and the final export.

Layout of a run folder (`TrainConfig.run_dir`):

    train_config.json            the run's current config
    log.jsonl                    one JSON record per log / dev step
    checkpoints/step_0000500/    model/  (save_pretrained: config.json + safetensors)
                                 ema/    (save_pretrained, the EMA weights)
                                 trainer_state.pt (optimizer, LR scheduler, step, RNG states,
                                                   EMA internals, run statistics)
                                 train_config.json
    final/                       the EMA model (save_pretrained) + train_config.json +
                                 train_stats.json

A checkpoint is written into `checkpoints/.tmp-step_XXXXXXX-<pid>/` and renamed into place only
when complete, so `step_*` folders are always whole; leftovers of a killed save are removed by
`clean_partial`. `trainer_state.pt` holds only tensors and plain Python values
(`torch.load(weights_only=True)` reads it).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from dsdit_geo.errors import ModelError, OptionError
from dsdit_geo.train.config import CONFIG_NAME, TrainConfig, TrainingError
from dsdit_geo.weights import read_model_config, resolve_weights_dir

CHECKPOINTS = "checkpoints"
FINAL = "final"
MODEL_DIR, EMA_DIR = "model", "ema"
STATE_FILE = "trainer_state.pt"
STATS_FILE = "train_stats.json"
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"
STATE_FORMAT = 1
_PREFIX = "step_"
_TMP_PREFIX = ".tmp-"


def step_name(step: int) -> str:
    return f"{_PREFIX}{int(step):07d}"


def list_checkpoints(run_dir: Path | str) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint of the run, oldest first."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        digits = path.name[len(_PREFIX):]
        if path.is_dir() and path.name.startswith(_PREFIX) and digits.isdigit():
            found.append((int(digits), path))
    return sorted(found)


def latest_checkpoint(run_dir: Path | str) -> Path | None:
    """The folder of the highest-step checkpoint, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def clean_partial(run_dir: Path | str) -> None:
    """Remove temporary folders left by a save that was killed half-way."""
    folder = Path(run_dir) / CHECKPOINTS
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(_TMP_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
    for path in Path(run_dir).glob(f"{_TMP_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)


# -- RNG states ---------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """torch (CPU and every CUDA device), numpy and python global RNG states, as plain values."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"bit_generator": np_state["bit_generator"],
                  "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured (CUDA states only where devices match)."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state({"bit_generator": npst["bit_generator"],
                         "state": {"key": npst["key"].numpy().astype(np.uint32), "pos": npst["pos"]},
                         "has_gauss": npst["has_gauss"], "gauss": npst["gauss"]})
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# -- save / load --------------------------------------------------------------------------------
def _replace_dir(tmp: Path, final: Path) -> None:
    """Move the complete folder `tmp` to `final`, replacing an existing one."""
    if final.exists():
        old = final.with_name(f"{_TMP_PREFIX}old-{final.name}-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def save_checkpoint(run_dir: Path | str, step: int, model: nn.Module, ema_model: nn.Module,
                    trainer_state: dict[str, Any], config: TrainConfig) -> Path:
    """Write checkpoint `step` atomically; returns its folder. `model`, `ema_model` must have
    `save_pretrained` (unwrap DDP first)."""
    folder = Path(run_dir) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / step_name(step)
    tmp = folder / f"{_TMP_PREFIX}{step_name(step)}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp / MODEL_DIR, safe_serialization=True)
        ema_model.save_pretrained(tmp / EMA_DIR, safe_serialization=True)
        torch.save({**trainer_state, "format": STATE_FORMAT, "step": int(step)}, tmp / STATE_FILE)
        config.save(tmp / CONFIG_NAME)
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def prune_checkpoints(run_dir: Path | str, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` checkpoints (0 keeps all); returns the deleted."""
    found = list_checkpoints(run_dir)
    if keep_last <= 0 or len(found) <= keep_last:
        return []
    doomed = [path for _, path in found[:-keep_last]]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed


def load_weights(model: nn.Module, folder: Path | str) -> None:
    """Load a `save_pretrained` folder's weights into `model` in place (exact, strict)."""
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise TrainingError(f"checkpoint weights missing: {path}")
    device = next(model.parameters()).device
    model.load_state_dict(load_file(str(path), device=str(device)), strict=True)


# Settings a fine-tune may change from its init_weights: the target parameterisation (no
# weights depend on it), the convolutional output head and the PLW gates' agreement input (new,
# zero-initialised: the model starts out computing exactly what the init model computed).
INIT_CHANGEABLE_KEYS = ("prediction", "residual_scale", "conv_head", "gate_agreement")
# modules a fine-tuning run may add to a folder's model (each zero-initialised or new): prefix
# of their state-dict keys -> the config key that adds them
_ADDABLE_MODULES = {"out_head.": "conv_head", "gate_agreement.": "gate_agreement"}


def load_init_weights(model: nn.Module, folder: Path | str) -> None:
    """Start a run from a `save_pretrained` folder (fine-tuning): OptionError when the folder
    is not a DS-DiT model or its config differs from `model`'s (preset + model overrides) in
    anything but INIT_CHANGEABLE_KEYS. A module whose key differs (a conv head, the PLW gates'
    agreement input) keeps its initialisation; the folder's own copy of it is not loaded."""
    try:
        theirs = read_model_config(resolve_weights_dir(folder))
    except ModelError as exc:
        raise OptionError(f"init_weights: {folder} is not a model folder ({exc})") from None
    mine = dict(model.config)
    differ = sorted(k for k in mine if not k.startswith("_") and k not in INIT_CHANGEABLE_KEYS
                    and _jsonable(mine[k]) != theirs.get(k, _default_of(model, k)))
    if differ:
        raise OptionError(f"init_weights: {folder} has another model config ({', '.join(differ)}); "
                          "set the same preset and model settings")
    changed = [prefix for prefix, key in _ADDABLE_MODULES.items()
               if _jsonable(mine.get(key)) != theirs.get(key, _default_of(model, key))]
    if not changed:
        load_weights(model, folder)
        return

    def added(name: str) -> bool:
        return any(name.startswith(prefix) or f".{prefix}" in name for prefix in changed)

    path = Path(folder) / WEIGHTS_FILE
    device = next(model.parameters()).device
    state = {k: v for k, v in load_file(str(path), device=str(device)).items() if not added(k)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not added(k) for k in missing):
        raise OptionError(f"init_weights: {folder} does not fit the model (missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]})")


def _default_of(model: nn.Module, key: str) -> Any:
    """The constructor default of a config key (a folder saved before the key existed)."""
    import inspect

    param = inspect.signature(type(model).__init__).parameters.get(key)
    return None if param is None else _jsonable(param.default)


def _jsonable(value: Any) -> Any:
    """A config value as JSON reads it back (tuples become lists)."""
    return json.loads(json.dumps(value))


def load_trainer_state(checkpoint: Path | str) -> dict[str, Any]:
    """The trainer state of a checkpoint folder (tensors on CPU)."""
    path = Path(checkpoint) / STATE_FILE
    if not path.is_file():
        raise TrainingError(f"checkpoint is incomplete (no {STATE_FILE}): {checkpoint}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != STATE_FORMAT:
        raise TrainingError(f"unsupported checkpoint format {state.get('format')!r} in {path}")
    return state


def load_checkpoint_config(checkpoint: Path | str) -> TrainConfig:
    return TrainConfig.load(Path(checkpoint) / CONFIG_NAME)


def export_final(run_dir: Path | str, ema_model: nn.Module, config: TrainConfig,
                 stats: dict[str, Any]) -> Path:
    """Write `final/`: the EMA model (save_pretrained, safetensors), train_config.json and
    train_stats.json; atomic like a checkpoint. Returns the folder."""
    run_dir = Path(run_dir)
    final = run_dir / FINAL
    tmp = run_dir / f"{_TMP_PREFIX}{FINAL}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        ema_model.save_pretrained(tmp, safe_serialization=True)
        config.save(tmp / CONFIG_NAME)
        (tmp / STATS_FILE).write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


__all__ = [
    "CHECKPOINTS", "EMA_DIR", "FINAL", "MODEL_DIR", "STATE_FILE", "STATS_FILE", "clean_partial",
    "export_final", "latest_checkpoint", "list_checkpoints", "load_checkpoint_config",
    "load_trainer_state", "load_weights", "prune_checkpoints", "rng_state", "save_checkpoint",
    "set_rng_state", "step_name",
]
