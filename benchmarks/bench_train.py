"""Training throughput (samples/s) of the real loop for a few settings.

    python benchmarks/bench_train.py --preset small --crop 128 --batch 8 16 --workers 0 1 --steps 10

Each setting trains `--steps` steps on the shared data (or `--data`) in a temporary run folder
(no dev loss, one checkpoint at the end) and reports samples/s over the steps after the first
two (start-up, worker fork and allocator warm-up excluded). Settings are measured round-robin
`--repeat` times so a noisy neighbour on a shared machine hits them alike; the median is shown.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time

from dsdit_geo.train.config import TrainConfig
from dsdit_geo.train.loop import Trainer
from dsdit_geo.train.monitor import hardware_string


def measure(config: TrainConfig, skip: int = 2) -> float:
    """samples/s over steps skip+1 .. config.steps."""
    stamps: list[float] = []
    trainer = Trainer(config, resume=False)
    try:
        trainer.run(lambda _t, _s: stamps.append(time.perf_counter()))
    finally:
        trainer.close()
    steps = len(stamps) - 1 - skip
    return steps * config.batch_size / (stamps[-1] - stamps[skip])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--threads", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--data", default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    settings = list(itertools.product(args.batch, args.workers, args.threads))
    results: dict[tuple, list[float]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            for batch, workers, threads in settings:
                cfg = TrainConfig(name=f"b{batch}w{workers}t{threads}r{rep}", out_dir=tmp, preset=args.preset,
                                  data=args.data, crop_px=args.crop, batch_size=batch, workers=workers,
                                  num_threads=threads, steps=args.steps + 2, dev_every=0,
                                  checkpoint_every=10**6, keep_last=1, log_every=10**6, progress=False,
                                  device=args.device)
                sps = measure(cfg)
                results[(batch, workers, threads)].append(sps)
                print(f"batch {batch:3d} workers {workers} threads {threads or 'auto'}: {sps:6.2f} samples/s",
                      flush=True)
    import torch

    print(f"\n{args.preset}, crop {args.crop}, {hardware_string(torch.device(args.device))}")
    for (batch, workers, threads), values in results.items():
        print(f"batch {batch:3d} workers {workers} threads {threads or 'auto'}: median "
              f"{statistics.median(values):6.2f} samples/s over {len(values)} run(s)")


if __name__ == "__main__":
    main()
