"""`dsdit-geo batch MANIFEST OUTDIR`: parse options, call `dsdit_geo.batch.run_batch`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from dsdit_geo_cli import options as opt
from dsdit_geo_cli.errors import user_errors
from dsdit_geo_cli.upscale_params import UpscaleValues, with_upscale_options
_BATCH = "Batch"


class Verify(str, Enum):
    quick = "quick"
    full = "full"

    def __str__(self) -> str:
        return self.value


WorkersOpt = Annotated[
    int,
    typer.Option(
        "--workers",
        "-w",
        min=1,
        rich_help_panel=_BATCH,
        help="Items run at once on this machine, each in its own process (spawned; torch threads "
        "split between them; with --device auto and GPUs, one GPU per worker in turn).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        rich_help_panel=_BATCH,
        metavar="ADDRESS",
        help="Send items to this Dask distributed scheduler (tcp://host:8786, or a scheduler JSON "
        "file). Workers need dsdit-geo installed and must see the same paths.",
    ),
]
LogOpt = Annotated[
    str | None,
    typer.Option(
        "--log",
        rich_help_panel=_BATCH,
        metavar="PATH",
        help="Write a JSON-lines record per item: index, lr, ref, out, status (done|skipped|failed), "
        "error, seconds, megapixels.",
    ),
]
VerifyOpt = Annotated[
    Verify,
    typer.Option(
        "--verify",
        rich_help_panel=_BATCH,
        case_sensitive=False,
        help="How existing outputs are checked before skipping them: quick (headers, block extents, "
        "tags, last blocks decode) or full (every block decodes).",
    ),
]
BatchTrustMapOpt = Annotated[
    str | None,
    typer.Option(
        "--trust-map",
        rich_help_panel="Output",
        metavar="TEMPLATE",
        help="Also write each item's Ref-weight map, named by this template with {stem} = the "
        "output's stem, beside the output (e.g. '{stem}_trust.tif'; hpf and dsdit).",
    ),
]
BatchOverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        rich_help_panel="Output",
        help="Redo every item, even those whose output is already complete.",
    ),
]

HELP = """Upscale many LR / Ref pairs into OUTDIR; rerun the same command to resume.

\b
MANIFEST is either
  * a CSV file with a header naming the columns lr,ref[,out], e.g.
        lr,ref,out
        s2/T11_2021.tif,naip/m_3411.tif,T11_sr.tif
        /vsizip/s2.zip/T12.tif,/vsicurl/https://host/naip/m_3412.tif,
    Relative lr/ref paths are relative to the CSV's folder; GDAL paths (/vsizip/..., /vsicurl/...)
    work. out is relative to OUTDIR (subfolders allowed); empty or absent: <lr stem>_sr.tif.
    Blank lines and lines starting with # are skipped. '-' reads the CSV from stdin;
  * a pairing rule 'LR_GLOB => REF_TEMPLATE [=> OUT_TEMPLATE]', e.g.
        'scenes/*_S2.tif => naip/{1}_NAIP.tif => {1}_sr.tif'
    Each file matching LR_GLOB (local glob: * ? [..] **) is paired with REF_TEMPLATE, where
    {stem} is the LR's name without extension, {name} its file name and {1}, {2}... the text
    matched by each wildcard (* ? **) of LR_GLOB. A REF_TEMPLATE that still has wildcards must
    match exactly one file. OUT_TEMPLATE defaults to {stem}_sr.tif.

\b
An output that is already complete (its blocks all lie in the file, it carries this version's
tags for the same inputs and options, and its last blocks decode) is skipped; anything else is
redone, and --overwrite redoes all. A failing pair is recorded and the others go on; a summary
ends the run, and the exit code is 1 when any item failed. Every upscale option applies.
"""


@with_upscale_options(
    replace={"trust_map": (BatchTrustMapOpt, None), "overwrite": (BatchOverwriteOpt, False)}
)
def batch(
    manifest: Annotated[
        str,
        typer.Argument(
            metavar="MANIFEST",
            help="CSV file (lr,ref[,out]), '-' for stdin, or 'LR_GLOB => REF_TEMPLATE'.",
            show_default=False,
        ),
    ],
    outdir: Annotated[
        str, typer.Argument(metavar="OUTDIR", help="Folder for the outputs (created).", show_default=False)
    ],
    workers: WorkersOpt = 1,
    scheduler: SchedulerOpt = None,
    log: LogOpt = None,
    verify: VerifyOpt = Verify.quick,
    upscale: UpscaleValues = None,  # type: ignore[assignment]  # every upscale option (see upscale_params)
    verbose: opt.VerboseOpt = 0,
) -> None:
    with opt.verbose_logging(verbose), user_errors():
        trust_map = upscale.pop("trust_map")  # a template: each item gets its own
        options = opt.build_upscale_options(**upscale, trust_map=None)
        from dsdit_geo.batch import load_manifest, run_batch  # heavy: only when running

        items = load_manifest(manifest, outdir, trust_template=trust_map)
        with opt.quiet_libtiff_lines(verbose):  # this process's items (workers: their own)
            summary = run_batch(
                items,
                options,
                outdir,
                workers=workers,
                scheduler=scheduler,
                log_path=log,
                verify=str(verify),
                report=not upscale["quiet"],
            )
    if not upscale["quiet"]:
        typer.echo(summary.text(), err=True)
    if not summary.ok:
        raise typer.Exit(1)


batch.__doc__ = HELP


def register(app: typer.Typer) -> None:
    app.command("batch", no_args_is_help=True)(batch)
