"""`dsdit-geo batch` of N pairs against N separate `dsdit-geo upscale` runs (default model).

A batch builds one `Engine` per worker process: settings resolved and the model loaded once;
separate runs pay the start-up (Python, torch, GDAL) and the model load every time. Prints both
wall times and their ratio (separate / batch: how many times faster the batch is). Pairs are
synthetic (dsdit_geo.raster.synthetic): S2-like LR at 10 m, NAIP-like Ref at 1 m, RGB.

    python benchmarks/bench_batch.py [--pairs 8] [--lr-px 24] [--workers 1] [--steps N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

from dsdit_geo.raster.synthetic import write_pair

CLI = [sys.executable, "-m", "dsdit_geo_cli.app"]


def make_pairs(folder: str, n: int, lr_px: int) -> list[tuple[str, str]]:
    """`n` pairs of different places, LR `lr_px`² at 10 m, Ref covering (lr_px - 2) * 10 m."""
    pairs = []
    for k in range(n):
        sub = os.path.join(folder, f"p{k}")
        os.makedirs(sub)
        pairs.append(write_pair(sub, lr_px=lr_px, ref_px=(lr_px - 2) * 10, bands=3, x0=500_000.0 + 1000 * k))
    return pairs


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--lr-px", type=int, default=24, help="LR side in pixels (output about 10x)")
    parser.add_argument("--workers", type=int, default=1, help="batch --workers")
    parser.add_argument("--steps", type=int, default=None, help="default: the model's own")
    parser.add_argument("--keep", default=None, help="keep the files in this folder")
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="dsdit-geo-bench-batch-")
    os.makedirs(folder, exist_ok=True)
    extra = ["--quiet", "--overwrite"] + ([] if args.steps is None else ["--steps", str(args.steps)])
    try:
        pairs = make_pairs(folder, args.pairs, args.lr_px)
        separate = 0.0
        for k, (lr, ref) in enumerate(pairs):
            separate += timed([*CLI, "upscale", lr, ref, os.path.join(folder, f"single_{k}.tif"), *extra])
        manifest = os.path.join(folder, "pairs.csv")
        with open(manifest, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["lr", "ref", "out"])
            writer.writerows([lr, ref, f"batch_{k}.tif"] for k, (lr, ref) in enumerate(pairs))
        batch = timed([*CLI, "batch", manifest, os.path.join(folder, "out"), "--workers", str(args.workers), *extra])
        import rasterio

        with rasterio.open(os.path.join(folder, "out", "batch_0.tif")) as ds:
            megapixels = ds.width * ds.height / 1e6
        print(f"{args.pairs} pairs, {megapixels:.3f} output MP each, default model, batch --workers {args.workers}")
        print(f"separate upscale runs: {separate:.1f} s ({separate / args.pairs:.2f} s per pair)")
        print(f"one batch:             {batch:.1f} s ({batch / args.pairs:.2f} s per pair)")
        print(f"ratio separate / batch: {separate / batch:.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
