"""Merge `dsdit-geo evaluate --json` files into the model card's Ref-use probe tables.

    python benchmarks/probe_table.py classical.json dsdit.json > probes.md

One markdown table per (scale, degradation): rows = method, columns = Ref mode (real, gt,
unrelated, flat), cells = PSNR / LPIPS (and the mean trust where the method has a trust map),
then the levircd trust on changed vs unchanged pixels per method. Pure reading of the JSON
aggregates; nothing is recomputed.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

MODES = ("real", "gt", "unrelated", "flat")


def _num(value: object, digits: int) -> str:
    return "–" if value in (None, "nan") else f"{float(value):.{digits}f}"


def main(paths: list[str]) -> str:
    cells: dict[tuple, dict] = {}
    levircd: dict[tuple, dict] = {}
    for path in paths:
        data = json.load(open(path))
        for agg in data["aggregates"]:
            key = (agg["scale"], agg.get("degradation", "gauss_area"), agg["method"], agg.get("ref_mode", "real"))
            cells[key] = agg
        for agg in data["aggregates_by_dataset"]:
            if agg.get("dataset") == "levircd" and agg.get("trust_changed") is not None:
                key = (agg["scale"], agg.get("degradation", "gauss_area"), agg["method"], agg.get("ref_mode", "real"))
                levircd[key] = agg
    lines = []
    groups: dict[tuple, list[str]] = defaultdict(list)
    for scale, kernel, method, _ in cells:
        if method not in groups[(scale, kernel)]:
            groups[(scale, kernel)].append(method)
    for (scale, kernel), methods in sorted(groups.items()):
        lines += [f"**×{scale}, {kernel}** — PSNR / LPIPS (trust)", "",
                  "| method | " + " | ".join(f"Ref = {m}" for m in MODES) + " |",
                  "|---|" + "---|" * len(MODES)]
        for method in methods:
            row = []
            for mode in MODES:
                agg = cells.get((scale, kernel, method, mode))
                if agg is None:
                    row.append("")
                    continue
                text = f"{_num(agg['psnr'], 2)} / {_num(agg['lpips'], 3)}"
                if agg.get("trust_mean") is not None:
                    text += f" ({_num(agg['trust_mean'], 2)})"
                row.append(text)
            lines.append(f"| {method} | " + " | ".join(row) + " |")
        lines.append("")
        trust_rows = [(m, levircd[(scale, kernel, m, "real")]) for m in methods if (scale, kernel, m, "real") in levircd]
        if trust_rows:
            lines.append("levircd trust, changed vs unchanged pixels (Ref = real): " + "; ".join(
                f"{m} {_num(a['trust_changed'], 3)} vs {_num(a['trust_unchanged'], 3)}" for m, a in trust_rows))
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(sys.argv[1:]))
