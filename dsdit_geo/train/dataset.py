"""Training samples for DS-DiT: each a pure function of (seed, global sample index).

`SampleGenerator.sample(index)` draws everything from `np.random.default_rng([seed, index])`:
the record (datasets weighted by the square root of their pixel count, images within a dataset
by pixel count), a crop, a 90-degree turn and flip applied identically to GT / Ref / labels, a
scale (log-uniform, default x4..x10), the degradation (`degrade.py`), the Ref's fate (20 %
replaced by an unrelated image of another scene, single-date rasters get a synthetic Ref, real
Refs a mild augmentation: `refaug.py`), a misregistration shift, and finally the Ref is
harmonised to the LR as the pipeline does it: one `radiometry.fit_gain_offset` per scene,
between the augmented Ref area-averaged onto the LR grid and the degraded LR of the whole image
the crop comes from (`harmonise.py`), applied to the augmented Ref crop.

Same seed + index -> identical sample, on any worker or rank. `StepSampler` gives each rank of a
distributed run its own indices (step * batch * world + rank * batch + j), so workers and ranks
never repeat each other, and resuming at step s only needs s: no generator state to save.

Sample (torch tensors, C = 3, H = W = crop_px):
    hr (C, H, W) float32, lr_hr (C, H, W) float32 (LR on the HR grid), ref (C, H, W) float32,
    all model range (0..1 nominal; lr_hr and ref may overshoot slightly, as in the pipeline);
    scale () float32; ref_kind () int64 (0 real, 1 synthetic, 2 unrelated);
    change (1, H, W) float32 (1 = the Ref does not show the GT here: change labels, pasted
    changes, everything for an unrelated Ref; 0 elsewhere or unknown);
    valid (1, H, W) float32 (0 on nodata of the GT / Ref); index () int64; kernel_id () int64
    (the LR sensor model, its position in degrade.KERNELS).
`sample_arrays` returns the same as numpy plus item_id, shift_px, the LR kernel and sharpening
amount, and the fitted gain / offset.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dsdit_geo.train.crops import choose_crop, dihedral, take_region
from dsdit_geo.train.degrade import (
    DEFAULT_DEGRADE,
    KERNELS,
    DegradeConfig,
    degrade_crop,
    deterministic_params,
    draw_params,
    draw_scale,
    margin_px,
    max_reach,
)
from dsdit_geo.train.harmonise import SceneThumb, fit_scene, make_thumb, scene_lr, scene_ref_lr, thumb_factor
from dsdit_geo.train.images import ImageCache
from dsdit_geo.train.refaug import (
    DEFAULT_REFAUG,
    IDENTITY_LOOK,
    AugmentedRef,
    RefAugConfig,
    augment_real_ref,
    draw_shift_px,
    synthesize_ref,
)
from dsdit_geo.train.sources import SourceRecord

REF_REAL, REF_SYNTHETIC, REF_UNRELATED = 0, 1, 2


@dataclass(frozen=True)
class SampleConfig:
    """crop_px: HR crop side. deterministic: evaluation-style samples (no turns/flips, fixed
    blur, no noise, real Refs untouched, no unrelated Refs, no shift); fixed_scale: use this
    scale instead of drawing one. dataset_weights: relative draw weights per dataset (default
    sqrt of each dataset's pixel count). min_valid: least valid fraction of a crop."""

    crop_px: int = 128
    degrade: DegradeConfig = DEFAULT_DEGRADE
    refaug: RefAugConfig = DEFAULT_REFAUG
    deterministic: bool = False
    fixed_scale: float | None = None
    dataset_weights: Mapping[str, float] | None = None
    min_valid: float = 0.98


_SHARED_CACHE = ImageCache()


def shared_cache() -> ImageCache:
    """The process-wide image cache (each raster is read once per process)."""
    return _SHARED_CACHE


def _to_float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) * np.float32(1.0 / 255.0)


