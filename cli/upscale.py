"""`dsdit-geo upscale LR REF OUT`: parse options, call `dsdit_geo.pipeline.upscale_file`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from dsdit_geo_cli import options as opt
from dsdit_geo_cli.errors import user_errors
from dsdit_geo_cli.upscale_params import UpscaleValues, with_upscale_options


@with_upscale_options()
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
    upscale: UpscaleValues = None,  # type: ignore[assignment]  # every upscale option (see upscale_params)
    verbose: opt.VerboseOpt = 0,
    json_summary: Annotated[
        bool,
        typer.Option(
            "--json",
            rich_help_panel="Output",
            help="Print a JSON summary on stdout: output, grid size, CRS, resolution, bounds, "
            "method, seconds, MP/s.",
        ),
    ] = False,
) -> None:
    """Super-resolve LR to the Ref's resolution over LR ∩ Ref and write a Cloud-Optimized GeoTIFF
    in the LR's units and dtype (nodata kept)."""
    with opt.verbose_logging(verbose), user_errors():
        options = opt.build_upscale_options(**upscale)
        from dsdit_geo.pipeline import upscale_file  # heavy (torch, rasterio): only when running

        with opt.quiet_libtiff_lines(verbose):
            report = upscale_file(lr, ref, out, options)
    if json_summary:
        typer.echo(json.dumps(report.to_json()))
    if not upscale["quiet"]:
        typer.echo(
            f"Wrote {report.out_path} ({report.width}×{report.height} px, {report.bands} bands, "
            f"{report.method}) in {report.seconds:.1f} s",
            err=True,
        )


def register(app: typer.Typer) -> None:
    app.command("upscale", no_args_is_help=True)(upscale)
