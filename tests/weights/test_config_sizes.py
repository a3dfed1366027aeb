"""Absurd sizes in a model folder are one-line ModelErrors, before anything is allocated."""

from __future__ import annotations

import json

import pytest

from dsdit_geo import weights
from dsdit_geo.errors import ModelError

DEFAULT_CONFIG = json.loads((weights.default_weights_dir() / weights.CONFIG_FILE).read_text())


def folder_with(tmp_path, **changes):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / weights.CONFIG_FILE).write_text(json.dumps({**DEFAULT_CONFIG, **changes}))
    (folder / weights.WEIGHTS_FILE).write_bytes(b"")  # never read: the config is refused first
    return folder


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"depth": 1_000_000}, "depth must be an integer from 1 to 256, got 1000000"),
        ({"num_heads": 0}, "num_heads must be an integer from 1 to 1024, got 0"),
        ({"hidden_dim": 1e9}, "hidden_dim must be an integer"),
        ({"hidden_dim": 190}, "hidden_dim 190 must be a multiple of num_heads 3"),
        ({"mlp_ratio": float("inf")}, "mlp_ratio must be a number"),
        ({"hidden_dim": 65536, "depth": 256, "num_heads": 1}, "does not fit in memory"),
    ],
)
def test_absurd_model_config_is_a_model_error(tmp_path, changes, message):
    folder = folder_with(tmp_path, **changes)
    with pytest.raises(ModelError, match=message) as info:
        weights.load_model(folder)
    assert "\n" not in str(info.value) and "config.json" in str(info.value)


@pytest.mark.parametrize("tile_px", [1_000_000, 1e6])
def test_absurd_inference_tile_is_a_model_error(tmp_path, tile_px):
    folder = folder_with(tmp_path)
    (folder / weights.INFERENCE_FILE).write_text(json.dumps({"tile_px": tile_px}))
    with pytest.raises(ModelError, match="tile_px must be") as info:
        weights.read_inference_defaults(folder)
    assert "inference.json" in str(info.value)


def test_the_bundled_config_passes():
    weights.check_config_sizes(DEFAULT_CONFIG, weights.default_weights_dir())
