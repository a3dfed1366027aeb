"""`DSDiTSettings`: options > inference.json > defaults, resolved and checked in one place."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.device import check_device_text
from dsdit_geo.errors import ModelError, OptionError
from dsdit_geo.pipeline import validate_options
from dsdit_geo.upscalers import base
from dsdit_geo.upscalers.classical import Bicubic, HighPassFusion, Transfer
from dsdit_geo.upscalers.settings import DEFAULT_STEPS, DSDiTSettings, check_sampling


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from dsdit_geo.model.presets import build_model

    path = tmp_path_factory.mktemp("model")
    build_model("tiny", seed=0).save_pretrained(str(path))
    return path


def resolve(folder, **options) -> DSDiTSettings:
    return DSDiTSettings.resolve(UpscaleOptions(weights=str(folder), device="cpu", **options))


def test_precedence_options_over_inference_json_over_defaults(folder):
    plain = resolve(folder)
    assert (plain.steps, plain.guidance, plain.ref_scale_weak, plain.guide) == (DEFAULT_STEPS, 1.0, 0.0, None)
    assert plain.device == "cpu" and plain.provides_trust and plain.injection == "plw"
    assert plain.tile_px % plain.patch_px == 0
    (folder / "inference.json").write_text(json.dumps({"steps": 3, "guidance": 1.5, "tile_px": 64}))
    try:
        recommended = resolve(folder)
        assert (recommended.steps, recommended.guidance, recommended.tile_px) == (3, 1.5, 64)
        explicit = resolve(folder, steps=5, guidance=1.0)
        assert (explicit.steps, explicit.guidance, explicit.tile_px) == (5, 1.0, 64)
    finally:
        (folder / "inference.json").unlink()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.steps = 2


def test_sampling_values_are_checked_by_one_function(folder):
    """The API, the settings and validate_options give the same message for the same value."""
    cases = [({"steps": 0}, "--steps must be at least 1"),
             ({"guidance": float("nan")}, "--guidance must be a finite number"),
             ({"guidance": -1.0}, "--guidance must be >= 0"),
             ({"ref_scale_weak": -1.0}, "--ref-scale-weak must be a finite number >= 0"),
             ({"detail": -0.1}, "--detail must be a number from 0 to 4"),
             ({"detail": float("inf")}, "--detail must be a number from 0 to 4"),
             ({"ref_detail": -0.5}, "--ref-detail must be a number from 0 to 2"),
             ({"ref_detail": float("nan")}, "--ref-detail must be a number from 0 to 2")]
    for values, message in cases:
        with pytest.raises(OptionError, match=message):
            check_sampling(values.get("steps"), values.get("guidance"), values.get("ref_scale_weak"),
                           values.get("detail"), values.get("ref_detail"))
        with pytest.raises(OptionError, match=message):
            validate_options(UpscaleOptions(method="hpf", **values))
        with pytest.raises(OptionError, match=message):
            resolve(folder, **values)
    check_sampling(None, None, None)


def test_device_rules_live_in_one_place():
    assert check_device_text(None) == "auto" and check_device_text(" CUDA:1 ") == "cuda:1"
    for bad in ("tpu", "cuda:x", "", "gpu0"):
        with pytest.raises(OptionError, match="--device must be auto, cpu, cuda or cuda:N"):
            check_device_text(bad or "  ")
        with pytest.raises(OptionError, match="--device must be auto, cpu, cuda or cuda:N"):
            validate_options(UpscaleOptions(device=bad or "  "))


def test_provides_trust_is_part_of_the_protocol():
    assert "provides_trust" in base.Upscaler.__annotations__
    assert [m.provides_trust for m in (Bicubic(), HighPassFusion(4.0), Transfer(4.0))] == [False, True, False]
    for method in (Bicubic(), Transfer(4.0)):
        assert isinstance(method, base.Upscaler)
        with pytest.raises(OptionError, match=f"--trust-map needs a method that weights the Ref.*{method.name}"):
            base.check_provides_trust(method)
    base.check_provides_trust(HighPassFusion(4.0))


def test_a_model_without_plw_cannot_give_a_trust_map(tmp_path):
    from dsdit_geo.model.presets import build_model

    build_model("tiny", seed=0, injection="sum").save_pretrained(str(tmp_path / "sum"))
    assert resolve(tmp_path / "sum").provides_trust is False
    from dsdit_geo.upscalers import make_upscaler

    with pytest.raises(ModelError, match="--trust-map needs a model with PLW injection; sum uses"):
        make_upscaler(UpscaleOptions(weights=str(tmp_path / "sum"), device="cpu", trust_map="t.tif"))
