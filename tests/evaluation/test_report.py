"""Aggregation, the table and JSON-safe output (pure)."""

import json
import math

import numpy as np

from dsdit_geo.evaluation.report import (
    EvaluationResult,
    RunRow,
    TrustStats,
    aggregate,
    format_table,
    json_safe,
    rank_auc,
)
from dsdit_geo.evaluation.runner import trust_stats


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
    assert lines[0].split()[-3:] == ["unchg", "trust", "AUC"]
    assert lines[3].split()[-3:] == ["0.100", "0.900", "-"]  # no histograms recorded: no AUC
    assert lines[2].split()[-3:] == ["-", "-", "-"]


def _pairwise_auc(high: np.ndarray, low: np.ndarray) -> float:
    """P(high > low) + 0.5 P(high == low) over all pairs (the definition, brute force)."""
    diff = high[:, None] - low[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def test_rank_auc_is_the_pairwise_probability():
    assert rank_auc([0, 0, 5], [3, 0, 0]) == 1.0  # every positive above every negative
    assert rank_auc([3, 0, 0], [0, 0, 5]) == 0.0
    assert rank_auc([2, 2], [1, 1]) == 0.5  # the same distribution
    assert rank_auc([0, 0], [1, 1]) is None
    rng = np.random.default_rng(0)
    high, low = rng.integers(0, 10, 50), rng.integers(0, 7, 40)  # integer values = bins, ties included
    hist = lambda v: np.bincount(v, minlength=10).tolist()  # noqa: E731
    assert math.isclose(rank_auc(hist(high), hist(low)), _pairwise_auc(high, low))


def test_trust_auc_pools_across_cases_and_ignores_rescaling():
    rng = np.random.default_rng(1)
    maps = [rng.uniform(0, 0.5, (16, 16)) for _ in range(2)]
    labels = [rng.random((16, 16)) < 0.3 for _ in range(2)]
    for trust, label in zip(maps, labels):
        trust[~label] += 0.2  # unchanged land trusted more, with overlap
    everything = np.ones((16, 16), bool)
    pooled = trust_stats(maps[0], labels[0], everything) + trust_stats(maps[1], labels[1], everything)
    unchanged = np.concatenate([m[~lb] for m, lb in zip(maps, labels)])
    changed = np.concatenate([m[lb] for m, lb in zip(maps, labels)])
    assert 0.5 < pooled.auc < 1.0
    assert abs(pooled.auc - _pairwise_auc(unchanged, changed)) < 0.01  # binning error only
    halved = trust_stats(maps[0] / 2, labels[0], everything) + trust_stats(maps[1] / 2, labels[1], everything)
    assert halved.unchanged_mean - halved.changed_mean < pooled.unchanged_mean - pooled.changed_mean
    assert abs(halved.auc - pooled.auc) < 0.01  # the gap of the means halves, the ranking does not
    assert math.isclose(pooled.changed_mean, float(changed.mean()))
    row_json = RunRow("a", "d", 4, "m", 16, 16, 1.0, 20.0, 0.5, trust=pooled).to_dict()
    assert math.isclose(row_json["trust_auc"], pooled.auc) and "unchanged_hist" not in row_json
