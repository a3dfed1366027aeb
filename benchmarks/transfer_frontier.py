"""How much LPIPS the Ref's texture buys and what PSNR it costs: naive `transfer` with a gain g
on the copied detail, hr = lr_hr + g (ref - G(ref)), through the real `evaluate` pipeline on
the dev split (Ref = real). The model card's frontier table (issue 11's LPIPS-vs-transfer bar).

    python benchmarks/transfer_frontier.py --scale 4 --degradation bicubic_aa [--gains 0.25,0.5,0.75]

Needs ../shared/data. It sets `Transfer.detail_gain` in this process only (a measurement, not
an option the tool offers); g = 1 is the shipped `transfer`.
"""

from __future__ import annotations

import argparse

import torch

from dsdit_geo.evaluation.cases import dev_split_cases
from dsdit_geo.evaluation.runner import evaluate_cases
from dsdit_geo.upscalers import classical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--degradation", default="bicubic_aa")
    parser.add_argument("--gains", default="0.25,0.5,0.75")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = dev_split_cases()
    for gain in (float(g) for g in args.gains.split(",")):
        classical.Transfer.detail_gain = gain
        result = evaluate_cases(cases, [args.scale], "transfer", device="cpu",
                                degradations=[args.degradation], dists=False)
        agg = result.aggregates[0]
        print(f"x{args.scale} {args.degradation} gain {gain:g}: PSNR {agg.psnr:.2f}  LPIPS {agg.lpips:.3f}")


if __name__ == "__main__":
    main()
