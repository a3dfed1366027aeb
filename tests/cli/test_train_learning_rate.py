"""`train --learning-rate` (was --lr, which elsewhere means the low-resolution input)."""

import typer
from dsdit_geo_cli.app import app
from typer.testing import CliRunner


def test_learning_rate_option_name():
    params = {p.name: p.opts for p in typer.main.get_command(app).commands["train"].params}
    assert params["lr"] == ["--learning-rate"]  # the TrainConfig key stays `lr`
    old = CliRunner().invoke(app, ["train", "--lr", "1e-3", "--steps", "1"])
    assert old.exit_code == 2 and "No such option" in old.output
