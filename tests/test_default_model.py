"""The bundled default model: it is there, small enough, documented, and `dsdit-geo upscale` with
no --method and no --weights uses it to write a valid COG from the sample data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from dsdit_geo.weights import (
    CONFIG_FILE,
    INFERENCE_FILE,
    WEIGHTS_FILE,
    default_weights_dir,
    load_model,
    read_inference_defaults,
)
from dsdit_geo_cli.app import app

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
MAX_WEIGHTS_BYTES = 40 * 1024 * 1024


def test_bundled_model_is_small_documented_and_loads():
    folder = default_weights_dir()
    assert (folder / WEIGHTS_FILE).stat().st_size <= MAX_WEIGHTS_BYTES
    card = (folder / "MODEL_CARD.md").read_text()
    for heading in ("## Data", "## Training", "## Dev-split scores"):
        assert heading in card
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config["_class_name"] == "DSDiTTransformer" and config["injection"] == "plw"
    recommended = read_inference_defaults(folder)
    assert recommended.steps is not None and recommended.guidance is not None
    model = load_model(folder)
    assert sum(p.numel() for p in model.parameters()) * 4 <= MAX_WEIGHTS_BYTES


def test_default_upscale_of_the_sample_is_a_valid_cog(tmp_path):
    out = tmp_path / "out.tif"
    bicubic = tmp_path / "bicubic.tif"
    runner = CliRunner()
    args = [str(SAMPLE / "lr.tif"), str(SAMPLE / "ref.tif")]
    done = runner.invoke(app, ["upscale", *args, str(out), "--steps", "1", "--quiet"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["upscale", *args, str(bicubic), "--method", "bicubic", "--quiet"])
    assert done.exit_code == 0, done.output
    assert cog_validate(str(out))[0]
    with (rasterio.open(out) as ds, rasterio.open(bicubic) as ref_ds,
          rasterio.open(SAMPLE / "lr.tif") as lr, rasterio.open(SAMPLE / "ref.tif") as ref):
        tags = ds.tags()
        assert tags["method"] == "dsdit" and tags["method_weights"] == "default"
        assert ds.crs == ref.crs  # the default output grid is the Ref's
        assert (ds.dtypes, ds.nodata, ds.count) == (lr.dtypes, lr.nodata, lr.count)
        assert (ds.transform, ds.shape) == (ref_ds.transform, ref_ds.shape)
        hr = ds.read(1).astype(np.float64)
        hr_bicubic = ref_ds.read(1).astype(np.float64)
    valid = hr_bicubic != 0
    assert valid.mean() > 0.9 and np.all(hr[valid] > 0)
    # the model reconstructs the scene: it stays close to the LR's content, not noise
    assert np.corrcoef(hr[valid], hr_bicubic[valid])[0, 1] > 0.9
