"""DDP code paths on CPU: two gloo ranks, tiny preset, two steps."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import torch.multiprocessing as mp

from dsdit_geo.train import checkpoint as ckpt
from dsdit_geo.train.config import TrainConfig
from dsdit_geo.train.distributed import env_context
from dsdit_geo.train.loop import Trainer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, config: dict, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    trainer = Trainer(TrainConfig.from_dict(config))
    seen: list[int] = []
    trainer.generator.sample = _recording(trainer.generator.sample, seen)
    result = trainer.run()
    torch.save({"state": trainer.model.state_dict(), "ema": trainer.ema.model.state_dict(),
                "indices": seen, "step": result.step, "final": str(result.final_dir)},
               Path(out) / f"rank{rank}.pt")
    trainer.close()


def _recording(sample, seen: list[int]):
    def wrapped(index: int):
        seen.append(int(index))
        return sample(index)
    return wrapped


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(9)
    for sub in ("gt", "ref"):
        (root / sub).mkdir()
    for k in range(3):
        gt = rng.integers(30, 220, (3, 64, 64), dtype=np.uint8)
        for sub, arr in (("gt", gt), ("ref", gt[:, ::-1].copy())):
            with rasterio.open(root / sub / f"s{k}.tif", "w", driver="GTiff", count=3, height=64, width=64,
                               dtype="uint8") as dst:
                dst.write(arr)
    return root


def test_two_gloo_ranks_train_in_lockstep(pairs: Path, tmp_path: Path) -> None:
    config = TrainConfig(name="ddp", out_dir=str(tmp_path / "runs"), preset="tiny", data=str(pairs), crop_px=32,
                         batch_size=2, steps=2, warmup_steps=1, checkpoint_every=1, log_every=1, dev_every=2,
                         dev_batch_size=2, progress=False, device="cpu", num_threads=1).to_dict()
    # fork: the ranks inherit the imported modules (spawn would spend ~15 s importing them again)
    context = mp.start_processes(_rank_main, args=(2, _free_port(), config, str(tmp_path)), nprocs=2,
                                 join=False, start_method="fork")
    deadline = time.monotonic() + 120
    while not context.join(timeout=2):  # raises if a rank failed
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("DDP ranks did not finish within 120 s")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["step"] == r1["step"] == 2
    for key in r0["state"]:  # gradients were averaged: both ranks hold the same weights
        assert torch.equal(r0["state"][key], r1["state"][key]), key
        assert torch.equal(r0["ema"][key], r1["ema"][key]), key
    # each rank got its own indices: step s, rank r -> (2 s + r) * 2 + j
    assert r0["indices"] == [0, 1, 4, 5] and r1["indices"] == [2, 3, 6, 7]
    run = tmp_path / "runs" / "ddp"
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [1, 2]
    assert r0["final"] == str(run / "final") and r1["final"] == "None"
    state = ckpt.load_trainer_state(run / "checkpoints" / "step_0000002")
    assert state["world_size"] == 2 and state["stats"]["samples"] == 8


def test_env_context_defaults_to_a_world_of_one(monkeypatch) -> None:
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    ctx = env_context()
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.active) == (0, 1, True, False)
