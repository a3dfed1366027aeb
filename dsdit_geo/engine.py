"""`Engine`: settings resolved once, the model (and guide) loaded once, many files upscaled.

    from dsdit_geo import Engine
    engine = Engine(method="dsdit", steps=4)          # or Engine.from_options(options)
    for lr, ref, out in pairs:
        engine.upscale_file(lr, ref, out, seed=7)     # keywords override the engine's options

`upscale_file` (the function) builds the method for every run; an engine keeps, per process,
each DS-DiT model loaded on its device (`ModelCache`), the settings resolved per option set and
one upscaler per (option set, scale): a `fusion` model's halo depends on the run's scale, so
runs at other scales get their own upscaler around the same loaded model. Batch workers and
`evaluate` use engines. Thread-safe (a lock around building); the upscalers themselves keep no
per-run state.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsdit_geo.config import UpscaleOptions, UpscaleReport

if TYPE_CHECKING:
    from dsdit_geo.upscalers.base import Upscaler

# The UpscaleOptions fields that choose the method or its settings (the rest is per run).
METHOD_FIELDS = (
    "method", "weights", "guide", "steps", "guidance", "ref_scale_weak", "detail", "ref_detail", "seed",
    "device",
)  # fmt: skip
MAX_CACHED_UPSCALERS = 32


class ModelCache:
    """(model folder, device) -> the loaded DSDiTTransformer, each loaded once."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times a model was read from disk (tests, benchmarks)

    def __call__(self, folder: Path, device: str) -> Any:
        key = (str(Path(folder).resolve()), str(device))
        with self._lock:
            if key not in self._models:
                from dsdit_geo.weights import load_model

                self._models[key] = load_model(Path(folder)).to(device)
                self.loads += 1
            return self._models[key]

    def __len__(self) -> int:
        return len(self._models)


class Engine:
    """Upscale many files with one set of options, keeping models loaded (see module doc).

    `Engine(options=None, *, models=None, **values)`: `values` are UpscaleOptions fields over
    `options`; `models`: a `ModelCache` to share with other engines (evaluate: one for all its
    methods). The options are checked and, for DS-DiT, the settings resolved and the model
    loaded here, so a bad option or a missing model fails before the first file.
    """

    def __init__(
        self, options: UpscaleOptions | None = None, *, models: ModelCache | None = None, **values: Any
    ) -> None:
        from dsdit_geo.pipeline import _with_values, validate_options

        self.options = _with_values(options, dict(values))
        validate_options(self.options)
        self.models = models if models is not None else ModelCache()
        self._settings: dict[tuple, Any] = {}
        self._upscalers: dict[tuple, Upscaler] = {}
        self._lock = threading.RLock()
        self.settings = self.settings_for(self.options)
        if self.settings is not None:
            self.models(self.settings.weights, self.settings.device)
            if self.settings.uses_guide:
                self.models(self.settings.guide, self.settings.device)

    @classmethod
    def from_options(
        cls, options: UpscaleOptions | None = None, *, models: ModelCache | None = None, **values: Any
    ) -> Engine:
        """The same as `Engine(options, models=models, **values)`."""
        return cls(options, models=models, **values)

    def upscale_file(
        self,
        lr_path: str | os.PathLike,
        ref_path: str | os.PathLike,
        out_path: str | os.PathLike,
        options: UpscaleOptions | None = None,
        **overrides: Any,
    ) -> UpscaleReport:
        """`dsdit_geo.upscale_file` with this engine's options (or `options`), `overrides` on
        top (e.g. seed, trust_map, overwrite), and the engine's loaded models."""
        from dsdit_geo.pipeline import upscale_file

        return upscale_file(
            lr_path, ref_path, out_path, options or self.options, upscaler_factory=self.upscaler, **overrides
        )

    def settings_for(self, options: UpscaleOptions) -> Any:
        """The resolved `DSDiTSettings` of `options` (cached per method option set), or None
        for a classical method."""
        if (options.method or "").strip().lower() != "dsdit":
            return None
        key = _method_key(options)
        with self._lock:
            if key not in self._settings:
                from dsdit_geo.upscalers.settings import DSDiTSettings

                self._settings[key] = DSDiTSettings.resolve(options)
            return self._settings[key]

    def upscaler(self, options: UpscaleOptions, scale: float) -> Upscaler:
        """The upscaler for `options` at `scale` (LR / HR pixel size), built once per (method
        option set, scale, trust map wanted) around the cached models."""
        from dsdit_geo.upscalers import make_upscaler

        key = (_method_key(options), round(float(scale), 9), bool(options.trust_map))
        with self._lock:
            upscaler = self._upscalers.get(key)
            if upscaler is None:
                upscaler = make_upscaler(
                    options, scale=scale, loader=self.models, settings=self.settings_for(options)
                )
                if len(self._upscalers) >= MAX_CACHED_UPSCALERS:
                    self._upscalers.pop(next(iter(self._upscalers)))
                self._upscalers[key] = upscaler
            return upscaler


def _method_key(options: UpscaleOptions) -> tuple:
    values = dataclasses.asdict(options)
    return tuple(str(values[name]) for name in METHOD_FIELDS)
