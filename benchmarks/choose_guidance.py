"""Choose a model's autoguidance weight on cases the issue-11 criteria are not measured on: the
dev split's bi-temporal pairs in the **reverse** direction (each pair's earlier date as the truth,
its later date as the Ref). The criteria use the forward direction only, so a weight picked here
is not picked on the cases it is then judged on (the scenes are the same; the targets are not).

The rule (fixed before any run): the largest weight in `--guidance` whose PSNR with the real
Ref is at or above bicubic's in every (scale, degradation) cell; the smallest when none is.
Prints the table and the choice; needs ../shared/data.

    python benchmarks/choose_guidance.py --weights DIR [--guidance 1.1,1.2,1.3]
        [--scales 4,8] [--degradation gauss_area,bicubic_aa,s2_mtf] [--json out.json]
"""

from __future__ import annotations

import argparse

from dev_eval_args import add_dev_eval_args
from dsdit_geo.evaluation.methods import parse_method
from dsdit_geo.evaluation.report import Aggregate
from dsdit_geo.evaluation.runner import evaluate_cases
from dsdit_geo.train.sources import discover_sources
from dsdit_geo.train.split import list_dev_cases


def reverse_dev_cases(data_root: str | None = None) -> list:
    """The dev split's bi-temporal cases in the reverse direction only (not the criteria's)."""
    records = discover_sources(data_root)
    forward = {c.case_id for c in list_dev_cases(records)}
    both = list_dev_cases(records, both_directions=True)
    return [c for c in both if c.case_id not in forward]


def choose(aggregates: list[Aggregate], labels_by_w: dict[float, str]) -> float:
    """The largest w whose mean PSNR is >= bicubic's in every (scale, degradation) cell; the
    smallest w when none is.

    aggregates: overall aggregates holding `bicubic` and one method label per w."""
    def psnr(method: str, scale: int, degradation: str) -> float:
        return next(a.psnr for a in aggregates if a.method == method and a.scale == scale
                    and a.degradation == degradation)

    cells = sorted({(a.scale, a.degradation) for a in aggregates})
    passing = [w for w, label in labels_by_w.items()
               if all(psnr(label, s, d) >= psnr("bicubic", s, d) for s, d in cells)]
    return max(passing) if passing else min(labels_by_w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="the model folder (with guide/ and inference.json)")
    parser.add_argument("--guidance", default="1.1,1.2,1.3", help="candidate weights w (> 1)")
    add_dev_eval_args(parser, degradation="gauss_area,bicubic_aa,s2_mtf")
    args = parser.parse_args()
    weights_w = [float(w) for w in args.guidance.split(",")]
    cases = reverse_dev_cases(args.data)
    print(f"{len(cases)} reverse-direction dev cases")
    specs = {w: f"dsdit:weights={args.weights};guidance={w:g}" for w in weights_w}
    methods = ["bicubic", *specs.values()]
    result = evaluate_cases(cases, args.scales, methods, perceptual=True, dists=False,
                            degradations=args.degradation.split(","),
                            config={"cases_source": "dev pairs, reverse direction"})
    if args.json:
        result.write_json(args.json)
    for a in sorted(result.aggregates, key=lambda a: (a.scale, a.degradation, a.method)):
        print(f"x{a.scale} {a.degradation:10s} {a.method:32s} PSNR {a.psnr:6.2f}  LPIPS {a.lpips:.3f}")
    labels_by_w = {w: parse_method(spec).label for w, spec in specs.items()}
    print(f"chosen w: {choose(result.aggregates, labels_by_w):g}")


if __name__ == "__main__":
    main()
