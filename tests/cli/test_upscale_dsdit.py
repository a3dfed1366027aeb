"""`dsdit-geo upscale --method dsdit` end to end with a tiny random DS-DiT saved in a tmp dir.

The pair is S2-like (EPSG:32611, uint16, 4 bands, nodata corner) / NAIP-like (EPSG:26911,
uint8), 140 x 140 HR px; the model has 3 channels, so band 4 is done by hpf.
"""

import json
import os

import numpy as np
import pytest
import rasterio
import torch
from dsdit_geo_cli.app import app
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from dsdit_geo import weights
from dsdit_geo.model import build_model
from dsdit_geo.raster.synthetic import write_pair

runner = CliRunner()
FAST = ("--tile-px", "64", "--overlap-px", "16", "--steps", "2", "--device", "cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models are per-op overhead: one thread is faster on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def save_model(folder, inference=None, **overrides):
    """A tiny DS-DiT with seeded random non-zero weights, saved in `folder`."""
    model = build_model("tiny", seed=0, **overrides)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 / max(1.0, p.shape[-1] ** 0.5) ** 0.5)
    model.save_pretrained(str(folder))
    if inference is not None:
        (folder / "inference.json").write_text(json.dumps(inference))
    return str(folder)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")), lr_px=16, ref_px=140)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("models") / "tiny-random")


def invoke(*args):
    return runner.invoke(app, ["upscale", *map(str, args)])


def one_error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("grid_args", "epsg", "res"), [((), 26911, 1.0), (("--crs", "EPSG:3857", "--resolution", "2"), 3857, 2.0)]
)
def test_writes_a_cog_and_a_trust_map(pair, model_dir, tmp_path, grid_args, epsg, res):
    out, trust = tmp_path / "out.tif", tmp_path / "trust.tif"
    result = invoke(
        *pair, out, "-m", "dsdit", "--weights", model_dir, *FAST, *grid_args, "--trust-map", trust
    )
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.stderr and "dsdit" in result.stderr
    assert cog_validate(str(out))[0] and cog_validate(str(trust))[0]
    with rasterio.open(out) as ds, rasterio.open(pair[1]) as ref_ds:
        assert ds.crs.to_epsg() == epsg and ds.res == (res, res)
        if not grid_args:
            assert ds.transform == ref_ds.transform and ds.shape == (140, 140)
        assert ds.count == 4 and ds.dtypes == ("uint16",) * 4 and ds.nodata == 0
        assert ds.descriptions == (None,) * 4
        tags, data, transform, shape = ds.tags(), ds.read(), ds.transform, ds.shape
    assert tags["DSDIT_GEO_METHOD"] == "dsdit" and tags["DSDIT_GEO_METHOD_KIND"] == "diffusion"
    assert tags["DSDIT_GEO_BANDS_BY_HPF"] == "4"
    assert (
        tags["DSDIT_GEO_METHOD_STEPS"] == "2"
        and tags["DSDIT_GEO_METHOD_GUIDANCE"] == "1"
        and tags["DSDIT_GEO_METHOD_REF_SCALE_WEAK"] == "0"
    )
    assert tags["DSDIT_GEO_METHOD_WEIGHTS"] == "tiny-random"
    assert tags["DSDIT_GEO_METHOD_MODEL_PRESET"] == "tiny"
    valid = data[0] != 0
    assert (data[:, valid] > 0).all() and 0.6 < valid.mean() < 0.95  # the LR's nodata corner stays nodata
    with rasterio.open(trust) as ds:
        assert ds.count == 1 and ds.dtypes == ("float32",) and np.isnan(ds.nodata)
        assert ds.crs.to_epsg() == epsg and ds.transform == transform and ds.shape == shape
        values = ds.read(1)
    assert np.isnan(values[~valid]).all() and np.isfinite(values[valid]).all()
    assert 0 <= values[valid].min() and values[valid].max() <= 1 and values[valid].std() > 0
    assert sorted(os.listdir(tmp_path)) == ["out.tif", "trust.tif"]


def test_extra_bands_are_done_by_hpf(pair, model_dir, tmp_path):
    both = invoke(*pair, tmp_path / "all.tif", "-m", "dsdit", "--weights", model_dir, *FAST)
    nir = invoke(
        *pair, tmp_path / "nir.tif", "-m", "hpf", "--lr-bands", "4", "--ref-bands", "4", "--tile-px", "64"
    )
    assert both.exit_code == 0 and nir.exit_code == 0, both.output + nir.output
    with rasterio.open(tmp_path / "all.tif") as ds, rasterio.open(tmp_path / "nir.tif") as hpf:
        assert ds.count == 4 and np.array_equal(ds.read(4), hpf.read(1))


def test_same_seed_same_bytes_other_seed_other_pixels(pair, model_dir, tmp_path):
    paths = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        paths[name] = tmp_path / f"{name}.tif"
        result = invoke(
            *pair,
            paths[name],
            "-m",
            "dsdit",
            "--weights",
            model_dir,
            *FAST,
            "--seed",
            seed,
            "--guidance",
            "1.5",
        )
        assert result.exit_code == 0, result.output
    assert paths["a"].read_bytes() == paths["b"].read_bytes()
    with rasterio.open(paths["a"]) as a, rasterio.open(paths["c"]) as c:
        first, other = a.read(1).astype(int), c.read(1).astype(int)
        assert a.tags()["DSDIT_GEO_SEED"] == "7" and a.tags()["DSDIT_GEO_METHOD_GUIDANCE"] == "1.5"
    valid = first != 0
    assert (first[valid] != other[valid]).mean() > 0.5


