"""A batch loads the model once per process (one `Engine` per worker), not once per item."""

from __future__ import annotations

import pytest

import dsdit_geo.weights as weights_module
from dsdit_geo.batch import load_manifest, run_batch
from dsdit_geo.batch import task
from dsdit_geo.config import UpscaleOptions

from .conftest import good_manifest


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    from dsdit_geo.model.presets import build_model

    folder = tmp_path_factory.mktemp("tiny")
    build_model("tiny", seed=0).save_pretrained(str(folder))
    return str(folder)


def test_a_sequential_batch_loads_the_model_once(scenes, tiny_model, tmp_path, monkeypatch):
    loads = []
    real = weights_module.load_model
    monkeypatch.setattr(weights_module, "load_model", lambda folder: loads.append(folder) or real(folder))
    items = load_manifest(good_manifest(scenes, tmp_path), str(tmp_path / "out"), trust_template="{stem}_t.tif")
    options = UpscaleOptions(weights=tiny_model, steps=1, device="cpu", tile_px=128, overlap_px=16)
    summary = run_batch(items, options, str(tmp_path / "out"), report=False)
    assert summary.done == 2 and summary.failed == 0
    assert len(loads) == 1  # two items, one load
    assert task._ENGINE == {}  # released at the end of the in-process batch
    assert (tmp_path / "out" / "A_lr_sr_t.tif").exists()  # per-item trust maps still work


def test_one_engine_per_process_and_option_set(monkeypatch):
    built = []

    class FakeEngine:
        def __init__(self, options):
            built.append(options)

    monkeypatch.setattr("dsdit_geo.engine.Engine", FakeEngine)
    task.release_engine()
    first = task.process_engine(UpscaleOptions(method="hpf", trust_map="a.tif", extra={"k": "1"}))
    again = task.process_engine(UpscaleOptions(method="hpf", trust_map="b.tif", extra={"k": "2"}))
    assert first is again and len(built) == 1 and built[0].trust_map is None
    other = task.process_engine(UpscaleOptions(method="hpf", seed=3))
    assert other is not first and len(task._ENGINE) == 1
    task.release_engine()
