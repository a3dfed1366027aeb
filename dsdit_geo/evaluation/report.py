"""Evaluation results: per-run rows, aggregates per (method, scale), the table, JSON (pure).

Units: PSNR in dB on 8-bit RGB (inf for identical images), SSIM in [-1, 1], LPIPS (AlexNet)
and DISTS >= 0 (lower is better; None when not computed), seconds = wall time of one
`upscale_file` call. Trust = the method's per-pixel weight of the Ref in [0, 1]; aggregates
pool the pixels of every labelled case (changed: label > 0), and of every case for the mean
trust over all pixels. The trust AUC is the chance that an unchanged pixel is trusted more than
a changed one (ties half; from 256-bin histograms, so it pools like the sums): unlike the gap
of the means it does not move when the map is rescaled, so it tells ranking from calibration.
Each row also says how its LR was made (`degradation`, a `train.degrade.KERNELS` name) and
which Ref the method saw (`ref_mode`: real | gt | unrelated | flat, the Ref-use probes).
JSON cannot hold inf / nan: `json_safe` writes them as the strings "inf", "-inf", "nan".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

METRICS = ("psnr", "ssim", "lpips", "dists")
TRUST_HIST_BINS = 256  # histogram bins over [0, 1] for the trust AUC


def _add_hist(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    if not a or not b:
        return a or b
    return tuple(x + y for x, y in zip(a, b, strict=True))


def rank_auc(positive_hist: Sequence[int], negative_hist: Sequence[int]) -> float | None:
    """P(positive > negative) + 0.5 P(same bin) for two histograms over the same bins (the
    Mann-Whitney AUC of binned values); None when either is empty."""
    n_pos, n_neg = sum(positive_hist), sum(negative_hist)
    if not n_pos or not n_neg:
        return None
    below, wins = 0, 0.0  # negatives in lower bins; running count of positive-over-negative pairs
    for pos, neg in zip(positive_hist, negative_hist, strict=True):
        wins += pos * (below + 0.5 * neg)
        below += neg
    return wins / (n_pos * n_neg)


@dataclass
class TrustStats:
    """Sums of the trust map over changed / unchanged labelled pixels and over all scored
    pixels (NaN pixels left out)."""

    changed_sum: float = 0.0
    changed_px: int = 0
    unchanged_sum: float = 0.0
    unchanged_px: int = 0
    all_sum: float = 0.0
    all_px: int = 0
    changed_hist: tuple[int, ...] = ()  # TRUST_HIST_BINS counts over [0, 1]; () = none recorded
    unchanged_hist: tuple[int, ...] = ()

    def __add__(self, other: TrustStats) -> TrustStats:
        return TrustStats(self.changed_sum + other.changed_sum, self.changed_px + other.changed_px,
                          self.unchanged_sum + other.unchanged_sum, self.unchanged_px + other.unchanged_px,
                          self.all_sum + other.all_sum, self.all_px + other.all_px,
                          _add_hist(self.changed_hist, other.changed_hist),
                          _add_hist(self.unchanged_hist, other.unchanged_hist))

    @property
    def labelled(self) -> bool:
        return bool(self.changed_px or self.unchanged_px)

    @property
    def mean(self) -> float | None:
        return self.all_sum / self.all_px if self.all_px else None

    @property
    def changed_mean(self) -> float | None:
        return self.changed_sum / self.changed_px if self.changed_px else None

    @property
    def unchanged_mean(self) -> float | None:
        return self.unchanged_sum / self.unchanged_px if self.unchanged_px else None

    @property
    def auc(self) -> float | None:
        """Chance that an unchanged pixel is trusted more than a changed one (`rank_auc`)."""
        if not self.changed_hist or not self.unchanged_hist:
            return None
        return rank_auc(self.unchanged_hist, self.changed_hist)


@dataclass
class RunRow:
    """One (case, scale, method) run. width / height: HR pixels scored."""

    case_id: str
    dataset: str
    scale: int
    method: str  # the spec's label, e.g. "dsdit(w=1)"
    width: int
    height: int
    seconds: float
    psnr: float
    ssim: float
    lpips: float | None = None
    dists: float | None = None
    trust: TrustStats | None = None  # methods with a trust map only
    degradation: str = "gauss_area"
    ref_mode: str = "real"

    def to_dict(self) -> dict[str, object]:
        out = {k: v for k, v in asdict(self).items() if k != "trust"}
        out["trust_mean"] = self.trust.mean if self.trust else None
        out["trust_auc"] = self.trust.auc if self.trust else None
        out["trust_changed"] = self.trust.changed_mean if self.trust else None
        out["trust_unchanged"] = self.trust.unchanged_mean if self.trust else None
        out["trust_changed_px"] = self.trust.changed_px if self.trust else None
        out["trust_unchanged_px"] = self.trust.unchanged_px if self.trust else None
        return out


@dataclass
class Aggregate:
    """Means over the cases of one (method, scale) (and dataset, when grouped by it)."""

    method: str
    scale: int
    n_cases: int
    psnr: float
    ssim: float
    lpips: float | None
    dists: float | None
    seconds_per_case: float
    dataset: str | None = None
    n_labelled: int = 0
    trust: TrustStats = field(default_factory=TrustStats)
    degradation: str = "gauss_area"
    ref_mode: str = "real"

    def to_dict(self) -> dict[str, object]:
        out = {k: v for k, v in asdict(self).items() if k != "trust"}
        if self.dataset is None:
            del out["dataset"]
        out["trust_mean"] = self.trust.mean
        out["trust_auc"] = self.trust.auc
        out["trust_changed"] = self.trust.changed_mean
        out["trust_unchanged"] = self.trust.unchanged_mean
        out["trust_changed_px"] = self.trust.changed_px
        out["trust_unchanged_px"] = self.trust.unchanged_px
        return out


def _mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values (None if any is None or there are none); inf if any is inf."""
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return float(sum(values) / len(values))


