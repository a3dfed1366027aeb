"""The trust map's change gap pooled over every labelled dev pair, both directions: per dataset
and scale, the mean trust on unchanged minus changed pixels, and the trust AUC (the chance that
an unchanged pixel is trusted more than a changed one). The issue-11 criterion uses only the two
forward LEVIR-CD cases; this is the check on the pairs it does not use (the model cards'
"pooled both directions" figures). Needs ../shared/data.

    python benchmarks/pooled_change_gap.py --methods dsdit [--scales 4,8] [--degradation gauss_area]
        [--json pooled.json]
"""

from __future__ import annotations

import argparse

from dev_eval_args import add_dev_eval_args
from dsdit_geo.evaluation.report import Aggregate, format_table
from dsdit_geo.evaluation.runner import evaluate_cases
from dsdit_geo.train.sources import discover_sources
from dsdit_geo.train.split import list_dev_cases


def gaps(aggregates: list[Aggregate]) -> str:
    """The gap per (method, scale, dataset) with labelled pixels: mean trust on unchanged minus
    changed pixels (two columns of `format_table`)."""
    return ", ".join(f"{a.method} {a.dataset} x{a.scale} {a.trust.unchanged_mean - a.trust.changed_mean:.3f}"
                     for a in aggregates
                     if a.trust.changed_mean is not None and a.trust.unchanged_mean is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="dsdit", help="as `dsdit-geo evaluate --methods`")
    add_dev_eval_args(parser, degradation="gauss_area")
    args = parser.parse_args()
    cases = [c for c in list_dev_cases(discover_sources(args.data), both_directions=True) if c.label_path]
    counts = {d: sum(c.dataset == d for c in cases) for d in sorted({c.dataset for c in cases})}
    print(f"{len(cases)} labelled directed dev cases: {counts}")
    result = evaluate_cases(cases, args.scales, args.methods, perceptual=False,
                            degradations=args.degradation.split(","),
                            config={"cases_source": "labelled dev pairs, both directions"})
    if args.json:
        result.write_json(args.json)
    print(format_table(result.by_dataset))
    print("gap (unchanged - changed):", gaps(result.by_dataset))


if __name__ == "__main__":
    main()
