"""Shared option types for commands that run the upscale pipeline (`upscale`, `batch`).

Each option is an `Annotated` type, so a command declares e.g. `method: MethodOpt = DEFAULTS.method`.
`build_upscale_options(...)` turns the parsed values into `UpscaleOptions`, raising one-line
`OptionError` / `BandError` for malformed lists. Only light imports here (`--help` stays fast).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Optional

import typer

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import BandError, OptionError
from dsdit_geo.upscalers import METHODS

DEFAULTS = UpscaleOptions()


class _Choice(str, Enum):
    def __str__(self) -> str:
        return self.value


Method = _Choice("Method", {name: name for name in METHODS})  # bicubic | hpf | dsdit, from the registry
Compress = _Choice("Compress", {"deflate": "deflate", "zstd": "zstd"})
DEFAULT_METHOD = Method(DEFAULTS.method)
DEFAULT_COMPRESS = Compress(DEFAULTS.compress)

_RUN = "Run"
_GRID = "Output grid"
_BANDS = "Bands"
_TILES = "Tiling"
_DSDIT = "DS-DiT (--method dsdit)"
_OUT = "Output"

MethodOpt = Annotated[
    Method,
    typer.Option(
        "--method",
        "-m",
        case_sensitive=False,
        rich_help_panel=_RUN,
        help="bicubic: LR resampled; hpf: bicubic + the Ref's detail where it agrees with the LR; "
        "dsdit: the diffusion model.",
    ),
]
ResolutionOpt = Annotated[
    Optional[float],
    typer.Option(
        "--resolution",
        "-r",
        rich_help_panel=_GRID,
        show_default="the Ref's pixel size",
        help="Output pixel size, in target-CRS units (metres for UTM).",
    ),
]
CrsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--crs", rich_help_panel=_GRID, show_default="the Ref's CRS", help="Output CRS, e.g. EPSG:32611."
    ),
]
ExtentOpt = Annotated[
    Optional[str],
    typer.Option(
        "--extent",
        rich_help_panel=_GRID,
        metavar="'L B R T'",
        show_default="LR ∩ Ref",
        help="Clip to LEFT,BOTTOM,RIGHT,TOP in the target CRS (commas or quoted spaces).",
    ),
]
LrBandsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--lr-bands",
        rich_help_panel=_BANDS,
        metavar="LIST",
        show_default="all",
        help="LR bands to upscale, 1-based, e.g. 1,2,3,4.",
    ),
]
RefBandsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ref-bands",
        rich_help_panel=_BANDS,
        metavar="LIST",
        show_default="the first N",
        help="Ref bands paired with --lr-bands by position, 1-based.",
    ),
]
TilePxOpt = Annotated[
    Optional[int],
    typer.Option(
        "--tile-px", rich_help_panel=_TILES, show_default="the method's", help="Tile side, HR pixels."
    ),
]
OverlapPxOpt = Annotated[
    Optional[int],
    typer.Option(
        "--overlap-px",
        rich_help_panel=_TILES,
        show_default="the method's",
        help="Overlap between neighbouring tiles, HR pixels (blended with a cosine taper).",
    ),
]
BatchSizeOpt = Annotated[
    int, typer.Option("--batch-size", "-b", rich_help_panel=_TILES, help="Tiles per upscaler call.")
]
SeedOpt = Annotated[int, typer.Option("--seed", rich_help_panel=_RUN, help="Random seed (DS-DiT noise).")]
DeviceOpt = Annotated[
    str, typer.Option("--device", rich_help_panel=_RUN, help="auto, cpu, cuda or cuda:N (DS-DiT only).")
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", rich_help_panel=_OUT, help="Replace an existing output file.")
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", rich_help_panel=_RUN, help="No progress bar or summary.")
]
CompressOpt = Annotated[
    Compress,
    typer.Option(
        "--compress", rich_help_panel=_OUT, case_sensitive=False, help="COG compression (with a predictor)."
    ),
]
TrustMapOpt = Annotated[
    Optional[str],
    typer.Option(
        "--trust-map",
        rich_help_panel=_OUT,
        metavar="PATH",
        help="Also write the per-pixel weight given to the Ref (float32 COG; hpf and dsdit).",
    ),
]
WeightsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--weights",
        rich_help_panel=_DSDIT,
        metavar="DIR",
        show_default="the bundled model",
        help="Model folder (save_pretrained layout).",
    ),
]
StepsOpt = Annotated[
    Optional[int],
    typer.Option("--steps", rich_help_panel=_DSDIT, show_default="the model's", help="Sampling steps."),
]
GuidanceOpt = Annotated[
    Optional[float],
    typer.Option(
        "--guidance",
        rich_help_panel=_DSDIT,
        show_default="the model's",
        help="Autoguidance weight w (1 = off).",
    ),
]
RefScaleWeakOpt = Annotated[
    Optional[float],
    typer.Option(
        "--ref-scale-weak",
        rich_help_panel=_DSDIT,
        show_default="the model's",
        help="λ of the weak (guiding) pass: scales its Ref-attention term.",
    ),
]
GuideOpt = Annotated[
    Optional[str],
    typer.Option(
        "--guide",
        rich_help_panel=_DSDIT,
        metavar="DIR|self",
        show_default="the model's",
        help="Autoguidance's weak model: a smaller model folder, or 'self' (the model with its "
        "Ref attention scaled by λ).",
    ),
]


def parse_band_list(text: str | None, flag: str) -> list[int] | None:
    """'1,2,3' or '1 2 3' -> [1, 2, 3]; None stays None. BandError when malformed."""
    if text is None:
        return None
    items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    try:
        bands = [int(item) for item in items]
    except ValueError:
        raise BandError(f"{flag} must list 1-based band numbers like 1,2,3, got {text!r}") from None
    if not bands:
        raise BandError(f"{flag} is empty")
    return bands


def parse_extent(text: str | None) -> tuple[float, float, float, float] | None:
    """'L,B,R,T' or 'L B R T' -> (left, bottom, right, top); OptionError when malformed."""
    if text is None:
        return None
    items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    try:
        values = tuple(float(item) for item in items)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise OptionError(f"--extent needs four numbers LEFT,BOTTOM,RIGHT,TOP, got {text!r}")
    return values  # type: ignore[return-value]


def build_upscale_options(
    *,
    method: str | Enum,
    resolution: float | None,
    crs: str | None,
    extent: str | None,
    lr_bands: str | None,
    ref_bands: str | None,
    tile_px: int | None,
    overlap_px: int | None,
    batch_size: int,
    seed: int,
    overwrite: bool,
    quiet: bool,
    device: str,
    compress: str | Enum,
    trust_map: str | None,
    weights: str | None,
    steps: int | None,
    guidance: float | None,
    ref_scale_weak: float | None,
    guide: str | None = None,
) -> UpscaleOptions:
    """The parsed CLI values as UpscaleOptions (range checks happen in the pipeline)."""
    return UpscaleOptions(
        method=_text(method).lower(),
        resolution=resolution,
        crs=crs,
        extent=parse_extent(extent),
        lr_bands=parse_band_list(lr_bands, "--lr-bands"),
        ref_bands=parse_band_list(ref_bands, "--ref-bands"),
        tile_px=tile_px,
        overlap_px=overlap_px,
        batch_size=batch_size,
        seed=seed,
        overwrite=overwrite,
        quiet=quiet,
        device=device,
        compress=_text(compress).lower(),
        trust_map=trust_map,
        weights=weights,
        steps=steps,
        guidance=guidance,
        ref_scale_weak=ref_scale_weak,
        guide=guide,
    )


def _text(value: str | Enum) -> str:
    return value.value if isinstance(value, Enum) else str(value)
