"""Aggregation, the table and JSON-safe output (pure)."""

import json
import math

from dsdit_geo.evaluation.report import EvaluationResult, RunRow, TrustStats, aggregate, format_table, json_safe


def row(case, method, scale, psnr, lpips=None, trust=None, dataset="d"):
    return RunRow(case_id=case, dataset=dataset, scale=scale, method=method, width=8, height=8,
                  seconds=1.0, psnr=psnr, ssim=0.5, lpips=lpips, dists=lpips, trust=trust)


def test_aggregate_means_and_pooled_trust():
    rows = [
        row("a", "hpf", 4, 20.0, 0.2, TrustStats(1.0, 10, 9.0, 10)),
        row("b", "hpf", 4, 30.0, 0.4, TrustStats(3.0, 30, 0.0, 0)),
        row("c", "hpf", 4, 40.0, 0.6, None, dataset="e"),
        row("a", "bicubic", 4, 10.0),
    ]
    hpf, bicubic = aggregate(rows)
    assert (hpf.method, hpf.n_cases, hpf.psnr, hpf.n_labelled) == ("hpf", 3, 30.0, 2)
    assert math.isclose(hpf.lpips, 0.4)
    assert math.isclose(hpf.trust.changed_mean, 4.0 / 40) and math.isclose(hpf.trust.unchanged_mean, 0.9)
    assert bicubic.lpips is None and bicubic.trust.changed_mean is None
    by_dataset = aggregate(rows, by_dataset=True)
    assert [(a.method, a.dataset, a.n_cases) for a in by_dataset] == [("hpf", "d", 2), ("hpf", "e", 1),
                                                                       ("bicubic", "d", 1)]


def test_inf_psnr_is_json_safe():
    rows = [row("a", "bicubic", 4, math.inf), row("b", "bicubic", 4, 20.0)]
    result = EvaluationResult(rows=rows, config={"x": float("nan")})
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert data["aggregates"][0]["psnr"] == "inf" and data["rows"][0]["psnr"] == "inf"
    assert data["config"]["x"] == "nan"
    assert json.loads(text)["rows"][1]["psnr"] == 20.0
    assert json_safe([-math.inf, 1.5]) == ["-inf", 1.5]
    assert " inf " in format_table(result.aggregates) + " "


def test_table_layout():
    rows = [row("a", "hpf", 8, 20.0, 0.2, TrustStats(1.0, 10, 9.0, 10)), row("a", "hpf", 4, 21.0, 0.3)]
    lines = format_table(aggregate(rows)).splitlines()
    assert lines[0].split()[:6] == ["method", "scale", "PSNR", "SSIM", "LPIPS", "DISTS"]
    assert lines[2].split()[:3] == ["hpf", "x4", "21.00"]  # sorted by scale
    assert lines[3].split()[-2:] == ["0.100", "0.900"]
    assert lines[2].split()[-2:] == ["-", "-"]
