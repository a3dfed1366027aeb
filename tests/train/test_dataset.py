"""Training samples: reproducibility, the unrelated-Ref rate, alignment, harmonisation."""

from __future__ import annotations

import dataclasses
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dsdit_geo.train.dataset import (
    REF_REAL,
    REF_SYNTHETIC,
    REF_UNRELATED,
    RefSRTrainingSet,
    SampleConfig,
    SampleGenerator,
    StepSampler,
    batch_indices,
)
from dsdit_geo.train.images import ImageCache
from dsdit_geo.train.refaug import RefAugConfig
from dsdit_geo.train.sources import SourceRecord, discover_sources
from dsdit_geo.train.split import split_sources

SMALL = SampleConfig(crop_px=48)
NO_AUG = RefAugConfig(p_unrelated=0.0, real_p_photometric=0.0, real_p_seasonal=0.0, real_p_paste=0.0,
                      real_shift_px=0, synth_shift_px=0)


def _generator(records, config=SMALL, seed=0) -> SampleGenerator:
    return SampleGenerator(records, config, seed=seed, cache=ImageCache())


def test_sample_format(tiny_records) -> None:
    sample = _generator(tiny_records).sample(0)
    for key in ("hr", "lr_hr", "ref"):
        assert sample[key].shape == (3, 48, 48) and sample[key].dtype == torch.float32
        assert torch.isfinite(sample[key]).all()
    assert 0 <= sample["hr"].min() and sample["hr"].max() <= 1
    assert sample["scale"].shape == () and 4.0 <= float(sample["scale"]) <= 10.0
    assert sample["ref_kind"].dtype == torch.int64
    assert sample["change"].shape == (1, 48, 48) and sample["valid"].shape == (1, 48, 48)


def test_same_seed_and_index_give_the_same_sample(tiny_records) -> None:
    gen_a, gen_b = _generator(tiny_records), _generator(tiny_records)
    for index in (0, 7, 123456789):
        a, b = gen_a.sample(index), gen_b.sample(index)
        for key in a:
            assert torch.equal(a[key], b[key]), key
    assert not torch.equal(gen_a.sample(1)["hr"], gen_a.sample(2)["hr"])
    assert not torch.equal(gen_a.sample(1)["hr"], _generator(tiny_records, seed=1).sample(1)["hr"])
    # order does not matter: the sample is a function of (seed, index) alone
    later = [gen_b.sample(i)["lr_hr"] for i in (5, 3, 9)]
    assert torch.equal(later[1], gen_a.sample(3)["lr_hr"])


def test_lr_sharpening_reaches_the_samples(tiny_records) -> None:
    from dsdit_geo.train.config import TrainConfig
    from dsdit_geo.train.feed import sample_config

    cfg = sample_config(TrainConfig(crop_px=48, lr_sharpen_prob=1.0))
    assert cfg.degrade.sharpen_prob == 1.0 and sample_config(TrainConfig()).degrade.sharpen_prob == 0.0
    # amount 0 draws the same numbers (same crop, same margin) but leaves the LR as it is
    plain = dataclasses.replace(cfg, degrade=dataclasses.replace(cfg.degrade, sharpen_range=(0.0, 0.0)))
    sharp, flat = _generator(tiny_records, cfg).sample(3), _generator(tiny_records, plain).sample(3)
    assert torch.equal(sharp["hr"], flat["hr"]) and torch.isfinite(sharp["lr_hr"]).all()
    arrays = _generator(tiny_records, cfg).sample_arrays(3)
    assert arrays["kernel"] == "gauss_area" and 0.2 <= arrays["sharpen"] <= 1.0
    detail = lambda x: (x[:, :, 1:] - x[:, :, :-1]).abs().mean()  # noqa: E731
    assert detail(sharp["lr_hr"]) > 1.05 * detail(flat["lr_hr"])


def test_about_a_fifth_of_refs_are_unrelated(tiny_records) -> None:
    gen = _generator(tiny_records, SampleConfig(crop_px=32))
    kinds = np.array([gen.sample_arrays(i)["ref_kind"] for i in range(400)])
    assert 0.14 < np.mean(kinds == REF_UNRELATED) < 0.26
    for i in np.flatnonzero(kinds == REF_UNRELATED)[:5]:
        assert gen.sample_arrays(int(i))["change"].min() == 1
    items = {gen.sample_arrays(i)["item_id"]: gen.sample_arrays(i)["ref_kind"] for i in range(60)}
    for item, kind in items.items():
        if kind != REF_UNRELATED:
            assert kind == (REF_SYNTHETIC if item.startswith("one/") else REF_REAL)


