"""The upscale options are listed once (cli/upscale_params.py) and reach upscale and batch."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest
import typer
from dsdit_geo_cli import options as opt
from dsdit_geo_cli.app import app
from dsdit_geo_cli.upscale_params import UPSCALE_OPTIONS, with_upscale_options
from typer.testing import CliRunner

from dsdit_geo.config import UpscaleOptions


def flags(kind) -> list[str]:
    info = next(a for a in typing.get_args(kind)[1:] if isinstance(a, typer.models.OptionInfo))
    return [info.default, *info.param_decls] if isinstance(info.default, str) else list(info.param_decls)


def help_text(command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_list_matches_the_builder_and_the_options():
    names = [name for name, _, _ in UPSCALE_OPTIONS]
    assert len(names) == len(set(names))
    built = set(inspect.signature(opt.build_upscale_options).parameters)
    assert set(names) == built
    fields = {f.name for f in dataclasses.fields(UpscaleOptions)}
    assert set(names) - fields == {"co"}  # --co becomes creation_options


@pytest.mark.parametrize("command", ["upscale", "batch"])
def test_every_option_and_alias_reaches_the_command(command):
    text = help_text(command)
    for name, kind, _ in UPSCALE_OPTIONS:
        for flag in flags(kind):
            assert flag in text, f"{command} --help lacks {flag}"
    assert "--workers" in text if command == "batch" else "--json" in text


def test_batch_swaps_its_own_trust_map_and_overwrite():
    assert "{stem}" in help_text("batch") and "{stem}" not in help_text("upscale")


def test_the_decorator_hands_the_values_over_as_one_dict():
    seen = {}

    @with_upscale_options(exclude=("co",))
    def command(path: str, upscale: dict = None, extra: int = 1) -> None:  # noqa: RUF013
        seen.update(upscale, path=path, extra=extra)

    params = list(inspect.signature(command).parameters)
    assert params[0] == "path" and params[-1] == "extra" and "co" not in params and "method" in params
    small = typer.Typer()
    small.command()(command)
    result = CliRunner().invoke(small, ["p.tif", "--steps", "3", "-m", "hpf", "--extra", "2"])
    assert result.exit_code == 0, result.output
    assert seen["steps"] == 3 and str(seen["method"]) == "hpf" and seen["extra"] == 2 and seen["path"] == "p.tif"
    assert "co" not in seen and seen["tile_px"] is None
