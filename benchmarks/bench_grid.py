"""The 8-px patch grid: mean gradient across lines at multiples of the patch size vs across the
other lines of the bundled sample's output (`metrics.seams.patch_grid_ratio`; 1.0 = no grid;
the bar for a shipped model is <= 1.1). Prints the ratio for bicubic, hpf and each DS-DiT
weights folder given (default: the bundled model), all at the sample's x10.

    python benchmarks/bench_grid.py [--weights DIR ...] [--steps N] [--guidance W] [--detail D]
        [--ref-detail G]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import rasterio

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.metrics.seams import patch_grid_ratio
from dsdit_geo.pipeline import upscale_file

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "sample_data")


def grid_ratio(method: str, folder: str, **options: object) -> float:
    """Upscale the sample with `method` and return its patch-grid ratio (period 8 px)."""
    out = os.path.join(folder, f"{method}.tif")
    upscale_file(os.path.join(SAMPLE, "lr.tif"), os.path.join(SAMPLE, "ref.tif"), out,
                 UpscaleOptions(method=method, quiet=True, progress=False, overwrite=True, **options))
    with rasterio.open(out) as ds:
        return patch_grid_ratio(ds.read().astype(np.float64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="*", default=[None], help="model folders (default: bundled)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--detail", type=float, default=None)
    parser.add_argument("--ref-detail", type=float, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"bicubic  grid ratio {grid_ratio('bicubic', folder):.3f}")
        print(f"hpf      grid ratio {grid_ratio('hpf', folder):.3f}")
        for weights in args.weights:
            ratio = grid_ratio("dsdit", folder, weights=weights, steps=args.steps, guidance=args.guidance,
                               detail=args.detail, ref_detail=args.ref_detail)
            print(f"dsdit    grid ratio {ratio:.3f}  ({weights or 'bundled default'})")


if __name__ == "__main__":
    main()
