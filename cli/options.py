"""Shared option types for commands that run the upscale pipeline (`upscale`, `batch`).

Each option is an `Annotated` type, so a command declares e.g. `method: MethodOpt = DEFAULTS.method`.
`build_upscale_options(...)` turns the parsed values into `UpscaleOptions`, raising one-line
`OptionError` / `BandError` for malformed lists. Only light imports here (`--help` stays fast).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Optional

import typer

from dsdit_geo.config import WARP_RESAMPLINGS, UpscaleOptions
from dsdit_geo.errors import BandError, OptionError
from dsdit_geo.upscalers import METHODS

DEFAULTS = UpscaleOptions()


class _Choice(str, Enum):
    def __str__(self) -> str:
        return self.value


Method = _Choice("Method", {name: name for name in METHODS})  # bicubic | hpf | dsdit, from the registry
Compress = _Choice("Compress", {"deflate": "deflate", "zstd": "zstd", "lzw": "lzw"})
Resampling = _Choice("Resampling", {name: name for name in WARP_RESAMPLINGS})
DEFAULT_METHOD = Method(DEFAULTS.method)
DEFAULT_COMPRESS = Compress(DEFAULTS.compress)
DEFAULT_RESAMPLING = Resampling(DEFAULTS.resampling)

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
        help="bicubic: LR resampled; hpf: bicubic + the Ref's detail where it agrees with the LR; transfer: bicubic + the Ref's detail everywhere (naive baseline); "
        "dsdit: the diffusion model.",
    ),
]
ResolutionOpt = Annotated[
    Optional[float],
    typer.Option(
        "--resolution",
        "--res",
        "-r",
        rich_help_panel=_GRID,
        show_default="the Ref's pixel size",
        help="Output pixel size, in target-CRS units (metres for UTM).",
    ),
]
CrsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--crs",
        "--dst-crs",
        rich_help_panel=_GRID,
        show_default="the Ref's CRS",
        help="Output CRS, e.g. EPSG:32611. Without --resolution, the Ref's pixel size measured in "
        "it is rounded to 6 significant digits and the grid snapped to its multiples (-tap).",
    ),
]
ExtentOpt = Annotated[
    Optional[str],
    typer.Option(
        "--extent",
        "--bounds",
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
        help="LR bands to upscale, 1-based numbers or names, e.g. 1,2,3,4, red,green,blue,nir or "
        "B04,B03,B02,B08.",
    ),
]
RefBandsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ref-bands",
        rich_help_panel=_BANDS,
        metavar="LIST",
        show_default="by colour, else the first N",
        help="Ref bands paired with --lr-bands by position, 1-based numbers or names. Default: "
        "by colour when both declare them (red with red ...), else the first N.",
    ),
]
LrAssetsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--lr-assets",
        "--assets",
        rich_help_panel=_BANDS,
        metavar="LIST",
        show_default="red,green,blue,nir",
        help="When the LR is a STAC item (a .json file or URL): the assets to stack, by asset key or "
        "eo:bands common name, e.g. red,green,blue,nir or B04,B03,B02,B08.",
    ),
]
RefAssetsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ref-assets",
        rich_help_panel=_BANDS,
        metavar="LIST",
        show_default="red,green,blue,nir",
        help="When the Ref is a STAC item: the assets to stack, by asset key or eo:bands common name, "
        "e.g. image (NAIP: one 4-band asset) or red,green,blue,nir.",
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
_NODATA = "Nodata"
LrNodataOpt = Annotated[
    Optional[str],
    typer.Option(
        "--lr-nodata",
        rich_help_panel=_NODATA,
        metavar="VALUE|none",
        show_default="the LR's",
        help="Nodata value of the LR, replacing the declared one ('none': every pixel is data), "
        "like gdalwarp -srcnodata.",
    ),
]
RefNodataOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ref-nodata",
        rich_help_panel=_NODATA,
        metavar="VALUE|none",
        show_default="the Ref's",
        help="Nodata value of the Ref, replacing the declared one ('none': every pixel is data).",
    ),
]
DstNodataOpt = Annotated[
    Optional[str],
    typer.Option(
        "--dst-nodata",
        rich_help_panel=_NODATA,
        metavar="VALUE|none",
        show_default="the LR's",
        help="Nodata value of the output ('none': no value, an internal mask), like gdalwarp -dstnodata.",
    ),
]
ResamplingOpt = Annotated[
    Resampling,
    typer.Option(
        "--resampling",
        rich_help_panel=_GRID,
        case_sensitive=False,
        help="Kernel of the LR's warp onto the output grid (the model is trained on cubic).",
    ),
]
ThreadsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--threads",
        min=1,
        rich_help_panel=_RUN,
        show_default="torch's and GDAL's",
        help="CPU threads: torch.set_num_threads and GDAL_NUM_THREADS.",
    ),
]
MaxMemoryOpt = Annotated[
    Optional[str],
    typer.Option(
        "--max-memory",
        rich_help_panel=_RUN,
        show_default="80 % of RAM",
        help="Planned-memory budget, e.g. 2GiB, 500MB: a grid too wide for it is done in column "
        "blocks; a run whose tile batch or narrowest block does not fit is refused.",
    ),
]
CoOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--co",
        rich_help_panel=_OUT,
        metavar="KEY=VALUE",
        show_default=False,
        help="A creation option of GDAL's COG driver (repeatable), over ours and --compress, "
        "e.g. --co LEVEL=9 --co COMPRESS=LZW.",
    ),
]
VerboseOpt = Annotated[
    int,
    typer.Option("--verbose", "-v", count=True, rich_help_panel=_RUN, help="Log steps (-vv: debug)."),
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
        help="Autoguidance weight w >= 0 (1 = off).",
    ),
]
DetailOpt = Annotated[
    Optional[float],
    typer.Option(
        "--detail",
        rich_help_panel=_DSDIT,
        show_default="the model's",
        help="Share of the generated detail kept on top of the model's deterministic base (the "
        "Ref fusion; LR for older models): 0 = the base alone, 1 = the whole sample.",
    ),
]
RefDetailOpt = Annotated[
    Optional[float],
    typer.Option(
        "--ref-detail",
        rich_help_panel=_DSDIT,
        show_default="the model's schedule over the scale factor",
        help="Trust-gated Ref detail: the share g >= 0 of the output's finest detail replaced by "
        "the Ref's where the trust map trusts the Ref (g x trust); 0 = off. Same g at every scale.",
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


def parse_band_list(text: str | None, flag: str) -> list[int | str] | None:
    """'1,2,3' or '1 2 3' -> [1, 2, 3]; names stay names ('red,B08' -> ['red', 'B08']); None
    stays None. BandError when malformed."""
    if text is None:
        return None
    items = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    bands: list[int | str] = []
    for item in items:
        if re.fullmatch(r"[+-]?\d+", item):
            bands.append(int(item))
        elif re.fullmatch(r"[A-Za-z][\w.-]*", item):
            bands.append(item)
        else:
            raise BandError(
                f"{flag} must list 1-based band numbers or names like 1,2,3 or red,green,blue, got {text!r}"
            )
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
    detail: float | None = None,
    ref_detail: float | None = None,
    lr_nodata: str | None = None,
    ref_nodata: str | None = None,
    dst_nodata: str | None = None,
    resampling: str | Enum = "cubic",
    threads: int | None = None,
    co: list[str] | None = None,
    lr_assets: str | None = None,
    ref_assets: str | None = None,
    max_memory: str | None = None,
) -> UpscaleOptions:
    """The parsed CLI values as UpscaleOptions (range checks happen in the pipeline)."""
    from dsdit_geo.raster.creation_options import parse_creation_options
    from dsdit_geo.raster.nodata import parse_nodata

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
        detail=detail,
        ref_detail=ref_detail,
        lr_nodata=parse_nodata(lr_nodata, "--lr-nodata"),
        ref_nodata=parse_nodata(ref_nodata, "--ref-nodata"),
        dst_nodata=parse_nodata(dst_nodata, "--dst-nodata"),
        resampling=_text(resampling).lower(),
        threads=threads,
        creation_options=parse_creation_options(co),
        lr_assets=_names(lr_assets),
        ref_assets=_names(ref_assets),
        max_memory=max_memory,
    )


@contextlib.contextmanager
def quiet_libtiff_lines(verbose: int) -> Iterator[None]:
    """Without -v, libtiff's own error lines (a full disk: `_tiffWriteProc: No space left on
    device.`) stay off stderr, so a failure shows our one `Error:` line; -v leaves them."""
    if verbose > 0:
        yield
        return
    from dsdit_geo.raster.gdal_errors import quiet_libtiff  # loads rasterio: only when running

    with quiet_libtiff():
        yield


def _names(text: str | None) -> list[str] | None:
    """'red,green blue' -> ['red', 'green', 'blue']; None or blank -> None."""
    names = [item for item in re.split(r"[,\s]+", (text or "").strip()) if item]
    return names or None


@contextlib.contextmanager
def verbose_logging(verbose: int) -> Iterator[None]:
    """-v: INFO, -vv: DEBUG from dsdit_geo's loggers on stderr, for the command's duration (the
    handler is removed after, so repeated in-process runs do not pile up); nothing without -v."""
    if verbose <= 0:
        yield
        return
    import logging
    import sys

    logger = logging.getLogger("dsdit_geo")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def configure_logging(verbose: int) -> None:
    """-v: INFO, -vv: DEBUG, for dsdit_geo's loggers, on stderr; nothing without -v."""
    if verbose <= 0:
        return
    import logging

    logger = logging.getLogger("dsdit_geo")
    if not any(getattr(h, "_dsdit_geo_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._dsdit_geo_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def _text(value: str | Enum) -> str:
    return value.value if isinstance(value, Enum) else str(value)
