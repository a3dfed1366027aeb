"""`dsdit-geo train` through the CLI: a 2-step run end to end, resume, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from dsdit_geo_cli.app import app
from typer.testing import CliRunner

from dsdit_geo.model import DSDiTTransformer

runner = CliRunner()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """A gt/ + ref/ folder of three smooth random pairs."""
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(5)
    for sub in ("gt", "ref"):
        (root / sub).mkdir()
    for k in range(3):
        tex = gaussian_filter(rng.random((3, 64, 64)), (0, 2, 2))
        gt = (20 + 215 * (tex - tex.min()) / (tex.max() - tex.min())).astype(np.uint8)
        for sub, arr in (("gt", gt), ("ref", gt[:, ::-1].copy())):
            with rasterio.open(root / sub / f"s{k}.tif", "w", driver="GTiff", count=3, height=64, width=64,
                               dtype="uint8") as dst:
                dst.write(arr)
    return root


def _args(pairs: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(pairs), "--out", str(out), "--name", "cli", "--preset", "tiny",
            "--steps", "2", "--batch-size", "2", "--crop-px", "32", "--device", "cpu", "--num-threads", "1",
            "--quiet", *extra]


def test_cli_trains_and_exports_a_loadable_model(pairs: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"warmup_steps": 1, "dev_every": 1, "dev_batch_size": 2, "log_every": 1}))
    result = runner.invoke(app, _args(pairs, tmp_path, "--config", str(config)))
    assert result.exit_code == 0, result.output
    final = tmp_path / "cli" / "final"
    model = DSDiTTransformer.from_pretrained(final)
    assert model.config.hidden_dim == 32
    recorded = json.loads((final / "train_config.json").read_text())
    assert recorded["steps"] == 2 and recorded["warmup_steps"] == 1 and recorded["preset"] == "tiny"
    assert json.loads((final / "train_stats.json").read_text())["steps"] == 2
    log = [json.loads(x) for x in (tmp_path / "cli" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 1, 2] and log[-1]["dev_loss"] > 0
    x = torch.zeros(1, 3, 16, 16)
    assert model(x, x, x, torch.tensor([0.3]), scale=torch.tensor([5.0])).velocity.shape == x.shape

    # same command again: resumes the finished run (nothing to do); more steps extend it
    again = runner.invoke(app, ["train", "--out", str(tmp_path), "--name", "cli", "--steps", "3", "--quiet"])
    assert again.exit_code == 0, again.output
    assert json.loads((final / "train_stats.json").read_text())["steps"] == 3
    refused = runner.invoke(app, _args(pairs, tmp_path, "--no-resume"))
    assert refused.exit_code == 1 and "already holds checkpoints" in refused.output

    # fine-tune: a new run starting from that model, with the weak pass trained
    tuned = runner.invoke(app, [*_args(pairs, tmp_path, "--init-weights", str(final), "--weak-ref-prob", "0.2"),
                                "--name", "tuned"])
    assert tuned.exit_code == 0, tuned.output
    recorded = json.loads((tmp_path / "tuned" / "final" / "train_config.json").read_text())
    assert recorded["init_weights"] == str(final) and recorded["weak_ref_prob"] == 0.2


@pytest.mark.parametrize("extra, message", [
    (["--data", "/nonexistent/folder"], "training data not found: /nonexistent/folder"),
    (["--crop-px", "30"], "crop_px must be a positive multiple of the patch size 4"),
    (["--preset", "giant"], "unknown preset 'giant'"),
    (["--device", "tpu"], "device must be auto, cpu, cuda or cuda:N"),
    (["--weak-ref-prob", "1.5"], "weak_ref_prob must be in [0, 1)"),
    (["--init-weights", "/nonexistent/model"], "init_weights: /nonexistent/model is not a model folder"),
])
def test_cli_bad_input_is_one_line(pairs: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, _args(pairs, tmp_path, *extra))
    assert result.exit_code == 1
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def test_cli_bad_config_key(pairs: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"learning_rate": 1e-4}))
    result = runner.invoke(app, _args(pairs, tmp_path, "--config", str(config)))
    assert result.exit_code == 1 and "unknown key 'learning_rate'" in result.output
    missing = runner.invoke(app, _args(pairs, tmp_path, "--config", str(tmp_path / "none.json")))
    assert missing.exit_code == 1 and "config file not found" in missing.output