def _same_file_records(tmp_path: Path, raster_writer, ref_transform=None) -> list[SourceRecord]:
    """One pair whose Ref is the GT itself (or ref_transform(GT)), with the label GT[0] > 128."""
    rng = np.random.default_rng(7)
    from scipy.ndimage import gaussian_filter
    gt = gaussian_filter(rng.random((3, 150, 170)), (0, 12, 12))  # mostly coarser than the LR
    gt = (255 * (gt - gt.min()) / (gt.max() - gt.min())).astype(np.uint8)
    gt_path = raster_writer(tmp_path / "gt.tif", gt)
    ref_path = gt_path if ref_transform is None else raster_writer(tmp_path / "ref.tif", ref_transform(gt))
    label = raster_writer(tmp_path / "label.tif", ((gt[:1] > 128) * 255).astype(np.uint8))
    return [SourceRecord(item_id="t/p/f", scene_id="t/p", dataset="t", gt_path=gt_path, ref_path=ref_path,
                         change_path=label, kind="bitemporal")]


def test_flips_and_turns_keep_gt_ref_and_label_aligned(tmp_path: Path, raster_writer) -> None:
    gen = _generator(_same_file_records(tmp_path, raster_writer), dataclasses.replace(SMALL, refaug=NO_AUG))
    for index in range(12):
        s = gen.sample_arrays(index)
        unharmonised = (s["ref"] - s["offset"][:, None, None]) / s["gain"][:, None, None]
        np.testing.assert_allclose(unharmonised, s["hr"], atol=1e-5)
        np.testing.assert_array_equal(s["change"][0] > 0, s["hr"][0] > 128 / 255)


def test_ref_is_harmonised_to_the_lr(tmp_path: Path, raster_writer) -> None:
    records = _same_file_records(tmp_path, raster_writer, lambda g: (g // 2 + 100).astype(np.uint8))
    gen = _generator(records, dataclasses.replace(SMALL, refaug=NO_AUG))
    for index in range(5):
        s = gen.sample_arrays(index)
        # undoes the halving, less the contrast the LR's blur removes
        assert np.all((s["gain"] > 1.6) & (s["gain"] < 2.05))
        raw = (s["ref"] - s["offset"][:, None, None]) / s["gain"][:, None, None]
        assert np.abs(s["ref"] - s["hr"]).mean() < 0.25 * np.abs(raw - s["hr"]).mean()
        assert abs(float(s["ref"].mean() - s["lr_hr"].mean())) < 0.05


def test_step_sampler_streams_are_distinct_and_resumable() -> None:
    rank0 = list(islice(iter(StepSampler(4, rank=0, world_size=2)), 40))
    rank1 = list(islice(iter(StepSampler(4, rank=1, world_size=2)), 40))
    assert not set(rank0) & set(rank1)
    assert sorted(rank0 + rank1) == list(range(80))
    resumed = list(islice(iter(StepSampler(4, rank=1, world_size=2, start_step=3)), 8))
    assert resumed == rank1[12:20] == list(batch_indices(3, 4, 1, 2)) + list(batch_indices(4, 4, 1, 2))
    assert len(StepSampler(4, num_steps=5)) == 20
    with pytest.raises(ValueError):
        StepSampler(4, rank=2, world_size=2)


def test_dataloader_workers_give_the_same_batches(tiny_records) -> None:
    dataset = RefSRTrainingSet(_generator(tiny_records, SampleConfig(crop_px=32)))
    def batches(workers: int) -> list[dict]:
        loader = DataLoader(dataset, batch_size=3, num_workers=workers,
                            sampler=StepSampler(3, start_step=2, num_steps=2))
        return list(loader)
    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 2
    for a, b in zip(serial, parallel, strict=True):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["ref"], b["ref"])
    assert serial[0]["index"].tolist() == [6, 7, 8]


def test_real_training_samples(shared_data: Path) -> None:
    train, dev = split_sources(discover_sources(shared_data), seed=0)
    gen = SampleGenerator(train, SampleConfig(), seed=0)
    train_items = {r.item_id for r in train}
    dev_items = {r.item_id for r in dev}
    seen_change = False
    for index in range(24):
        s = gen.sample_arrays(index)
        assert s["item_id"] in train_items and s["item_id"] not in dev_items
        for key in ("hr", "lr_hr", "ref"):
            assert s[key].shape == (3, 128, 128) and np.isfinite(s[key]).all()
        assert -0.2 < s["lr_hr"].min() and s["lr_hr"].max() < 1.2
        seen_change |= bool(s["ref_kind"] == REF_REAL and s["change"].any())
    assert seen_change
    deterministic = SampleGenerator(dev, SampleConfig(deterministic=True, fixed_scale=8.0), seed=0)
    s = deterministic.sample_arrays(0)
    assert s["ref_kind"] != REF_UNRELATED and s["shift_px"] == (0, 0) and s["scale"] == 8.0