def aggregate(rows: Sequence[RunRow], by_dataset: bool = False) -> list[Aggregate]:
    """Mean metrics per (method, scale, degradation, ref_mode[, dataset]), in the order the
    groups first appear."""
    groups: dict[tuple, list[RunRow]] = {}
    for row in rows:
        key = (row.method, row.scale, row.degradation, row.ref_mode, row.dataset if by_dataset else None)
        groups.setdefault(key, []).append(row)
    out = []
    for (method, scale, degradation, ref_mode, dataset), members in groups.items():
        trust = TrustStats()
        with_trust = [r.trust for r in members if r.trust is not None]
        for stats in with_trust:
            trust = trust + stats
        labelled = [t for t in with_trust if t.labelled]
        out.append(Aggregate(
            method=method, scale=scale, dataset=dataset, n_cases=len(members),
            degradation=degradation, ref_mode=ref_mode,
            psnr=_mean(r.psnr for r in members), ssim=_mean(r.ssim for r in members),
            lpips=_mean(r.lpips for r in members), dists=_mean(r.dists for r in members),
            seconds_per_case=_mean(r.seconds for r in members), n_labelled=len(labelled), trust=trust,
        ))
    return out


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def format_table(aggregates: Sequence[Aggregate]) -> str:
    """Plain-text table, one line per (method, scale, degradation, ref mode): PSNR, SSIM,
    LPIPS, DISTS, s/case, n, the mean trust over all pixels and on changed / unchanged
    labelled pixels, and the trust AUC (unchanged over changed). The degradation / Ref columns
    appear when any row is not the default."""
    probes = any((a.degradation, a.ref_mode) != ("gauss_area", "real") for a in aggregates)
    header = ("method", "scale", *(("degradation", "ref") if probes else ()), "PSNR", "SSIM", "LPIPS",
              "DISTS", "s/case", "n", "trust", "trust chg", "trust unchg", "trust AUC")
    lines = [header]
    order = sorted(aggregates, key=lambda a: (a.scale, a.degradation, a.ref_mode) if probes else (a.scale,))
    for a in order:
        lines.append((
            a.method + (f" [{a.dataset}]" if a.dataset else ""), f"x{a.scale}",
            *((a.degradation, a.ref_mode) if probes else ()), _fmt(a.psnr, 2),
            _fmt(a.ssim, 4), _fmt(a.lpips, 4), _fmt(a.dists, 4), _fmt(a.seconds_per_case, 2),
            str(a.n_cases), _fmt(a.trust.mean, 3), _fmt(a.trust.changed_mean, 3),
            _fmt(a.trust.unchanged_mean, 3), _fmt(a.trust.auc, 3),
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = []
    for k, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:])]
        text.append("  ".join(cells).rstrip())
        if k == 0:
            text.append("  ".join("-" * w for w in widths))
    return "\n".join(text)


def json_safe(value: object) -> object:
    """Recursively replace non-finite floats by "inf" / "-inf" / "nan" and paths by strings."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class EvaluationResult:
    """Everything one evaluation measured.

    rows:       one RunRow per (case, scale, method), in run order.
    aggregates: means per (method, scale); by_dataset: per (method, scale, dataset).
    config:     what was run (methods, scales, seed, perceptual, cases, versions).
    seconds:    wall time of the whole evaluation.
    """

    rows: list[RunRow]
    config: dict[str, object]
    seconds: float = 0.0

    @property
    def aggregates(self) -> list[Aggregate]:
        return aggregate(self.rows)

    @property
    def by_dataset(self) -> list[Aggregate]:
        return aggregate(self.rows, by_dataset=True)

    def get(self, method: str, scale: int, degradation: str | None = None,
            ref_mode: str | None = None) -> Aggregate:
        """The aggregate of one method label at one scale (and degradation / Ref mode, when
        given; else the first group of the method and scale). KeyError if absent."""
        for agg in self.aggregates:
            if (agg.method == method and agg.scale == scale
                    and degradation in (None, agg.degradation) and ref_mode in (None, agg.ref_mode)):
                return agg
        raise KeyError((method, scale, degradation, ref_mode))

    def table(self) -> str:
        return format_table(self.aggregates)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict: config, rows, aggregates, aggregates_by_dataset, seconds."""
        return json_safe({
            "config": self.config,
            "seconds": self.seconds,
            "aggregates": [a.to_dict() for a in self.aggregates],
            "aggregates_by_dataset": [a.to_dict() for a in self.by_dataset],
            "rows": [r.to_dict() for r in self.rows],
            "notes": "Means over cases; trust pooled over labelled pixels; non-finite numbers "
                     "are the strings 'inf', '-inf', 'nan'.",
        })

    def write_json(self, path: Path | str) -> Path:
        """Write `to_dict()` to `path` (strict JSON, indented) through a temporary name."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        tmp.replace(path)
        return path
