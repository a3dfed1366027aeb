"""How the trust map depends on the LR's sharpness: the dev split's labelled LEVIR-CD cases (or
others) through the real pipeline, with each LR kernel, and with that LR blurred further by a
Gaussian of sigma LR pixels before the model sees it. Mean trust over changed and unchanged
pixels, and their gap (the issue-11 change criterion), per (kernel, blur, Ref mode); Ref mode
"unrelated" takes another selected case's Ref, as `dsdit-geo evaluate` does among its cases.

    python benchmarks/trust_lr_sharpness.py --method dsdit --scale 4 --blur 0,0.4,0.7 \
        --degradation bicubic_aa,gauss_area --ref-mode real,gt

A negative sigma sharpens the LR instead (unsharp mask). Needs ../shared/data. The filter is a
probe, not a pipeline option: it shows whether the model's trust follows the Ref's content or
the LR's sharpness (a perfect Ref should be trusted no less when the LR is sharper).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
from scipy.ndimage import gaussian_filter

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.evaluation.cases import dev_split_cases, read_case, select_cases, unrelated_case, with_ref_mode
from dsdit_geo.evaluation.methods import parse_methods
from dsdit_geo.evaluation.prepare import PreparedCase, check_default_grid, prepare_case
from dsdit_geo.evaluation.runner import preflight, run_one


def filter_lr_file(prepared: PreparedCase, sigma_lr_px: float) -> None:
    """Filter the prepared uint8 LR GeoTIFF in place: sigma > 0 blurs it by a Gaussian of sigma
    LR pixels; sigma < 0 sharpens it by an unsharp mask of radius |sigma| (LR + (LR - blur))."""
    if sigma_lr_px == 0:
        return
    with rasterio.open(prepared.lr_path) as ds:
        profile, pixels = ds.profile, ds.read().astype(np.float64)
    blurred = np.stack([gaussian_filter(band, abs(sigma_lr_px), mode="reflect") for band in pixels])
    out = blurred if sigma_lr_px > 0 else 2.0 * pixels - blurred
    with rasterio.open(prepared.lr_path, "w", **profile) as ds:
        ds.write(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="dsdit", help="one method spec, e.g. dsdit:weights=DIR")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--blur", default="0,0.4,0.7", help="extra LR blur sigmas, LR pixels (negative: unsharp mask of that radius)")
    parser.add_argument("--degradation", default="bicubic_aa,gauss_area")
    parser.add_argument("--ref-mode", default="real,gt")
    parser.add_argument("--datasets", default="levircd")
    parser.add_argument("--workdir", default="runs/trust_lr_sharpness")
    args = parser.parse_args()

    cases = select_cases(dev_split_cases(), datasets=args.datasets.split(","))
    specs = parse_methods(args.method)
    base = UpscaleOptions(seed=0, device="cpu", overwrite=True, quiet=True, progress=False)
    engines, with_trust = preflight(specs, base, [args.scale], perceptual=False)
    spec = specs[0]
    if not with_trust[spec.label]:
        raise SystemExit(f"{spec.label} writes no trust map: choose a dsdit method")
    print(f"{spec.label}, x{args.scale}, {len(cases)} cases ({args.datasets})")
    print(f"{'kernel':<11} {'blur':>5} {'ref':<9} {'PSNR':>6} {'trust':>6} {'changed':>8} {'unchanged':>9} {'gap':>6}")
    for kernel in args.degradation.split(","):
        for mode in args.ref_mode.split(","):
            for sigma in (float(s) for s in args.blur.split(",")):
                psnr, sums = [], np.zeros(6)
                for index, case in enumerate(cases):
                    other = read_case(unrelated_case(cases, index)) if mode == "unrelated" else None
                    probe = with_ref_mode(read_case(case), mode, other)
                    folder = f"{args.workdir}/{index:02d}_{kernel}_{mode}_{sigma:g}"
                    prepared = prepare_case(probe, args.scale, Path(folder), kernel)
                    check_default_grid(prepared)
                    filter_lr_file(prepared, sigma)
                    row = run_one(case, prepared, spec, base, with_trust[spec.label], False, "cpu", False,
                                  engines[spec.label])
                    psnr.append(row.psnr)
                    t = row.trust
                    sums += [t.changed_sum, t.changed_px, t.unchanged_sum, t.unchanged_px, t.all_sum, t.all_px]
                changed, unchanged = sums[0] / max(sums[1], 1), sums[2] / max(sums[3], 1)
                print(f"{kernel:<11} {sigma:>5g} {mode:<9} {np.mean(psnr):>6.2f} {sums[4] / sums[5]:>6.3f} "
                      f"{changed:>8.3f} {unchanged:>9.3f} {unchanged - changed:>6.3f}")


if __name__ == "__main__":
    main()