def test_inference_json_defaults_and_flags_override_them(pair, tmp_path):
    folder = save_model(
        tmp_path / "models" / "tuned",
        inference={"steps": 3, "guidance": 1.25, "ref_scale_weak": 0.5, "tile_px": 48, "overlap_px": 8},
    )
    out = tmp_path / "out" / "a.tif"
    out.parent.mkdir()
    assert invoke(*pair, out, "-m", "dsdit", "--weights", folder, "-q").exit_code == 0
    with rasterio.open(out) as ds:
        tags = ds.tags()
    assert tuple(tags[f"DSDIT_GEO_METHOD_{k}"] for k in ("STEPS", "GUIDANCE", "REF_SCALE_WEAK")) == (
        "3",
        "1.25",
        "0.5",
    )
    assert "DSDIT_GEO_OPTION_STEPS" not in tags and "DSDIT_GEO_OPTION_TILE_PX" not in tags
    flags = ("--steps", "1", "--guidance", "1", "--ref-scale-weak", "0", "--tile-px", "32", "-q")
    assert invoke(*pair, out.with_name("b.tif"), "-m", "dsdit", "--weights", folder, *flags).exit_code == 0
    with rasterio.open(out.with_name("b.tif")) as ds:
        tags = ds.tags()
    settings = tuple(tags[f"DSDIT_GEO_METHOD_{k}"] for k in ("STEPS", "GUIDANCE", "REF_SCALE_WEAK"))
    assert settings == ("1", "1", "0")
    assert tags["DSDIT_GEO_OPTION_STEPS"] == "1" and tags["DSDIT_GEO_OPTION_TILE_PX"] == "32"


def test_guide_model_flag_runs_and_is_recorded(pair, model_dir, tmp_path):
    """--guide DIR: the smaller model makes autoguidance's weak pass (tags say which); --guide
    self is the model's own lambda_weak pass, a different result."""
    guide = save_model(tmp_path / "guides" / "small-guide", hidden_dim=16, depth=1)
    outs = {k: tmp_path / f"{k}.tif" for k in ("guide", "self")}
    for key, value in (("guide", guide), ("self", "self")):
        args = (*pair, outs[key], "-m", "dsdit", "--weights", model_dir, *FAST, "--guidance", "1.5", "--guide", value, "-q")
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    with rasterio.open(outs["guide"]) as a, rasterio.open(outs["self"]) as b:
        assert a.tags()["DSDIT_GEO_METHOD_GUIDE"] == "small-guide"
        assert b.tags()["DSDIT_GEO_METHOD_GUIDE"] == "self"
        key = "DSDIT_GEO_METHOD_REF_SCALE_WEAK"
        assert a.tags()[key] == b.tags()[key] == "0"
        assert a.tags()["DSDIT_GEO_OPTION_GUIDE"] == guide
        assert not np.array_equal(a.read(1), b.read(1))


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_models")
    (folder / "empty").mkdir()
    other = folder / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    (other / weights.WEIGHTS_FILE).write_bytes(b"")
    corrupt = save_model(folder / "corrupt")
    (folder / "corrupt" / weights.WEIGHTS_FILE).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    return {
        "missing": str(folder / "missing"),
        "empty": str(folder / "empty"),
        "other": str(other),
        "corrupt": corrupt,
    }


BAD = {
    "missing folder": (["--weights", "{missing}"], "model folder not found"),
    "not a model folder": (["--weights", "{empty}"], "it has no config.json"),
    "another model": (["--weights", "{other}"], "is not a DS-DiT model"),
    "corrupt weights": (["--weights", "{corrupt}"], "is not a readable safetensors file"),
    "tile not a multiple of the patch": (
        ["--weights", "{model}", "--tile-px", "30"],
        "--tile-px 30 does not suit method 'dsdit': tile plus context (30 px) must be a multiple of 4",
    ),
    "negative weak scale": (["--weights", "{model}", "--ref-scale-weak", "-1"], "--ref-scale-weak"),
    "no steps": (["--weights", "{model}", "--steps", "0"], "--steps must be at least 1"),
    "missing guide": (["--weights", "{model}", "--guidance", "1.2", "--guide", "{missing}"], "--guide: model folder not found"),
    "guide is another model": (["--weights", "{model}", "--guidance", "1.2", "--guide", "{other}"], "--guide: "),
    "no bundled model": ([], "no bundled model found; pass --weights DIR"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_model_or_option_is_one_line_and_leaves_nothing(
    pair, model_dir, bad_models, tmp_path, monkeypatch, case
):
    monkeypatch.setattr(weights, "DEFAULT_WEIGHTS_DIR", tmp_path / "no-bundled-model")
    args, message = BAD[case]
    args = [arg.format(model=model_dir, **bad_models) for arg in args]
    out = tmp_path / "out.tif"
    result = invoke(
        *pair, out, "-m", "dsdit", "--device", "cpu", "--trust-map", tmp_path / "trust.tif", *args
    )
    assert message in one_error_line(result)
    assert list(tmp_path.iterdir()) == []
