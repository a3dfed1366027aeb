"""Choose the trust-gated Ref detail of a model (`dsdit_geo.flow.ref_detail`) at one scale
factor, on the dev split's bi-temporal pairs in the **reverse** direction (not the cases the
issue-11 criteria are measured on; see choose_guidance.py).

The rule (docs/models/evidence/exp17/rule.md, fixed before any run): of the candidate
(sigma in LR px, gain) pairs, those whose PSNR with the real Ref is at or above bicubic's in
every degradation at that scale; of these the one with the lowest mean LPIPS over the
degradations; none when no pair qualifies. Every candidate runs the model folder's own settings
(guidance, guide) with inference.json's ref_detail replaced by the candidate at that scale.
A candidate sigma:gain:blurry_gain also sets ref_detail_blurry (the gain for a blurry LR,
blended in by the measured LR sharpness over the folder's lr_sharpness_ramp; exp28);
``--psnr-floor DEG=dB`` replaces bicubic's PSNR as the bar in degradation DEG. Needs ../shared/data.

    python benchmarks/choose_ref_detail.py --weights DIR --scales 8 \\
        --candidates 0.125:0.8,0.125:1.0,0.125:1.2,0.25:0.4,0.25:0.5 [--json out.json]
    python benchmarks/choose_ref_detail.py --weights DIR --scales 8 \\
        --candidates 0.25:0.4:0.5,0.25:0.4:0.6 --psnr-floor bicubic_aa=23.724
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from choose_guidance import reverse_dev_cases
from dev_eval_args import add_dev_eval_args
from dsdit_geo.evaluation.methods import parse_method
from dsdit_geo.evaluation.report import Aggregate
from dsdit_geo.evaluation.runner import evaluate_cases

Candidate = tuple[float, ...]  # (sigma in LR px, gain) or (sigma, gain, blurry-LR gain)


def candidate_folder(weights: Path, candidate: Candidate, scale: int, root: Path) -> Path:
    """A model folder in `root` linking `weights`' files, its inference.json with ref_detail =
    the candidate's gain at `scale` (the same gain at every scale: only `scale` is run)."""
    sigma, gain = candidate[:2]
    folder = root / ("_".join(f"{v:g}" for v in candidate))
    folder.mkdir()
    for item in weights.iterdir():
        if item.name != "inference.json":
            (folder / item.name).symlink_to(item.resolve())
    settings = json.loads((weights / "inference.json").read_text())
    settings.update(ref_detail=gain, ref_detail_sigma_lr_px=sigma)
    settings.pop("ref_detail_blurry", None)
    if len(candidate) == 3:
        settings["ref_detail_blurry"] = candidate[2]
    (folder / "inference.json").write_text(json.dumps(settings))
    return folder


def choose(aggregates: list[Aggregate], labels: dict[Candidate, str],
           psnr_floor: dict[str, float] | None = None) -> Candidate | None:
    """The candidate with the lowest mean LPIPS among those whose PSNR is >= bicubic's (or
    `psnr_floor`'s value for a degradation named there) in every degradation (aggregates of one
    scale); None when none is."""
    floors = psnr_floor or {}
    def cell(method: str, degradation: str) -> Aggregate:
        return next(a for a in aggregates if a.method == method and a.degradation == degradation)

    degradations = sorted({a.degradation for a in aggregates})
    passing = [c for c, label in labels.items()
               if all(cell(label, d).psnr >= floors.get(d, cell("bicubic", d).psnr) for d in degradations)]
    if not passing:
        return None
    return min(passing, key=lambda c: sum(cell(labels[c], d).lpips for d in degradations))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="the model folder (with guide/ and inference.json)")
    parser.add_argument("--candidates", required=True,
                        help="sigma_lr_px:gain[:blurry_gain] candidates, comma-separated")
    parser.add_argument("--psnr-floor", default="",
                        help="DEG=dB,...: the PSNR bar in those degradations instead of bicubic's")
    add_dev_eval_args(parser, degradation="gauss_area,bicubic_aa,s2_mtf")
    args = parser.parse_args()
    scale = int(args.scales)
    candidates = [tuple(float(v) for v in item.split(":")) for item in args.candidates.split(",")]
    floors = {k: float(v) for k, v in (item.split("=") for item in args.psnr_floor.split(",") if item)}
    cases = reverse_dev_cases(args.data)
    print(f"{len(cases)} reverse-direction dev cases, x{scale}")
    with tempfile.TemporaryDirectory() as root:
        specs = {c: f"dsdit:weights={candidate_folder(Path(args.weights), c, scale, Path(root))}"
                 for c in candidates}
        result = evaluate_cases(cases, [scale], ["bicubic", *specs.values()], perceptual=True, dists=False,
                                degradations=args.degradation.split(","),
                                config={"cases_source": "dev pairs, reverse direction",
                                        "candidates": {spec: list(c) for c, spec in specs.items()}})
    if args.json:
        result.write_json(args.json)
    labels = {c: parse_method(spec).label for c, spec in specs.items()}
    names = {"bicubic": "bicubic", **{label: f"sigma {c[0]:g} gain {':'.join(f'{g:g}' for g in c[1:])}"
                                      for c, label in labels.items()}}
    for a in sorted(result.aggregates, key=lambda a: (a.degradation, a.method)):
        print(f"x{a.scale} {a.degradation:10s} {names[a.method]:26s} PSNR {a.psnr:6.3f}  LPIPS {a.lpips:.4f}")
    chosen = choose(result.aggregates, labels, floors)
    print("chosen: none" if chosen is None else f"chosen: {names[labels[chosen]]}")


if __name__ == "__main__":
    main()