class SampleGenerator:
    """Makes training samples from `records` (typically the train split). Loads every record
    into `cache` at construction (about 200 MB for ../shared/data)."""

    def __init__(self, records: Sequence[SourceRecord], config: SampleConfig = SampleConfig(),
                 seed: int = 0, cache: ImageCache | None = None) -> None:
        if not records:
            raise ValueError("no training records")
        self.records = list(records)
        self.config = config
        self.seed = int(seed)
        self.cache = cache if cache is not None else shared_cache()
        self.cache.preload(self.records)
        self._pairs = [self.cache.pair(r) for r in self.records]
        self._build_weights()
        self._build_thumbs()

    def _build_thumbs(self) -> None:
        """Scene thumbnails of every GT and Ref, shared between the two directions of a pair."""
        by_array: dict[int, SceneThumb] = {}
        min_scale = self.config.fixed_scale or self.config.degrade.scale_range[0]

        def thumb(pixels: np.ndarray, valid: np.ndarray) -> SceneThumb:
            if id(pixels) not in by_array:
                factor = thumb_factor(pixels.shape[1:], min_scale)
                by_array[id(pixels)] = make_thumb(pixels, valid, factor)
            return by_array[id(pixels)]

        self._gt_thumbs = [thumb(p.gt, p.valid) for p in self._pairs]
        self._ref_thumbs = [thumb(p.ref, p.valid) if p.ref is not None else None for p in self._pairs]

    def _build_weights(self) -> None:
        pixels = np.array([p.shape[0] * p.shape[1] for p in self._pairs], dtype=np.float64)
        names = sorted({r.dataset for r in self.records})
        by_name = {n: np.array([i for i, r in enumerate(self.records) if r.dataset == n]) for n in names}
        custom = self.config.dataset_weights
        weights = np.array([custom.get(n, 0.0) if custom is not None else math.sqrt(pixels[by_name[n]].sum())
                            for n in names])
        if weights.sum() <= 0:
            raise ValueError("dataset weights are all zero")
        self.dataset_names = names
        self.dataset_probs = weights / weights.sum()
        self._members = [by_name[n] for n in names]
        self._member_probs = [pixels[m] / pixels[m].sum() for m in self._members]

    def _pick_record(self, rng: np.random.Generator) -> int:
        d = int(rng.choice(len(self.dataset_names), p=self.dataset_probs))
        return int(rng.choice(self._members[d], p=self._member_probs[d]))

    def _other_region(self, rng: np.random.Generator, scene_id: str, height: int,
                      width: int) -> tuple[np.ndarray, SceneThumb]:
        """(3, height, width) float32 from a random image of another scene (any dataset, GT or
        Ref), random place and dihedral turn; and that image's scene thumbnail."""
        for _ in range(20):
            i = int(rng.integers(len(self.records)))
            if self.records[i].scene_id != scene_id:
                break
        pair = self._pairs[i]
        use_ref = pair.ref is not None and rng.random() < 0.5
        pixels = pair.ref if use_ref else pair.gt
        top = int(rng.integers(0, max(pixels.shape[1] - height, 0) + 1))
        left = int(rng.integers(0, max(pixels.shape[2] - width, 0) + 1))
        region = take_region(pixels, top, left, height, width)
        turns, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
        if height != width:
            turns = 2 * (turns % 2)
        thumb = self._ref_thumbs[i] if use_ref else self._gt_thumbs[i]
        return _to_float(dihedral(region, turns, flip)), thumb

    def sample_arrays(self, index: int) -> dict[str, np.ndarray | float | int]:
        """The sample for `index` as numpy arrays (see the module docstring for keys/shapes)."""
        cfg = self.config
        rng = np.random.default_rng([self.seed, int(index)])
        rec_i = self._pick_record(rng)
        record, pair = self.records[rec_i], self._pairs[rec_i]
        scale = cfg.fixed_scale if cfg.fixed_scale is not None else draw_scale(rng, cfg.degrade.scale_range)
        params = deterministic_params(scale, cfg.degrade) if cfg.deterministic \
            else draw_params(rng, scale, cfg.degrade)
        max_shift = max(cfg.refaug.real_shift_px, cfg.refaug.synth_shift_px)
        margin = margin_px(scale, max_reach(cfg.degrade)) + max_shift
        crop = cfg.crop_px
        size = crop + 2 * margin
        top, left = choose_crop(rng, pair.valid, crop, cfg.min_valid)
        turns, flip = (0, False) if cfg.deterministic else (int(rng.integers(4)), bool(rng.random() < 0.5))

        def region(arr: np.ndarray) -> np.ndarray:
            return dihedral(take_region(arr, top - margin, left - margin, size, size), turns, flip)

        hr_region = _to_float(region(pair.gt))
        valid_region = region(pair.valid[None])[0]
        label_region = region(pair.change[None])[0] if pair.change is not None else None
        _, lr_hr = degrade_crop(hr_region, margin, params, rng)

        centre = slice(margin, margin + crop)
        focus = (margin, margin, crop, crop)

        def donor(h: int, w: int) -> np.ndarray:
            return self._other_region(rng, record.scene_id, h, w)[0]

        dy = dx = 0
        if not cfg.deterministic and rng.random() < cfg.refaug.p_unrelated:
            ref_kind = REF_UNRELATED
            ref_region, ref_thumb = self._other_region(rng, record.scene_id, size, size)
            aug = AugmentedRef(ref_region, np.zeros((size, size), dtype=bool), IDENTITY_LOOK)
        elif not cfg.deterministic and cfg.refaug.p_aligned > 0 and \
                rng.random() < cfg.refaug.p_aligned / (1.0 - cfg.refaug.p_unrelated):
            ref_kind, ref_thumb = REF_SYNTHETIC, self._gt_thumbs[rec_i]
            aug = augment_real_ref(hr_region, rng, donor, focus, cfg.refaug)
        elif pair.ref is None:
            ref_kind, ref_thumb = REF_SYNTHETIC, self._gt_thumbs[rec_i]
            aug = synthesize_ref(hr_region, rng, donor, focus, cfg.refaug)
            if not cfg.deterministic:
                dy, dx = draw_shift_px(rng, cfg.refaug.synth_shift_px)
        else:
            ref_kind, ref_thumb = REF_REAL, self._ref_thumbs[rec_i]
            ref_region = _to_float(region(pair.ref))
            aug = AugmentedRef(ref_region, np.zeros((size, size), dtype=bool), IDENTITY_LOOK)
            if not cfg.deterministic:
                aug = augment_real_ref(ref_region, rng, donor, focus, cfg.refaug)
                dy, dx = draw_shift_px(rng, cfg.refaug.real_shift_px)

        ref_window = (slice(margin + dy, margin + dy + crop), slice(margin + dx, margin + dx + crop))
        if ref_kind == REF_UNRELATED:
            change = np.ones((crop, crop), dtype=bool)
        else:
            change = aug.changed[ref_window].copy()
            if label_region is not None:
                change |= label_region[centre, centre]

        # One gain/offset per scene, as the pipeline fits it (see harmonise.py).
        gain_offset = fit_scene(scene_ref_lr(ref_thumb, scale, aug.look),
                                scene_lr(self._gt_thumbs[rec_i], params))
        ref = gain_offset.apply(aug.ref[(slice(None), *ref_window)])

        return {
            "hr": np.ascontiguousarray(hr_region[:, centre, centre]),
            "lr_hr": lr_hr,
            "ref": np.ascontiguousarray(ref),
            "scale": float(scale),
            "ref_kind": int(ref_kind),
            "change": change[None].astype(np.float32),
            "valid": valid_region[None, centre, centre].astype(np.float32),
            "index": int(index),
            "item_id": record.item_id,
            "shift_px": (dy, dx),
            "kernel": params.kernel,
            "sharpen": params.sharpen,
            "gain": gain_offset.gain.astype(np.float32),
            "offset": gain_offset.offset.astype(np.float32),
        }

    def sample(self, index: int) -> dict[str, torch.Tensor]:
        """The sample for `index` as torch tensors (the training loop's format)."""
        arrays = self.sample_arrays(index)
        return {
            "hr": torch.from_numpy(arrays["hr"]),
            "lr_hr": torch.from_numpy(arrays["lr_hr"]),
            "ref": torch.from_numpy(arrays["ref"]),
            "scale": torch.tensor(arrays["scale"], dtype=torch.float32),
            "ref_kind": torch.tensor(arrays["ref_kind"], dtype=torch.int64),
            "change": torch.from_numpy(arrays["change"]),
            "valid": torch.from_numpy(arrays["valid"]),
            "index": torch.tensor(arrays["index"], dtype=torch.int64),
            "kernel_id": torch.tensor(KERNELS.index(arrays["kernel"]), dtype=torch.int64),
        }


