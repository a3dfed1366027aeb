"""`dsdit-geo evaluate`: parse options, call `dsdit_geo.evaluation.evaluate_cases`, print the table."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from dsdit_geo_cli import options as opt
from dsdit_geo_cli.errors import user_errors

_CASES = "Cases"
_RUNS = "Runs"
_OUT = "Output"


def evaluate(
    cases: Annotated[
        Optional[str],
        typer.Option(
            "--cases",
            "--data",
            metavar="PATH",
            rich_help_panel=_CASES,
            show_default="the dev split of $DSDIT_GEO_DATA, else ../shared/data",
            help="A folder with gt/ and ref/ (optional label/) images of matching names, a CSV of "
            "gt,ref[,label] rows, or a data root (its dev split).",
        ),
    ] = None,
    datasets: Annotated[
        Optional[str],
        typer.Option("--datasets", metavar="LIST", rich_help_panel=_CASES,
                     help="Only these datasets, e.g. levircd,dsifn."),
    ] = None,
    limit: Annotated[
        Optional[int],
        typer.Option("--limit", metavar="N", rich_help_panel=_CASES, help="Only the first N cases."),
    ] = None,
    scales: Annotated[
        str, typer.Option("--scales", metavar="LIST", rich_help_panel=_RUNS,
                          help="Scale factors (LR / HR pixel size), whole numbers.")
    ] = "4,8",
    methods: Annotated[
        Optional[str],
        typer.Option(
            "--methods",
            metavar="LIST",
            rich_help_panel=_RUNS,
            show_default="bicubic,hpf,dsdit,dsdit:guidance=1",
            help="Methods, each optionally with overrides NAME:key=value;key=value (keys: steps, "
            "guidance, ref_scale_weak, detail, ref_detail, guide, weights, seed, tile_px, overlap_px), e.g. "
            "'hpf,dsdit:guidance=1.2;steps=8'.",
        ),
    ] = None,
    degradation: Annotated[
        str,
        typer.Option("--degradation", metavar="LIST", rich_help_panel=_RUNS,
                     help="How the LR is made from the GT, one or more of gauss_area (Gaussian blur "
                     "0.4*scale px + area average), bicubic_aa (antialiased bicubic, as PIL / Matlab "
                     "imresize), s2_mtf (Sentinel-2-like Gaussian MTF, point-sampled)."),
    ] = "gauss_area",
    ref_mode: Annotated[
        str,
        typer.Option("--ref-mode", metavar="LIST", rich_help_panel=_RUNS,
                     help="Ref-use probes, one or more of real (the case's Ref), gt (the ground truth "
                     "as the Ref), unrelated (the Ref of another scene), flat (constant grey)."),
    ] = "real",
    perceptual: Annotated[
        bool, typer.Option("--perceptual/--no-perceptual", rich_help_panel=_RUNS,
                           help="Also compute LPIPS (AlexNet) and DISTS (slower; optional weights).")
    ] = True,
    dists: Annotated[
        bool, typer.Option("--dists/--no-dists", rich_help_panel=_RUNS,
                           help="With --perceptual, also DISTS (VGG-16: most of the metric time on a CPU).")
    ] = True,
    seed: opt.SeedOpt = 0,
    device: opt.DeviceOpt = "auto",
    batch_size: opt.BatchSizeOpt = 4,
    json_path: Annotated[
        Optional[str],
        typer.Option("--json", metavar="PATH", rich_help_panel=_OUT,
                     help="Write per-case rows and aggregates as JSON."),
    ] = None,
    workdir: Annotated[
        Optional[str],
        typer.Option("--workdir", metavar="DIR", rich_help_panel=_OUT, show_default="a temporary folder",
                     help="Where the GT / LR / Ref / output GeoTIFFs are written."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", rich_help_panel=_OUT, help="Keep the GeoTIFFs (default: removed).")
    ] = False,
    by_dataset: Annotated[
        bool, typer.Option("--by-dataset", rich_help_panel=_OUT, help="Also print a table per dataset.")
    ] = False,
    quiet: opt.QuietOpt = False,
) -> None:
    """Score methods on (GT, Ref) cases through the real upscale pipeline: the LR is the GT
    degraded at each scale; PSNR/SSIM on 8-bit RGB, LPIPS, DISTS, seconds per case, and the
    trust map on changed vs unchanged pixels where a change label exists."""
    with user_errors():
        from dsdit_geo.evaluation import (  # heavy (torch, rasterio): only when running
            DEFAULT_METHODS,
            cases_from_path,
            dev_split_cases,
            evaluate_cases,
            parse_methods,
            parse_scales,
            select_cases,
        )

        specs = parse_methods(methods if methods is not None else DEFAULT_METHODS)
        scale_list = parse_scales(scales)
        dataset_list = None if datasets is None else [d for d in datasets.split(",") if d.strip()]
        if json_path is not None:
            from dsdit_geo.raster.cog import check_output_path

            check_output_path(json_path, overwrite=True, what="--json file")
        all_cases = cases_from_path(cases) if cases is not None else dev_split_cases()
        chosen = select_cases(all_cases, dataset_list, limit)
        result = evaluate_cases(
            chosen,
            scale_list,
            specs,
            perceptual=perceptual,
            seed=seed,
            device=device,
            batch_size=batch_size,
            workdir=workdir,
            keep=keep,
            progress=not quiet,
            config={"cases_source": cases or "dev split (seed 0) of the shared data",
                    "datasets": dataset_list, "limit": limit},
            degradations=degradation,
            ref_modes=ref_mode,
            dists=dists,
        )
        if json_path is not None:
            result.write_json(json_path)
    counts = ", ".join(f"{d} {sum(c.dataset == d for c in chosen)}" for d in dict.fromkeys(c.dataset for c in chosen))
    typer.echo(f"{len(chosen)} cases ({counts}); scales {','.join(map(str, scale_list))}; "
               f"degradation {degradation}; ref {ref_mode}; seed {seed}")
    typer.echo(result.table())
    if by_dataset:
        from dsdit_geo.evaluation import format_table

        typer.echo("")
        typer.echo(format_table(result.by_dataset))
    if not quiet:
        typer.echo(f"Evaluated in {result.seconds:.1f} s", err=True)
        if keep:
            typer.echo(f"GeoTIFFs kept in {result.config['workdir']}", err=True)
        if json_path is not None:
            typer.echo(f"Wrote {json_path}", err=True)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
