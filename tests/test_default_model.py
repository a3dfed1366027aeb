"""The bundled default model: it is there, small enough, documented, and `dsdit-geo upscale` with
no --method and no --weights uses it to write a valid COG from the sample data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from dsdit_geo_cli.app import app
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from dsdit_geo.upscalers.dsdit import check_guide
from dsdit_geo.weights import (
    CONFIG_FILE,
    default_weights_dir,
    load_model,
    read_inference_defaults,
    resolve_guide_dir,
    resolve_scale_models,
)

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
MAX_WEIGHTS_BYTES = 40_000_000  # 40 MB, the model and its autoguidance guide together


def test_bundled_model_is_small_documented_and_loads():
    folder = default_weights_dir()
    assert sum(p.stat().st_size for p in folder.rglob("*.safetensors")) <= MAX_WEIGHTS_BYTES
    card = (folder / "MODEL_CARD.md").read_text()
    for heading in ("## Data", "## Training", "## Dev-split scores"):
        assert heading in card
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config["_class_name"] == "DSDiTTransformer" and config["injection"] == "plw"
    recommended = read_inference_defaults(folder)
    assert recommended.steps is not None and recommended.guidance is not None
    assert recommended.start != "zero" or recommended.steps == 1  # a one-step model says so
    model = load_model(folder)
    assert sum(p.numel() for p in model.parameters()) * 4 <= MAX_WEIGHTS_BYTES


def test_bundled_guide_fits_the_model_and_is_named_in_inference_json():
    """`--guidance w > 1` runs the bundled guide model as the weak pass."""
    folder = default_weights_dir()
    recommended = read_inference_defaults(folder)
    assert recommended.guidance is not None and recommended.guidance >= 1
    guide_folder = resolve_guide_dir(None, folder, recommended.guide)
    assert guide_folder is not None and guide_folder.parent == folder
    model, guide = load_model(folder), load_model(guide_folder)
    check_guide(model, guide, guide_folder.name)
    assert sum(p.numel() for p in guide.parameters()) < sum(p.numel() for p in model.parameters()) / 10
    for _, scale_folder in resolve_scale_models(folder, recommended.scale_models):  # per-scale weights
        assert scale_folder.parent == folder
        check_guide(load_model(scale_folder), guide, guide_folder.name)


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
        assert tags["DSDIT_GEO_METHOD"] == "dsdit" and tags["DSDIT_GEO_METHOD_WEIGHTS"] == "default"
        # inference.json's guidance and detail (v14, v13, v12: w 1.1 with guide/, detail 1; v11, v10: w 1.2; v6: detail 0.3)
        recommended = read_inference_defaults(default_weights_dir())
        assert float(tags["DSDIT_GEO_METHOD_GUIDANCE"]) == recommended.guidance
        assert tags["DSDIT_GEO_METHOD_GUIDE"] == ("none" if recommended.guidance == 1 else "guide")
        assert float(tags["DSDIT_GEO_METHOD_DETAIL"]) == (1.0 if recommended.detail is None else recommended.detail)
        if recommended.ref_detail_blurry:  # v15: the scene's LR sharpness sets the x10 Ref detail gain
            sharpness = float(tags["DSDIT_GEO_LR_SHARPNESS"])
            assert 0.3 < sharpness < 1.5
            gain = float(tags["DSDIT_GEO_METHOD_REF_DETAIL_GAIN"])
            low, high = sorted(g for _, g in (recommended.ref_detail[-1], recommended.ref_detail_blurry[-1]))
            assert low - 1e-6 <= gain <= high + 1e-6
        assert ds.crs == ref.crs  # the default output grid is the Ref's
        assert (ds.dtypes, ds.nodata, ds.count) == (lr.dtypes, lr.nodata, lr.count)
        assert (ds.transform, ds.shape) == (ref_ds.transform, ref_ds.shape)
        hr = ds.read(1).astype(np.float64)
        hr_bicubic = ref_ds.read(1).astype(np.float64)
    valid = hr_bicubic != 0
    assert valid.mean() > 0.9 and np.all(hr[valid] > 0)
    # the model reconstructs the scene: it stays close to the LR's content, not noise
    assert np.corrcoef(hr[valid], hr_bicubic[valid])[0, 1] > 0.9


def test_guidance_above_one_runs_the_bundled_guide(tmp_path):
    out = tmp_path / "guided.tif"
    done = CliRunner().invoke(app, ["upscale", str(SAMPLE / "lr.tif"), str(SAMPLE / "ref.tif"), str(out),
                                    "--steps", "1", "--guidance", "1.15", "--quiet"])
    assert done.exit_code == 0, done.output
    with rasterio.open(out) as ds:
        assert ds.tags()["DSDIT_GEO_METHOD_GUIDE"] == "guide"