class RefSRTrainingSet(Dataset):
    """Map-style dataset: item `index` = `generator.sample(index)`. Its length is nominal (the
    index space is unbounded); drive it with `StepSampler`."""

    def __init__(self, generator: SampleGenerator, length: int = 2**62) -> None:
        self.generator = generator
        self.length = int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.generator.sample(int(index))


def batch_indices(step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> range:
    """Global sample indices of `rank`'s share of optimisation step `step`."""
    start = (int(step) * world_size + rank) * batch_size
    return range(start, start + batch_size)


class StepSampler(Sampler[int]):
    """Yields `batch_indices(step, ...)` for step = start_step, start_step + 1, ... (for
    num_steps steps, or forever). Use with DataLoader(batch_size=batch_size). Samples are pure
    functions of their index, so exact resume after s steps is StepSampler(..., start_step=s):
    the step counter in the checkpoint is the whole data-stream state."""

    def __init__(self, batch_size: int, rank: int = 0, world_size: int = 1, start_step: int = 0,
                 num_steps: int | None = None) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of {world_size}")
        self.batch_size, self.rank, self.world_size = int(batch_size), int(rank), int(world_size)
        self.start_step, self.num_steps = int(start_step), num_steps

    def __iter__(self) -> Iterator[int]:
        step = self.start_step
        while self.num_steps is None or step < self.start_step + self.num_steps:
            yield from batch_indices(step, self.batch_size, self.rank, self.world_size)
            step += 1

    def __len__(self) -> int:
        if self.num_steps is None:
            raise TypeError("an endless StepSampler has no length")
        return self.num_steps * self.batch_size
