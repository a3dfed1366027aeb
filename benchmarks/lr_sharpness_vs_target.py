"""Does the training sampler tie the LR's sharpness to the trust target? If sharper LRs came
with lower targets, a model would learn "sharp LR -> trust less" from the data. For N samples
of a training config: the LR's sharpness (energy of lr_hr minus its Gaussian blur at 0.5 LR px,
over the same at 2 LR px, band mean) and the mean change-aware target as the config trains it
(`train.trust`: the agreement raised to `trust_target_power`, 0 on changed pixels), their
correlation, and the means per LR kernel, Ref kind and dataset. Reads the train split only.

    python benchmarks/lr_sharpness_vs_target.py --config runs/t1.json --samples 800

Needs ../shared/data (or the config's data).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from dsdit_geo.train.config import TrainConfig
from dsdit_geo.train.dataset import SampleGenerator
from dsdit_geo.train.feed import load_records, sample_config
from dsdit_geo.train.trust import change_aware_patch_target, trust_target

REF_KINDS = {0: "real", 1: "synthetic", 2: "unrelated"}


def sharpness(lr_hr: np.ndarray, scale: float) -> float:
    """Fine-band over mid-band energy of the band-mean LR on the HR grid (no unit)."""
    lr = lr_hr.mean(0).astype(np.float64)
    fine = lr - gaussian_filter(lr, 0.5 * scale)
    band = lr - gaussian_filter(lr, 2.0 * scale)
    return float(fine.var() / max(band.var(), 1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=None, help="a training config JSON (default: TrainConfig())")
    parser.add_argument("--samples", type=int, default=800)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = TrainConfig.load(args.config) if args.config else TrainConfig()
    train, _, _ = load_records(config)
    generator = SampleGenerator(train, sample_config(config), seed=config.seed)
    patch_px = config.model_config()["patch_size"]
    rows = []
    for index in range(args.samples):
        a = generator.sample_arrays(index)
        agreement = trust_target(torch.from_numpy(a["hr"])[None], torch.from_numpy(a["ref"])[None], a["scale"])
        patches, _ = change_aware_patch_target(agreement.pow(config.trust_target_power),
                                               torch.from_numpy(a["change"])[None], patch_px, 0.0)
        target = float(patches.mean())
        rows.append({"kernel": a["kernel"], "ref": REF_KINDS.get(a["ref_kind"], str(a["ref_kind"])),
                     "dataset": str(a["item_id"]).split("/")[0], "sharp": sharpness(a["lr_hr"], a["scale"]),
                     "target": target})
    sharp = np.array([r["sharp"] for r in rows])
    target = np.array([r["target"] for r in rows])
    print(f"{len(rows)} samples; correlation(sharpness, target) = {np.corrcoef(sharp, target)[0, 1]:+.3f}")
    for key in ("kernel", "ref", "dataset"):
        groups: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(rows):
            groups[r[key]].append(i)
        for name, idx in sorted(groups.items()):
            corr = np.corrcoef(sharp[idx], target[idx])[0, 1] if len(idx) > 5 and target[idx].std() > 0 else float("nan")
            print(f"{key:<8} {name:<12} n {len(idx):>4}  sharpness {sharp[idx].mean():.3f}  "
                  f"target {target[idx].mean():.3f}  corr {corr:+.3f}")


if __name__ == "__main__":
    main()
