"""Outside a development checkout, `train` and `evaluate` ask for --data / $DSDIT_GEO_DATA."""

from __future__ import annotations

import pytest
from dsdit_geo_cli.app import app
from typer.testing import CliRunner

from dsdit_geo.errors import InputError
from dsdit_geo.train import sources

MESSAGE = "Error: no data folder: pass --data DIR or set $DSDIT_GEO_DATA"


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """As if installed from a wheel: no ../shared/data beside the package, no $DSDIT_GEO_DATA."""
    monkeypatch.delenv("DSDIT_GEO_DATA", raising=False)
    monkeypatch.setattr(sources, "CHECKOUT_DATA", tmp_path / "nowhere" / "shared" / "data")
    monkeypatch.chdir(tmp_path)


def test_default_data_root(installed, monkeypatch, tmp_path):
    with pytest.raises(InputError, match="pass --data DIR or set"):
        sources.default_data_root()
    monkeypatch.setenv("DSDIT_GEO_DATA", str(tmp_path))
    assert sources.default_data_root() == tmp_path


@pytest.mark.parametrize("command", [["evaluate", "--no-perceptual"], ["train", "--steps", "1"]])
def test_commands_ask_for_data_in_one_line(installed, command):
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith(MESSAGE), result.output
    assert "Traceback" not in result.output


def test_evaluate_takes_data_as_an_alias_of_cases(installed, tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path / "empty"), "--no-perceptual"])
    assert result.exit_code == 1 and "no data folder" not in result.output
    assert "Error:" in result.output and str(tmp_path / "empty") in result.output
