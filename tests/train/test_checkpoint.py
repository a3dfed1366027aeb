"""Checkpoint files, the final export, RNG capture and the TrainConfig JSON contract."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from dsdit_geo.errors import OptionError
from dsdit_geo.model import DSDiTTransformer, build_model
from dsdit_geo.train import checkpoint as ckpt
from dsdit_geo.train.config import TrainConfig
from dsdit_geo.train.loop import train


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """A gt/ + ref/ folder of three smooth random pairs."""
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(3)
    for sub in ("gt", "ref"):
        (root / sub).mkdir()
    for k in range(3):
        tex = gaussian_filter(rng.random((3, 72, 72)), (0, 2, 2))
        gt = (20 + 215 * (tex - tex.min()) / (tex.max() - tex.min())).astype(np.uint8)
        for sub, arr in (("gt", gt), ("ref", np.flip(gt, axis=2).copy())):
            with rasterio.open(root / sub / f"s{k}.tif", "w", driver="GTiff", count=3, height=72, width=72,
                               dtype="uint8") as dst:
                dst.write(arr)
    return root


@pytest.fixture(scope="module")
def finished_run(pairs: Path, tmp_path_factory):
    cfg = TrainConfig(name="r", out_dir=str(tmp_path_factory.mktemp("runs")), preset="tiny", data=str(pairs),
                      crop_px=32, batch_size=2, steps=3, warmup_steps=1, checkpoint_every=1, keep_last=2,
                      log_every=1, dev_every=0, progress=False, device="cpu", num_threads=1)
    return cfg, train(cfg)


def test_checkpoint_layout_and_pruning(finished_run) -> None:
    cfg, result = finished_run
    steps = [s for s, _ in ckpt.list_checkpoints(result.run_dir)]
    assert steps == [2, 3]  # keep_last 2
    folder = ckpt.latest_checkpoint(result.run_dir)
    assert folder == result.checkpoint and folder.name == "step_0000003"
    for rel in ("model/config.json", "model/diffusion_pytorch_model.safetensors", "ema/config.json",
                "ema/diffusion_pytorch_model.safetensors", "trainer_state.pt", "train_config.json"):
        assert (folder / rel).is_file(), rel
    assert TrainConfig.load(folder / "train_config.json") == cfg
    state = torch.load(folder / "trainer_state.pt", weights_only=True)
    assert state["step"] == 3 and state["ema"]["num_updates"] == 3 and state["world_size"] == 1
    assert {"optimizer", "scheduler", "rng", "stats"} <= state.keys()
    lines = [json.loads(x) for x in (result.run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3]
    assert all(r["loss"] > 0 and r["lr"] > 0 and r["grad_norm"] >= 0 and r["samples_per_s"] > 0 for r in lines)


def test_exports_load_with_from_pretrained(finished_run) -> None:
    cfg, result = finished_run
    final = DSDiTTransformer.from_pretrained(result.final_dir)
    ema = DSDiTTransformer.from_pretrained(result.checkpoint / "ema")
    model = DSDiTTransformer.from_pretrained(result.checkpoint / "model")
    assert final.config.prediction == "residual" and final.config.residual_scale == 4.0
    assert final.config.hidden_dim == 32 and final.config.scale_conditioning
    for (name, a), b, c in zip(final.state_dict().items(), ema.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, c) for a, c in zip(final.state_dict().values(), model.state_dict().values()))
    assert TrainConfig.load(result.final_dir / "train_config.json") == cfg
    stats = json.loads((result.final_dir / "train_stats.json").read_text())
    assert stats["steps"] == 3 and stats["samples"] == 6 and stats["wall_time_s"] >= 0
    assert "cpu" in stats["hardware"] and stats["final_loss"] > 0 and stats["world_size"] == 1
    x = torch.zeros(1, 3, 32, 32)
    out = final(x, x, x, torch.tensor([0.5]), scale=torch.tensor([4.0])).velocity
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    assert not any(p.name.startswith(".tmp") for p in result.run_dir.rglob("*"))


def test_save_is_atomic_and_replaces(tmp_path: Path) -> None:
    model = build_model("tiny", seed=0)
    cfg = TrainConfig(preset="tiny")
    partial = tmp_path / "checkpoints" / ".tmp-step_0000009-123"
    partial.mkdir(parents=True)
    assert ckpt.latest_checkpoint(tmp_path) is None  # a half-written save is never a checkpoint
    first = ckpt.save_checkpoint(tmp_path, 5, model, model, {"x": 1}, cfg)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    again = ckpt.save_checkpoint(tmp_path, 5, model, model, {"x": 2}, cfg)
    assert first == again and ckpt.load_trainer_state(again)["x"] == 2
    fresh = build_model("tiny", seed=1)
    ckpt.load_weights(fresh, again / "model")
    assert all(torch.equal(a, b) for a, b in zip(fresh.parameters(), model.parameters()))
    ckpt.clean_partial(tmp_path)
    assert not partial.exists() and [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [5]


def test_rng_state_round_trip() -> None:
    state = ckpt.rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    ckpt.set_rng_state(state)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1]) and expected[2] == got[2]


def test_config_json_round_trip(tmp_path: Path) -> None:
    cfg = TrainConfig(preset="tiny", crop_px=48, scale_range=(4.0, 8.0), model={"prediction": "image"},
                      datasets=["levircd", "naip"])
    path = tmp_path / "c.json"
    cfg.save(path)
    assert TrainConfig.load(path) == cfg
    default = TrainConfig()
    assert default.preset == "small" and default.model == {"prediction": "residual", "residual_scale": 4.0,
                                                           "scale_conditioning": True}
    assert default.model_config()["hidden_dim"] == 192 and default.sigma_shift == 3.0
    assert cfg.replace(steps=7, lr=None).steps == 7 and cfg.replace(lr=None).lr == cfg.lr


@pytest.mark.parametrize("values, message", [
    ({"stepz": 3}, "unknown key 'stepz'"),
    ({"model": {"hidden": 3}}, "unknown model setting 'hidden'"),
    ({"crop_px": 100}, "multiple of the patch size 8"),
    ({"preset": "huge"}, "unknown preset"),
    ({"scale_range": [4]}, "two numbers"),
    ({"scale_range": [8, 4]}, "1 < low <= high"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"device": "gpu"}, "device must be"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"datasets": ["mars"]}, "unknown dataset 'mars'"),
    ({"weak_ref_prob": 1.0}, "weak_ref_prob must be in"),
    ({"lr_sharpen_prob": 1.5}, "lr_sharpen_prob must be in"),
    ({"init_weights": ""}, "init_weights must be a folder"),
])
def test_config_errors_are_one_line(values, message, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(values))
    with pytest.raises(OptionError, match=message) as info:
        TrainConfig.load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="not found"):
        TrainConfig.load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{oops")
    with pytest.raises(OptionError, match="not valid JSON"):
        TrainConfig.load(tmp_path / "broken.json")
