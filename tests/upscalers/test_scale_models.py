"""Per-scale weights (inference.json ``scale_models``): the folder for the run's scale runs,
every other setting stays the root folder's, and bad entries are one-line ModelErrors."""

from __future__ import annotations

import json

import pytest
import torch

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.engine import ModelCache
from dsdit_geo.errors import ModelError
from dsdit_geo.model.presets import build_model
from dsdit_geo.upscalers.dsdit import DSDiTUpscaler
from dsdit_geo.upscalers.settings import DSDiTSettings
from dsdit_geo.weights import weights_for_scale


@pytest.fixture()
def routed(tmp_path):
    """A tiny model folder ``main`` with a second tiny model (other weights) in ``main/x8``."""
    root = tmp_path / "main"
    build_model("tiny", seed=0).save_pretrained(str(root))
    build_model("tiny", seed=1).save_pretrained(str(root / "x8"))
    (root / "inference.json").write_text(json.dumps({"steps": 2, "scale_models": {"6": "x8"}}))
    return root


def resolve(folder) -> DSDiTSettings:
    return DSDiTSettings.resolve(UpscaleOptions(weights=str(folder), device="cpu"))


def first_weight(model) -> torch.Tensor:
    return next(model.parameters()).detach().clone()


def test_the_folder_of_the_largest_key_not_above_the_scale_runs(routed):
    settings = resolve(routed)
    assert settings.scale_models == ((6.0, routed / "x8"),) and settings.steps == 2
    assert [settings.weights_at(s) for s in (None, 4.0, 5.99, 6.0, 8.0, 10.0)] == [routed] * 3 + [routed / "x8"] * 3
    two = ((4.0, routed / "a"), (8.0, routed / "b"))
    assert [weights_for_scale(routed, two, s) for s in (2.0, 4.0, 7.0, 8.0)] == [
        routed, routed / "a", routed / "a", routed / "b"]

    cache = ModelCache()
    at_x4 = DSDiTUpscaler.from_settings(settings, scale=4.0, loader=cache)
    at_x8 = DSDiTUpscaler.from_settings(settings, scale=8.0, loader=cache)
    assert cache.loads == 2 and at_x4.steps == at_x8.steps == 2  # settings shared, weights not
    assert torch.equal(first_weight(at_x4.model), first_weight(build_model("tiny", seed=0)))
    assert torch.equal(first_weight(at_x8.model), first_weight(build_model("tiny", seed=1)))
    assert (at_x4.describe()["weights"], at_x8.describe()["weights"]) == ("main", "main/x8")


@pytest.mark.parametrize(
    ("entry", "message"),
    [({"6": ""}, r"scale_models\['6'\] must be a model folder name"),
     ({"six": "x8"}, "scale_models keys must be scale factors > 0, got 'six'"),
     ({"6": "x8", "6.0": "x8"}, "scale_models names the scale factor 6 twice"),
     ([], "scale_models must be an object of scale factor: model folder"),
     ({"6": "nowhere"}, r"scale_models\[6\]: model folder not found"),
     ({"6": "wide"}, r"scale_models\[6\]: .*wide is not the same architecture as .*main \(hidden_dim 48 vs 32"),
     ({"6": "cut"}, r"scale_models\[6\]: .*cut/diffusion_pytorch_model.safetensors is not a readable safetensors")],
)
def test_bad_scale_models_are_one_line_model_errors(routed, entry, message):
    build_model("tiny", seed=0, hidden_dim=48).save_pretrained(str(routed / "wide"))
    build_model("tiny", seed=2).save_pretrained(str(routed / "cut"))
    weights = routed / "cut" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    (routed / "inference.json").write_text(json.dumps({"scale_models": entry}))
    with pytest.raises(ModelError, match=message) as info:
        resolve(routed)
    assert "\n" not in str(info.value)
