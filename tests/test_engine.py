"""`dsdit_geo.Engine`: settings resolved once, models loaded once, per-scale upscalers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rasterio

import dsdit_geo.weights as weights_module
from dsdit_geo import Engine, upscale_file
from dsdit_geo.errors import ModelError, OptionError, TrustMapError
from dsdit_geo.raster.synthetic import write_pair
from dsdit_geo.upscalers.settings import DSDiTSettings


@pytest.fixture(scope="module")
def fusion_model(tmp_path_factory) -> str:
    """A tiny `fusion` model (its halo depends on the scale) with random non-zero weights."""
    import torch

    from dsdit_geo.model.presets import build_model

    model = build_model("tiny", seed=0, prediction="fusion")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    folder = tmp_path_factory.mktemp("fusion")
    model.save_pretrained(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> dict[int, tuple[str, str]]:
    """Small pairs at scales 4 and 8 (LR 4 m / 8 m onto a 1 m Ref)."""
    out = {}
    for scale in (4, 8):
        folder = tmp_path_factory.mktemp(f"x{scale}")
        out[scale] = write_pair(str(folder), lr_px=64 // scale + 2, ref_px=56, scale=scale, bands=3)
    return out


@pytest.fixture
def load_counter(monkeypatch) -> list[str]:
    loads: list[str] = []
    real = weights_module.load_model

    def counting(folder):
        loads.append(str(folder))
        return real(folder)

    monkeypatch.setattr(weights_module, "load_model", counting)
    return loads


def read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def test_engine_loads_once_and_matches_upscale_file(fusion_model, pairs, tmp_path, load_counter):
    options = dict(method="dsdit", weights=fusion_model, steps=1, device="cpu", quiet=True)
    engine = Engine(**options)
    assert load_counter == [fusion_model]
    for k, scale in enumerate((4, 8, 4)):
        engine.upscale_file(*pairs[scale], tmp_path / f"e{k}.tif", seed=k)
    assert load_counter == [fusion_model]  # three runs, two scales: one load
    assert len(engine.models) == 1 and engine.models.loads == 1
    at4, at8 = engine.upscaler(engine.options, 4.0), engine.upscaler(engine.options, 8.0)
    assert at4.model is at8.model and at4.context_px < at8.context_px  # the halo follows the scale
    for k, scale in enumerate((4, 8)):
        upscale_file(*pairs[scale], tmp_path / f"f{k}.tif", seed=k, **options)
        np.testing.assert_array_equal(read(tmp_path / f"e{k}.tif"), read(tmp_path / f"f{k}.tif"))


def test_engine_resolves_settings_once(fusion_model, pairs, tmp_path, monkeypatch):
    calls = []
    real = DSDiTSettings.resolve.__func__

    def counting(cls, options):
        calls.append(options.steps)
        return real(cls, options)

    monkeypatch.setattr(DSDiTSettings, "resolve", classmethod(counting))
    engine = Engine.from_options(None, method="dsdit", weights=fusion_model, steps=1, device="cpu", quiet=True)
    engine.upscale_file(*pairs[4], tmp_path / "a.tif")
    engine.upscale_file(*pairs[8], tmp_path / "b.tif", overwrite=True)
    assert calls == [1]
    assert engine.settings.steps == 1 and engine.settings.weights.name == "fusion0"
    with pytest.raises(AttributeError):
        engine.settings.steps = 3  # frozen
    engine.upscale_file(*pairs[4], tmp_path / "c.tif", steps=2)  # another option set: resolved once more
    assert calls == [1, 2]


def test_engine_checks_options_and_model_up_front(tmp_path):
    with pytest.raises(OptionError, match="--steps must be at least 1"):
        Engine(steps=0)
    with pytest.raises(OptionError, match="--device must be auto, cpu, cuda or cuda:N"):
        Engine(method="hpf", device="tpu")
    with pytest.raises(ModelError, match="model folder not found"):
        Engine(weights=str(tmp_path / "nope"))
    with pytest.raises(OptionError, match="unknown upscale option"):
        Engine(method="hpf", stepz=3)


def test_trust_map_check_is_one_error_type(pairs, tmp_path):
    engine = Engine(method="bicubic", quiet=True)
    with pytest.raises(TrustMapError, match="--trust-map needs a method that weights the Ref") as info:
        engine.upscale_file(*pairs[4], tmp_path / "o.tif", trust_map=str(tmp_path / "t.tif"))
    assert isinstance(info.value, OptionError) and isinstance(info.value, ModelError)
    assert not (tmp_path / "o.tif").exists()
    report = Engine(method="hpf", quiet=True).upscale_file(*pairs[4], tmp_path / "o.tif", trust_map=str(tmp_path / "t.tif"))
    assert report.trust_map_path and (tmp_path / "t.tif").exists()


def test_import_stays_light():
    code = (
        "import sys, dsdit_geo; e = dsdit_geo.Engine; f = dsdit_geo.upscale_dataarray; "
        "assert 'torch' not in sys.modules, 'torch'; assert 'xarray' not in sys.modules, 'xarray'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
