"""The upscale options, listed once, and the decorator that gives them to a command.

`UPSCALE_OPTIONS` names every option of a pipeline run (parameter name, its `Annotated` type
from `options.py`, default). A command declares one parameter `upscale: UpscaleValues` where
the options belong; `@with_upscale_options(...)` replaces it in the signature Typer reads with
all of them and hands the command their parsed values as one dict, ready for
`options.build_upscale_options(**upscale)`. A command may swap an option's type (batch: its
--trust-map is a template) or leave some out.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from dsdit_geo_cli import options as opt

D = opt.DEFAULTS
UpscaleValues = dict[str, Any]
PARAMETER = "upscale"

UPSCALE_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("method", opt.MethodOpt, opt.DEFAULT_METHOD),
    ("resolution", opt.ResolutionOpt, D.resolution),
    ("crs", opt.CrsOpt, D.crs),
    ("extent", opt.ExtentOpt, None),
    ("lr_bands", opt.LrBandsOpt, None),
    ("ref_bands", opt.RefBandsOpt, None),
    ("tile_px", opt.TilePxOpt, D.tile_px),
    ("overlap_px", opt.OverlapPxOpt, D.overlap_px),
    ("batch_size", opt.BatchSizeOpt, D.batch_size),
    ("seed", opt.SeedOpt, D.seed),
    ("device", opt.DeviceOpt, D.device),
    ("overwrite", opt.OverwriteOpt, D.overwrite),
    ("quiet", opt.QuietOpt, D.quiet),
    ("compress", opt.CompressOpt, opt.DEFAULT_COMPRESS),
    ("trust_map", opt.TrustMapOpt, D.trust_map),
    ("weights", opt.WeightsOpt, D.weights),
    ("steps", opt.StepsOpt, D.steps),
    ("guidance", opt.GuidanceOpt, D.guidance),
    ("ref_scale_weak", opt.RefScaleWeakOpt, D.ref_scale_weak),
    ("detail", opt.DetailOpt, D.detail),
    ("ref_detail", opt.RefDetailOpt, D.ref_detail),
    ("guide", opt.GuideOpt, D.guide),
    ("lr_nodata", opt.LrNodataOpt, None),
    ("ref_nodata", opt.RefNodataOpt, None),
    ("dst_nodata", opt.DstNodataOpt, None),
    ("resampling", opt.ResamplingOpt, opt.DEFAULT_RESAMPLING),
    ("threads", opt.ThreadsOpt, D.threads),
    ("max_memory", opt.MaxMemoryOpt, None),
    ("co", opt.CoOpt, None),
    ("lr_assets", opt.LrAssetsOpt, None),
    ("ref_assets", opt.RefAssetsOpt, None),
)
"""(parameter name, Annotated option type, default) of every upscale option, in --help order."""


def with_upscale_options(
    replace: dict[str, tuple[Any, Any]] | None = None, exclude: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the command's `upscale` parameter becomes every option of `UPSCALE_OPTIONS`
    (`replace`: name -> (Annotated type, default) swapped in; `exclude`: left out) and the
    command receives their values as the dict `upscale`."""
    replace = replace or {}

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command)
        hints = typing.get_type_hints(command, include_extras=True)
        if PARAMETER not in own.parameters:
            raise TypeError(f"{command.__name__} has no '{PARAMETER}' parameter")
        added = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=kind, default=default)
            for name, (kind, default) in (
                (name, replace.get(name, (kind, default))) for name, kind, default in UPSCALE_OPTIONS
            )
            if name not in exclude
        ]
        names = {p.name for p in added}
        params: list[inspect.Parameter] = []
        for param in own.parameters.values():
            if param.name == PARAMETER:
                params += added
            else:
                params.append(param.replace(annotation=hints.get(param.name, param.annotation)))

        @functools.wraps(command)
        def wrapper(**values: Any) -> Any:
            upscale = {name: values.pop(name) for name in list(values) if name in names}
            return command(**values, **{PARAMETER: upscale})

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # Typer must read the new signature, not the command's
        return wrapper

    return decorate
