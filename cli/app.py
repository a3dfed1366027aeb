"""The `dsdit-geo` Typer app: one module per command, each exposing `register(app)`.

Command modules import heavy libraries (torch, rasterio, diffusers) inside their functions so
that `--help` and `--version` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Optional

import typer

from dsdit_geo import __version__

app = typer.Typer(
    name="dsdit-geo",
    help="Super-resolve satellite rasters with a high-resolution reference image (DS-DiT).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = ("upscale", "batch", "train", "evaluate")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dsdit-geo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    """Super-resolve satellite rasters with a high-resolution reference image (DS-DiT)."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"dsdit_geo_cli.{_name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
