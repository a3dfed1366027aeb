"""Evaluation results: per-run rows, aggregates per (method, scale), the table, JSON (pure).

Units: PSNR in dB on 8-bit RGB (inf for identical images), SSIM in [-1, 1], LPIPS (AlexNet)
and DISTS >= 0 (lower is better; None when not computed), seconds = wall time of one
`upscale_file` call. Trust = the method's per-pixel weight of the Ref in [0, 1]; aggregates
pool the pixels of every labelled case (changed: label > 0).
JSON cannot hold inf / nan: `json_safe` writes them as the strings "inf", "-inf", "nan".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

METRICS = ("psnr", "ssim", "lpips", "dists")


@dataclass
class TrustStats:
    """Sums of the trust map over changed / unchanged labelled pixels (NaN pixels left out)."""

    changed_sum: float = 0.0
    changed_px: int = 0
    unchanged_sum: float = 0.0
    unchanged_px: int = 0

    def __add__(self, other: TrustStats) -> TrustStats:
        return TrustStats(self.changed_sum + other.changed_sum, self.changed_px + other.changed_px,
                          self.unchanged_sum + other.unchanged_sum, self.unchanged_px + other.unchanged_px)

    @property
    def changed_mean(self) -> float | None:
        return self.changed_sum / self.changed_px if self.changed_px else None

    @property
    def unchanged_mean(self) -> float | None:
        return self.unchanged_sum / self.unchanged_px if self.unchanged_px else None


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
    trust: TrustStats | None = None  # labelled cases with a trust-providing method only

    def to_dict(self) -> dict[str, object]:
        out = {k: v for k, v in asdict(self).items() if k != "trust"}
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

    def to_dict(self) -> dict[str, object]:
        out = {k: v for k, v in asdict(self).items() if k != "trust"}
        if self.dataset is None:
            del out["dataset"]
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
    """Mean metrics per (method, scale[, dataset]), in the order the groups first appear."""
    groups: dict[tuple, list[RunRow]] = {}
    for row in rows:
        key = (row.method, row.scale, row.dataset if by_dataset else None)
        groups.setdefault(key, []).append(row)
    out = []
    for (method, scale, dataset), members in groups.items():
        trust = TrustStats()
        labelled = [r.trust for r in members if r.trust is not None]
        for stats in labelled:
            trust = trust + stats
        out.append(Aggregate(
            method=method, scale=scale, dataset=dataset, n_cases=len(members),
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
    """Plain-text table, one line per (method, scale): PSNR, SSIM, LPIPS, DISTS, s/case, n,
    and the mean trust on changed / unchanged labelled pixels."""
    header = ("method", "scale", "PSNR", "SSIM", "LPIPS", "DISTS", "s/case", "n",
              "trust chg", "trust unchg")
    lines = [header]
    for a in sorted(aggregates, key=lambda a: (a.scale,)):
        lines.append((
            a.method + (f" [{a.dataset}]" if a.dataset else ""), f"x{a.scale}", _fmt(a.psnr, 2),
            _fmt(a.ssim, 4), _fmt(a.lpips, 4), _fmt(a.dists, 4), _fmt(a.seconds_per_case, 2),
            str(a.n_cases), _fmt(a.trust.changed_mean, 3), _fmt(a.trust.unchanged_mean, 3),
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

    def get(self, method: str, scale: int) -> Aggregate:
        """The aggregate of one method label at one scale (KeyError if absent)."""
        for agg in self.aggregates:
            if agg.method == method and agg.scale == scale:
                return agg
        raise KeyError((method, scale))

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
