"""Check issue 11's Ref-use criteria from `dsdit-geo evaluate --json` files (classical + model).

    python benchmarks/ref_use_criteria.py classical.json dsdit.json [--method dsdit]
        [--ag guided.json | --unguided w1.json]

Per (scale, degradation), against bicubic and transfer on the same cases:
  gt:        PSNR >= bicubic + 6 dB
  unrelated / flat: PSNR >= bicubic - 0.3 dB and LPIPS <= bicubic
  real:      PSNR >= bicubic, LPIPS < bicubic and < transfer
  trust:     mean trust >= 0.7 with Ref = gt, <= 0.2 with Ref = unrelated; on levircd (Ref =
             real) changed pixels at least 0.15 below unchanged
  autoguidance (with --ag, a run of the guided method on Ref = real, when the main method runs
             without; with --unguided, a run without autoguidance (w = 1), when the main method
             is the guided one): the guided LPIPS is lower than the unguided.
Prints a markdown table: each cell the measured value and whether it holds.
"""

from __future__ import annotations

import argparse
import json

SCALES_KERNELS = None


def load(paths: list[str]) -> tuple[dict, dict]:
    overall, levircd = {}, {}
    for path in paths:
        data = json.load(open(path))
        for agg in data["aggregates"]:
            overall[(agg["scale"], agg["degradation"], agg["method"], agg["ref_mode"])] = agg
        for agg in data["aggregates_by_dataset"]:
            if agg.get("dataset") == "levircd":
                levircd[(agg["scale"], agg["degradation"], agg["method"], agg["ref_mode"])] = agg
    return overall, levircd


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("json", nargs="+")
    parser.add_argument("--method", default="dsdit")
    parser.add_argument("--ag", default=None, help="evaluate JSON of the guided method (Ref = real)")
    parser.add_argument("--unguided", default=None, help="evaluate JSON of the method at w = 1 (Ref = real)")
    args = parser.parse_args()
    overall, levircd = load(args.json)
    other_path = args.ag or args.unguided
    guided = load([other_path])[0] if other_path else {}
    m = args.method
    groups = sorted({(s, k) for s, k, meth, _ in overall if meth == m})
    header = ["scale", "degradation", "gt: PSNR − bicubic ≥ 6", "unrelated: ΔPSNR ≥ −0.3, LPIPS ≤ bic",
              "flat: ΔPSNR ≥ −0.3, LPIPS ≤ bic", "real: ΔPSNR ≥ 0", "real: LPIPS < bic, < transfer",
              "trust gt ≥ 0.7 / unrel ≤ 0.2", "levircd trust unchg − chg ≥ 0.15"]
    if guided:
        header.append("autoguidance LPIPS (real)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for scale, kernel in groups:
        def get(method, mode, source=overall):
            return source.get((scale, kernel, method, mode))
        bic = get("bicubic", "real")
        row = [f"×{scale}", kernel]
        gt = get(m, "gt")
        d = gt["psnr"] - bic["psnr"]
        row.append(f"{mark(d >= 6)} {d:+.2f} dB")
        for mode in ("unrelated", "flat"):
            a, b = get(m, mode), get("bicubic", mode)
            d = a["psnr"] - b["psnr"]
            row.append(f"{mark(d >= -0.3 and a['lpips'] <= b['lpips'])} {d:+.2f} dB, {a['lpips']:.3f} vs {b['lpips']:.3f}")
        real, tr = get(m, "real"), get("transfer", "real")
        d = real["psnr"] - bic["psnr"]
        row.append(f"{mark(d >= 0)} {d:+.2f} dB")
        ok = real["lpips"] < bic["lpips"] and real["lpips"] < tr["lpips"]
        row.append(f"{mark(ok)} {real['lpips']:.3f} vs {bic['lpips']:.3f} / {tr['lpips']:.3f}")
        tg, tu = gt.get("trust_mean"), get(m, "unrelated").get("trust_mean")
        row.append(f"{mark(tg is not None and tu is not None and tg >= 0.7 and tu <= 0.2)} {tg:.2f} / {tu:.2f}")
        lev = levircd.get((scale, kernel, m, "real"))
        if lev and lev.get("trust_changed") is not None:
            gap = lev["trust_unchanged"] - lev["trust_changed"]
            row.append(f"{mark(gap >= 0.15)} {lev['trust_unchanged']:.3f} − {lev['trust_changed']:.3f} = {gap:.3f}")
        else:
            row.append("–")
        if guided:
            gm = next((a for (s, k, meth, mode), a in guided.items() if s == scale and k == kernel and mode == "real"), None)
            if gm is None:
                row.append("–")
            else:
                off, on = (real, gm) if args.ag else (gm, real)  # LPIPS without -> with autoguidance
                row.append(f"{mark(on['lpips'] < off['lpips'])} {off['lpips']:.3f} → {on['lpips']:.3f}")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
