"""`--max-memory`: a run planned over it is refused with one line; a bad size is one line too."""

from __future__ import annotations

import os

import pytest
from dsdit_geo_cli.app import app
from typer.testing import CliRunner

from dsdit_geo.raster.synthetic import write_pair

runner = CliRunner()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


def invoke(*args):
    return runner.invoke(app, ["upscale", *map(str, args), "-m", "bicubic", "--quiet"])


@pytest.mark.parametrize(
    "value, says",
    [("200MiB", "more than the 200 MiB --max-memory allows"), ("lots", "--max-memory must be a size")],
)
def test_over_budget_or_bad_size_is_one_error_line(pair, tmp_path, value, says):
    result = invoke(*pair, tmp_path / "out.tif", "--max-memory", value)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], result.stderr
    assert os.listdir(tmp_path) == []


def test_within_budget_runs(pair, tmp_path):
    result = invoke(*pair, tmp_path / "out.tif", "--max-memory", "1GiB")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out.tif").exists()


def test_batch_takes_the_option():
    result = runner.invoke(app, ["batch", "--help"], env={"COLUMNS": "200"})
    assert "--max-memory" in result.output
