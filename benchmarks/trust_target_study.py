"""Does the trust target know about change? The agreement target (`train.trust.trust_target`)
and variants of it on the TRAIN split's labelled pairs (changed vs unchanged pixels, both
directions) and on 20 kagglesrd train pairs (real Ref vs another scene's Ref). No dev scene is
read. The Ref is harmonised to the GT as the pipeline does it, at the LR's resolution.

    python benchmarks/trust_target_study.py [--scales 4,8]

Needs ../shared/data. The model card quotes the x4 "base" line (0.243 vs 0.124).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from dsdit_geo.radiometry import fit_gain_offset
from dsdit_geo.train.images import align_to_gt, read_label, read_rgb_uint8
from dsdit_geo.train.sources import SourceRecord, discover_sources
from dsdit_geo.train.split import split_sources
from dsdit_geo.train.trust import trust_target

VARIANTS: dict[str, dict[str, float]] = {  # keywords of train.trust.trust_target
    "base": {}, "tol0.2": {"brightness_tolerance": 0.2}, "win4": {"window_sigma_lr_px": 4.0},
    "lp1": {"lowpass_sigma_lr_px": 1.0},
    "lp1_win3_tol0.2": {"lowpass_sigma_lr_px": 1.0, "window_sigma_lr_px": 3.0, "brightness_tolerance": 0.2},
    "struct": {"brightness_tolerance": 10.0},
}


def harmonise(ref: torch.Tensor, gt: torch.Tensor, scale: int) -> torch.Tensor:
    """The Ref taken onto the GT by the pipeline's per-band fit (`radiometry.fit_gain_offset`)
    on scale x scale block means."""
    fit = fit_gain_offset(F.avg_pool2d(ref, scale)[0].flatten(1).numpy(), F.avg_pool2d(gt, scale)[0].flatten(1).numpy())
    return torch.from_numpy(fit.apply(ref[0].numpy()))[None]


def load(rec: SourceRecord) -> tuple[torch.Tensor, torch.Tensor]:
    """GT and Ref as (1, 3, H, W) float 0..1 on the GT grid, cut to multiples of 32 px."""
    gt = read_rgb_uint8(rec.gt_path, rec.bands, rec.stretch, rec.nodata)
    ref = align_to_gt(read_rgb_uint8(rec.ref_path, rec.bands, rec.stretch, rec.nodata), gt)
    h, w = (gt.pixels.shape[1] // 32) * 32, (gt.pixels.shape[2] // 32) * 32
    as_t = lambda img: torch.from_numpy(img.pixels).float()[None, :, :h, :w] / 255  # noqa: E731
    return as_t(gt), as_t(ref)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="4")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, _ = split_sources(discover_sources())
    labelled = [r for r in train if r.change_path is not None and r.ref_path is not None]
    kaggle = [r for r in train if r.dataset == "kagglesrd" and r.direction == "forward"][:20]
    for scale in (int(s) for s in args.scales.split(",")):
        sums = {v: np.zeros(4) for v in VARIANTS}  # changed sum, count, unchanged sum, count
        for rec in labelled:
            gt, ref = load(rec)
            label = torch.from_numpy(read_label(rec.change_path))[: gt.shape[2], : gt.shape[3]]
            ref = harmonise(ref, gt, scale)
            for name, kw in VARIANTS.items():
                t = trust_target(gt, ref, scale, **kw)[0, 0]
                sums[name] += [t[label].sum().item(), label.sum().item(), t[~label].sum().item(), (~label).sum().item()]
        real = {v: [] for v in VARIANTS}
        other = {v: [] for v in VARIANTS}
        for i, rec in enumerate(kaggle):
            gt, ref = load(rec)
            _, unrelated = load(kaggle[(i + 7) % len(kaggle)])
            for name, kw in VARIANTS.items():
                real[name].append(trust_target(gt, harmonise(ref, gt, scale), scale, **kw).mean().item())
                other[name].append(trust_target(gt, harmonise(unrelated, gt, scale), scale, **kw).mean().item())
        for name in VARIANTS:
            s = sums[name]
            changed, unchanged = s[0] / s[1], s[2] / s[3]
            print(f"x{scale} {name:16s} labelled unchanged {unchanged:.3f} changed {changed:.3f} "
                  f"gap {unchanged - changed:.3f} | kagglesrd real {np.mean(real[name]):.3f} "
                  f"unrelated {np.mean(other[name]):.3f}", flush=True)


if __name__ == "__main__":
    main()
