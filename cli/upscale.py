"""`dsdit-geo upscale LR REF OUT`: parse options, call `dsdit_geo.pipeline.upscale_file`."""

from __future__ import annotations

from typing import Annotated

import typer
from dsdit_geo_cli import options as opt
from dsdit_geo_cli.errors import user_errors

D = opt.DEFAULTS


def upscale(
    lr: Annotated[
        str,
        typer.Argument(
            metavar="LR", help="Low-resolution raster, e.g. Sentinel-2 at 10 m.", show_default=False
        ),
    ],
    ref: Annotated[
        str,
        typer.Argument(
            metavar="REF", help="High-resolution reference of the same place, e.g. NAIP.", show_default=False
        ),
    ],
    out: Annotated[
        str, typer.Argument(metavar="OUT", help="Output Cloud-Optimized GeoTIFF.", show_default=False)
    ],
    method: opt.MethodOpt = opt.DEFAULT_METHOD,
    resolution: opt.ResolutionOpt = D.resolution,
    crs: opt.CrsOpt = D.crs,
    extent: opt.ExtentOpt = None,
    lr_bands: opt.LrBandsOpt = None,
    ref_bands: opt.RefBandsOpt = None,
    tile_px: opt.TilePxOpt = D.tile_px,
    overlap_px: opt.OverlapPxOpt = D.overlap_px,
    batch_size: opt.BatchSizeOpt = D.batch_size,
    seed: opt.SeedOpt = D.seed,
    device: opt.DeviceOpt = D.device,
    overwrite: opt.OverwriteOpt = D.overwrite,
    quiet: opt.QuietOpt = D.quiet,
    compress: opt.CompressOpt = opt.DEFAULT_COMPRESS,
    trust_map: opt.TrustMapOpt = D.trust_map,
    weights: opt.WeightsOpt = D.weights,
    steps: opt.StepsOpt = D.steps,
    guidance: opt.GuidanceOpt = D.guidance,
    ref_scale_weak: opt.RefScaleWeakOpt = D.ref_scale_weak,
    guide: opt.GuideOpt = D.guide,
) -> None:
    """Super-resolve LR to the Ref's resolution over LR ∩ Ref and write a Cloud-Optimized GeoTIFF
    in the LR's units and dtype (nodata kept)."""
    with user_errors():
        options = opt.build_upscale_options(
            method=method,
            resolution=resolution,
            crs=crs,
            extent=extent,
            lr_bands=lr_bands,
            ref_bands=ref_bands,
            tile_px=tile_px,
            overlap_px=overlap_px,
            batch_size=batch_size,
            seed=seed,
            overwrite=overwrite,
            quiet=quiet,
            device=device,
            compress=compress,
            trust_map=trust_map,
            weights=weights,
            steps=steps,
            guidance=guidance,
            ref_scale_weak=ref_scale_weak,
            guide=guide,
        )
        from dsdit_geo.pipeline import upscale_file  # heavy (torch, rasterio): only when running

        report = upscale_file(lr, ref, out, options)
    if not quiet:
        typer.echo(
            f"Wrote {report.out_path} ({report.width}×{report.height} px, {report.bands} bands, "
            f"{report.method}) in {report.seconds:.1f} s",
            err=True,
        )


def register(app: typer.Typer) -> None:
    app.command("upscale", no_args_is_help=True)(upscale)
