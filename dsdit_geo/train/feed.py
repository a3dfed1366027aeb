"""The training run's data: records -> train / dev split -> samples -> DataLoader, and the fixed
dev batch used for cheap monitoring.

Samples are pure functions of (seed, index) (`dataset.py`), so the DataLoader needs no state
beyond the step it starts at: `StepSampler` gives rank r of step s its own indices. Worker
processes (`workers` > 0) are forked after the images are loaded, so they share the pages, and
run torch on one thread each (the DataLoader's default), as `degrade.separable_apply` expects.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from dsdit_geo.errors import InputError
from dsdit_geo.train.config import TrainConfig
from dsdit_geo.train.dataset import RefSRTrainingSet, SampleConfig, SampleGenerator, StepSampler
from dsdit_geo.train.degrade import DEFAULT_DEGRADE
from dsdit_geo.train.refaug import DEFAULT_REFAUG
from dsdit_geo.train.sources import SourceRecord, default_data_root, discover_sources, load_sources
from dsdit_geo.train.split import describe_split, split_sources

DEV_SEED_OFFSET = 1_000_003  # the dev batch's sample seed = seed + this (never a training stream)


def step_seed(seed: int, step: int, rank: int, stream: int = 0) -> int:
    """A 63-bit seed that is a pure function of (seed, step, rank, stream)."""
    state = np.random.SeedSequence([int(seed), int(step), int(rank), int(stream), 0x5EED])
    return int(state.generate_state(1, np.uint64)[0] & np.uint64(2**63 - 1))


def load_records(config: TrainConfig) -> tuple[list[SourceRecord], list[SourceRecord], str]:
    """(train, dev, split description) for `config.data` / `config.datasets`."""
    if config.datasets is not None:
        root = Path(config.data) if config.data is not None else default_data_root()
        if root.suffix.lower() == ".csv" or (root / "gt").is_dir() or (root / "hr").is_dir():
            raise InputError("datasets selects from a data root, not from a pairs CSV or gt/ref folder")
        records = discover_sources(root, config.datasets)
    else:
        if config.data is not None and not Path(config.data).exists():
            raise InputError(f"training data not found: {config.data}")
        records = load_sources(config.data)
    train, dev = split_sources(records, config.split_seed)
    if not train:
        raise InputError("the dev split took every record: nothing left to train on")
    return train, dev, describe_split(train, dev)


def sample_config(config: TrainConfig) -> SampleConfig:
    """The dataset's SampleConfig for a run."""
    return SampleConfig(
        crop_px=config.crop_px,
        degrade=dataclasses.replace(DEFAULT_DEGRADE, scale_range=tuple(config.scale_range),
                                    kernels=tuple(config.degradations),
                                    sharpen_prob=float(config.lr_sharpen_prob)),
        refaug=dataclasses.replace(DEFAULT_REFAUG, p_unrelated=config.unrelated_ref_prob,
                                   p_aligned=config.aligned_ref_prob),
        dataset_weights=config.dataset_weights,
    )


def make_loader(generator: SampleGenerator, batch_size: int, rank: int, world_size: int,
                start_step: int, num_steps: int, workers: int, pin_memory: bool = False,
                worker_init_fn: Callable[[int], None] | None = None) -> DataLoader:
    """Batches (dicts of stacked sample tensors) for steps start_step .. start_step+num_steps-1."""
    sampler = StepSampler(batch_size, rank, world_size, start_step, num_steps)
    extra: dict = {}
    if workers > 0:
        if "fork" in multiprocessing.get_all_start_methods():
            extra["multiprocessing_context"] = "fork"  # share the loaded images, no pickling
        extra["prefetch_factor"] = 2
        extra["worker_init_fn"] = worker_init_fn
    return DataLoader(RefSRTrainingSet(generator), batch_size=batch_size, sampler=sampler,
                      num_workers=workers, pin_memory=pin_memory, **extra)


@dataclass
class DevBatch:
    """The fixed monitoring batch (CPU tensors, n samples): hr, lr_hr, ref (n, 3, H, W) model
    range, scale (n,), valid (n, 1, H, W), sigma (n,) an even grid over (0, 1), noise
    (n, 3, H, W) fixed N(0, 1). source: "dev" or "train" (no dev scenes in the data)."""

    hr: torch.Tensor
    lr_hr: torch.Tensor
    ref: torch.Tensor
    scale: torch.Tensor
    valid: torch.Tensor
    sigma: torch.Tensor
    noise: torch.Tensor
    source: str

    def __len__(self) -> int:
        return int(self.hr.shape[0])


def make_dev_batch(config: TrainConfig, dev: list[SourceRecord], train: list[SourceRecord]) -> DevBatch:
    """`config.dev_batch_size` samples of the dev records (of the training records, with a
    seed no training step uses, when the data has no dev scenes); fixed sigmas and noise."""
    records, source = (dev, "dev") if dev else (train, "train")
    generator = SampleGenerator(records, sample_config(config), seed=config.seed + DEV_SEED_OFFSET)
    n = config.dev_batch_size
    samples = [generator.sample(i) for i in range(n)]
    stack = {k: torch.stack([s[k] for s in samples]) for k in ("hr", "lr_hr", "ref", "scale", "valid")}
    sigma = (torch.arange(n, dtype=torch.float32) + 0.5) / n
    gen = torch.Generator().manual_seed(step_seed(config.seed, 0, 0, stream=DEV_SEED_OFFSET))
    noise = torch.randn(stack["hr"].shape, generator=gen, dtype=torch.float32)
    return DevBatch(sigma=sigma, noise=noise, source=source, **stack)


__all__ = ["DEV_SEED_OFFSET", "DevBatch", "load_records", "make_dev_batch", "make_loader",
           "sample_config", "step_seed"]
