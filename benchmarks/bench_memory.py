"""Peak memory of `dsdit-geo upscale --method bicubic` on a scene and on one with 4x its area.

Streaming (windowed reads, strip accumulator, strip writes) should keep the peak resident set
of the child process nearly flat: the ratio large / small should stay <= 1.2. Also prints the
output megapixels per second. Scenes are synthetic (dsdit_geo.raster.synthetic): an S2-like LR
(10 m, EPSG:32611, uint16, 4 bands) and a NAIP-like Ref (1 m, EPSG:26911, uint8, 4 bands).

    python benchmarks/bench_memory.py [--side-px 3000] [--method bicubic] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from affine import Affine

from dsdit_geo.raster.synthetic import naip_like, s2_like, write_scene

X0, Y0 = 500_000.0, 4_000_000.0
LR_PX_M = 10.0
TARGET_RATIO = 1.2


def make_scene(folder: str, side_px: int) -> tuple[str, str]:
    """LR and Ref of a `side_px`-metre square scene (Ref at 1 m; the LR covers it with a margin)."""
    lr_side = side_px // int(LR_PX_M) + 4
    lr = write_scene(
        os.path.join(folder, "lr.tif"),
        "EPSG:32611",
        Affine(LR_PX_M, 0, X0 - 20, 0, -LR_PX_M, Y0 + 20),
        lr_side,
        lr_side,
        4,
        "uint16",
        s2_like,
        nodata=0,
        supersample=2,
    )
    ref = write_scene(
        os.path.join(folder, "ref.tif"),
        "EPSG:26911",
        Affine(1.0, 0, X0, 0, -1.0, Y0),
        side_px,
        side_px,
        4,
        "uint8",
        naip_like,
        block_rows=512,
    )
    return lr, ref


def run_child(args: list[str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MiB) of that child alone."""
    started = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    stderr = child.stderr.read().decode() if child.stderr else ""
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        sys.exit(f"child failed ({child.returncode}): {' '.join(args)}\n{stderr}")
    return seconds, usage.ru_maxrss / 1024.0  # ru_maxrss is KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--side-px", type=int, default=3000, help="output side of the small scene (1 m pixels)"
    )
    parser.add_argument("--method", default="bicubic")
    parser.add_argument("--keep", help="write the scenes here and keep them")
    opts = parser.parse_args()

    root = opts.keep or tempfile.mkdtemp(prefix="bench_memory_")
    os.makedirs(root, exist_ok=True)
    try:
        baseline_s, baseline_mib = run_child([sys.executable, "-c", "import dsdit_geo.pipeline"])
        print(f"baseline (python + torch + rasterio imported): {baseline_mib:.0f} MiB, {baseline_s:.1f} s")
        rows = []
        for name, side in (("small", opts.side_px), ("large (4x area)", 2 * opts.side_px)):
            folder = os.path.join(root, f"side{side}")
            os.makedirs(folder, exist_ok=True)
            t0 = time.perf_counter()
            lr, ref = make_scene(folder, side)
            made_s = time.perf_counter() - t0
            out = os.path.join(folder, "out.tif")
            seconds, peak_mib = run_child(
                [
                    sys.executable,
                    "-m",
                    "dsdit_geo_cli.app",
                    "upscale",
                    lr,
                    ref,
                    out,
                    "--method",
                    opts.method,
                    "--overwrite",
                    "--quiet",
                ]
            )
            megapixels = side * side / 1e6
            rows.append((name, megapixels, seconds, peak_mib))
            print(
                f"{name:16s} {side}x{side} px = {megapixels:6.1f} MP out | {seconds:6.1f} s "
                f"| {megapixels / seconds:5.2f} MP/s | peak RSS {peak_mib:6.0f} MiB "
                f"(+{peak_mib - baseline_mib:.0f} over baseline) | scene made in {made_s:.0f} s"
            )
        ratio = rows[1][3] / rows[0][3]
        excess_ratio = (rows[1][3] - baseline_mib) / max(rows[0][3] - baseline_mib, 1.0)
        print(
            f"peak RSS ratio large/small: {ratio:.3f} (target <= {TARGET_RATIO}) "
            f"{'PASS' if ratio <= TARGET_RATIO else 'FAIL'}; above baseline: {excess_ratio:.2f}"
        )
        print(
            f"throughput: {rows[0][1] / rows[0][2]:.2f} / {rows[1][1] / rows[1][2]:.2f} MP/s (small / large, "
            "including ~startup)"
        )
    finally:
        if not opts.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
