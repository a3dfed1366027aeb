"""Upscaler registry: `make_upscaler(options)` -> an `Upscaler` (see `base.py`).

`bicubic`, `hpf` and `transfer` are classical (upscalers/classical.py); `dsdit` imports
`dsdit_geo.upscalers.dsdit` lazily so torch-model code loads only when it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import ModelError, OptionError

if TYPE_CHECKING:  # keep this module light: the CLI reads METHODS without importing torch
    from dsdit_geo.upscalers.base import Upscaler

METHODS = ("bicubic", "hpf", "transfer", "dsdit")
DEFAULT_SCALE = 10.0  # used by hpf when the caller does not know the scale yet


def make_upscaler(
    options: UpscaleOptions,
    *,
    scale: float | None = None,
    loader: Callable[..., Any] | None = None,
    settings: Any = None,
) -> Upscaler:
    """The upscaler for `options.method`. `scale` (LR / HR pixel size) sizes hpf's filters and
    a fusion model's halo; the pipeline passes the real one. `loader(folder, device)`: where
    DS-DiT models come from (an engine's cache; default: loaded from disk). OptionError for an
    unknown method, ModelError when the DS-DiT code or its weights are unavailable,
    TrustMapError when `options.trust_map` is set and the method gives no trust map.
    settings: DS-DiT's already resolved `DSDiTSettings` for these options (else resolved here)."""
    upscaler = _build(options, scale, loader, settings)
    if options.trust_map:
        from dsdit_geo.upscalers.base import check_provides_trust

        check_provides_trust(upscaler)
    return upscaler


def _build(
    options: UpscaleOptions, scale: float | None, loader: Callable[..., Any] | None, settings: Any
) -> Upscaler:
    method = (options.method or "").strip().lower()
    if method == "bicubic":
        from dsdit_geo.upscalers.classical import Bicubic

        return Bicubic()
    if method == "hpf":
        from dsdit_geo.upscalers.classical import HighPassFusion

        return HighPassFusion(scale=scale or DEFAULT_SCALE)
    if method == "transfer":
        from dsdit_geo.upscalers.classical import Transfer

        return Transfer(scale=scale or DEFAULT_SCALE)
    if method == "dsdit":
        return _make_dsdit(options, scale, loader, settings)
    raise OptionError(f"unknown method {options.method!r}: choose one of {', '.join(METHODS)}")


def _make_dsdit(
    options: UpscaleOptions,
    scale: float | None = None,
    loader: Callable[..., Any] | None = None,
    settings: Any = None,
) -> Upscaler:
    module_name = "dsdit_geo.upscalers.dsdit"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ModelError(
                "method 'dsdit' is not available in this version yet: use --method hpf or bicubic"
            ) from None
        if exc.name and not exc.name.startswith("dsdit_geo"):
            raise ModelError(
                f"method 'dsdit' needs the Python package '{exc.name}', which is not installed"
            ) from None
        raise
    settings = settings or module.DSDiTSettings.resolve(options)
    return module.DSDiTUpscaler.from_settings(settings, scale=scale, loader=loader)
