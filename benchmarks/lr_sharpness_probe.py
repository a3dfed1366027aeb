"""Measure the LR sharpness relative to the Ref (`dsdit_geo.lr_sharpness`), as the pipeline
does it, on the dev split's bi-temporal cases for each LR degradation: how well it tells a
sharp LR (antialiased bicubic) from a blurry one (Gaussian + area, Sentinel-2-like MTF).

    python benchmarks/lr_sharpness_probe.py --scale 8 [--direction reverse|forward] [--ref-mode real]

Needs ../shared/data. Prints one row per case and the range per degradation.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from choose_guidance import reverse_dev_cases
from dsdit_geo.evaluation.cases import read_case, unrelated_case, with_ref_mode
from dsdit_geo.evaluation.prepare import prepare_case
from dsdit_geo.geo.grid import target_grid
from dsdit_geo.raster.read import geometry_of
from dsdit_geo.raster.stats import estimate_lr_sharpness, estimate_radiometry
from dsdit_geo.train.degrade import KERNELS as DEGRADATIONS
from dsdit_geo.train.sources import discover_sources
from dsdit_geo.train.split import list_dev_cases

KERNELS = sorted(DEGRADATIONS)  # bicubic_aa, gauss_area, s2_mtf


def measure(lr_path: Path, ref_path: Path) -> float | None:
    """The pipeline's LR sharpness for an (LR, Ref) pair of files (all bands)."""
    with rasterio.open(lr_path) as lr_ds, rasterio.open(ref_path) as ref_ds:
        idx = list(range(1, lr_ds.count + 1))
        grid = target_grid(geometry_of(lr_ds), geometry_of(ref_ds))
        radiometry = estimate_radiometry(lr_ds, ref_ds, idx, idx, grid)
        return estimate_lr_sharpness(lr_ds, ref_ds, idx, idx, grid, radiometry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=8)
    parser.add_argument("--direction", choices=("reverse", "forward"), default="reverse")
    parser.add_argument("--ref-mode", default="real", choices=("real", "gt", "unrelated", "flat"))
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    if args.direction == "reverse":
        cases = reverse_dev_cases(args.data)
    else:
        cases = list_dev_cases(discover_sources(args.data))
    found: dict[str, list[float]] = {k: [] for k in KERNELS}
    with tempfile.TemporaryDirectory() as root:
        for i, case in enumerate(cases):
            images = read_case(case)
            other = read_case(unrelated_case(cases, i)) if args.ref_mode == "unrelated" else None
            images = with_ref_mode(images, args.ref_mode, other)
            row = [f"{case.case_id[:40]:40s}"]
            for kernel in KERNELS:
                prepared = prepare_case(images, args.scale, Path(root) / f"{i}_{kernel}", kernel)
                m = measure(prepared.lr_path, prepared.ref_path)
                row.append(f"{kernel} {'-' if m is None else f'{m:.3f}'}")
                if m is not None:
                    found[kernel].append(m)
            print("  ".join(row), flush=True)
    for kernel, values in found.items():
        if values:
            v = np.sort(values)
            print(f"x{args.scale} {kernel:10s} n {len(v):2d}  min {v[0]:.3f}  "
                  f"median {np.median(v):.3f}  max {v[-1]:.3f}")
        else:
            print(f"x{args.scale} {kernel:10s} not measurable")


if __name__ == "__main__":
    main()
