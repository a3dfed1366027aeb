"""DS-DiT speed: sampler throughput per preset and FLOP efficiency of one transformer forward.

    python benchmarks/bench_model.py                       # CPU fp32: tiny, small, base
    python benchmarks/bench_model.py --presets small --tile 128 --batch 4 --steps 2 --threads 1
    python benchmarks/bench_model.py --device cuda         # bf16 autocast; adds the large preset

Prints, per preset: parameters, GFLOP per forward (analytic ``forward_flops``, equal to
FlopCounterMode's count with the math attention backend, see tests/model/test_presets.py), the
achieved GFLOP/s of one forward at batch 1 and at the sampler's batch, and that rate divided by
the rate of a plain large matmul (``ratio``; target >= 0.5 on CPU for the small preset at 128 px,
batch 4), and the sampler's output megapixels per second without and with autoguidance (w =
--guidance: strong and weak passes in one doubled batch), for --steps and scaled to 40 steps.

The machine may be shared: matmul and forward timings are interleaved in rounds and each figure
is the best (minimum) time over the rounds, the estimate least disturbed by other processes.
Weights are seeded random (speed does not depend on their values).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch

from dsdit_geo.flow import make_velocity_fn, position_keyed_noise, sample_euler
from dsdit_geo.model import build_model, count_parameters, forward_flops


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call."""
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def best_of_rounds(fns: dict[str, Callable[[], object]], device: torch.device, rounds: int) -> dict[str, float]:
    """Minimum seconds of each fn, measured interleaved (one call each per round) after a warm-up."""
    for fn in fns.values():
        fn()
        fn()
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            best[k] = min(best[k], once(fn, device))
    return best


def bench_preset(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    model = build_model(name, seed=0).to(device).eval()
    with torch.no_grad():  # non-zero weights, as a trained model has
        g = torch.Generator().manual_seed(0)
        for p in model.parameters():
            p.copy_((torch.randn(p.shape, generator=g) * 0.02).to(device))
    amp = torch.bfloat16 if device.type == "cuda" else None
    t, b = args.tile, args.batch
    gen = torch.Generator().manual_seed(1)
    lr, ref = (torch.rand(b, 3, t, t, generator=gen).mul(2).sub(1).to(device) for _ in range(2))
    scale = torch.full((b,), 10.0, device=device)
    n_mm = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n_mm, n_mm, generator=gen).to(device, amp or torch.float32)

    def forward(batch: int) -> Callable[[], object]:
        x, l, r = torch.randn(batch, 3, t, t, device=device), lr[:batch], ref[:batch]
        sig = torch.full((batch,), 0.5, device=device)

        def run() -> object:
            with torch.no_grad(), torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                return model(x, l, r, sig, scale=scale[:batch], return_trust=True)

        return run

    batches = sorted({1, b})
    fns = {"matmul": lambda: a @ a, **{f"b{k}": forward(k) for k in batches}}
    best = best_of_rounds(fns, device, args.rounds)
    mm_rate = 2 * n_mm**3 / best["matmul"] / 1e9
    row: dict = {"preset": name, "params_M": count_parameters(model) / 1e6}
    row["MB_fp32"] = row["params_M"] * 4
    row["GFLOP_fwd_b1"] = forward_flops(model.config, t, t, 1) / 1e9
    row["matmul_GFLOPs"] = mm_rate
    for k in batches:
        rate = forward_flops(model.config, t, t, k) / best[f"b{k}"] / 1e9
        row[f"GFLOPs_b{k}"] = rate
        row[f"ratio_b{k}"] = rate / mm_rate

    noise = position_keyed_noise(0, torch.zeros(b, 2, dtype=torch.int64), (3, t, t), device=device)
    fn = make_velocity_fn(model, lr, ref, scale=scale, return_trust=True, autocast_dtype=amp)
    ws = (1.0, args.guidance)
    samp = {f"w{w:g}": (lambda w=w: sample_euler(fn, noise, args.steps, guidance=w)) for w in ws}
    best = best_of_rounds(samp, device, max(2, args.rounds // 2))
    for w in ws:
        mps = b * t * t / best[f"w{w:g}"] / 1e6
        row[f"MP/s_w{w:g}"] = mps
        row[f"MP/s@40steps_w{w:g}"] = mps * args.steps / 40  # time is linear in steps
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default=None, help="comma list (default: tiny,small,base; +large on CUDA)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--guidance", type=float, default=1.2)
    ap.add_argument("--rounds", type=int, default=6, help="interleaved timing rounds (best is kept)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    presets = args.presets.split(",") if args.presets else (
        ["tiny", "small", "base"] + (["large"] if device.type == "cuda" else [])
    )
    dtype = "bf16 autocast" if device.type == "cuda" else "fp32"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device {device} ({dtype}), threads {torch.get_num_threads()}, load avg {load:.2f}, "
          f"tile {args.tile}, batch {args.batch}, steps {args.steps}, guidance {args.guidance}")
    for name in presets:
        row = bench_preset(name, args, device)
        print("  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
