"""DSDiTUpscaler on tiles: loading, settings, autoguidance batching, noise, bands, trust, errors.

Models are the `tiny` preset (patch 4) saved in tmp dirs. A fresh model predicts a velocity of
exactly 0, so its samples are the initial noise itself: that makes exact checks of the noise,
band and parameterisation plumbing possible. Tests that need outputs depending on the inputs
give every weight a seeded random value first.
"""

import json
import math
import re
from pathlib import Path

import pytest
import torch

from dsdit_geo import weights
from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import ModelError, OptionError
from dsdit_geo.flow import flow_sigmas
from dsdit_geo.flow.noise import position_keyed_noise
from dsdit_geo.flow.parameterization import Parameterization, to_network
from dsdit_geo.model import build_model
from dsdit_geo.upscalers import make_upscaler
from dsdit_geo.upscalers.base import TileBatch, Upscaler, check_tile_px
from dsdit_geo.upscalers.dsdit import (
    DSDiTUpscaler,
    autocast_dtype_for,
    band_index,
    merge_bands,
    resolve_device,
)

SCALE = 10.0


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models are per-op overhead: one thread is faster on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def save_model(folder, *, randomize=True, seed=0, inference=None, **overrides):
    """A tiny DS-DiT saved in `folder` (random non-zero weights unless randomize=False)."""
    model = build_model("tiny", seed=seed, **overrides)
    if randomize:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3 / max(1.0, p.shape[-1] ** 0.5) ** 0.5)
    model.save_pretrained(str(folder))
    if inference is not None:
        (folder / "inference.json").write_text(json.dumps(inference))
    return str(folder)


@pytest.fixture(scope="module")
def random_dir(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("random"))


@pytest.fixture(scope="module")
def fresh_dir(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("fresh"), randomize=False)


def load(folder, **options):
    return make_upscaler(UpscaleOptions(method="dsdit", weights=str(folder), device="cpu", **options))


def tiles(b=2, c=3, size=16, seed=0, origin=((0, 0), (-8, 36)), ref_valid=None):
    g = torch.Generator().manual_seed(seed)
    lr, ref = torch.rand(b, c, size, size, generator=g), torch.rand(b, c, size, size, generator=g)
    ones = torch.ones(b, 1, size, size, dtype=torch.bool)
    return TileBatch(
        lr_hr=lr,
        ref_hr=ref,
        lr_valid=ones,
        ref_valid=ones if ref_valid is None else ref_valid,
        origin_px=torch.tensor(origin[:b], dtype=torch.int64),
        scale=SCALE,
    )


# -- loading and interface ----------------------------------------------------------------------


def test_loads_through_the_registry_with_the_upscaler_interface(random_dir):
    upscaler = load(random_dir)
    assert isinstance(upscaler, DSDiTUpscaler) and isinstance(upscaler, Upscaler)
    assert (upscaler.name, upscaler.context_px, upscaler.tile_multiple_px, upscaler.max_bands) == (
        "dsdit",
        0,
        4,
        3,
    )
    assert upscaler.provides_trust is True
    assert (upscaler.default_tile_px, upscaler.default_overlap_px) == (128, 32)
    model = upscaler.model
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert not any(p.requires_grad for p in model.parameters())
    tags = upscaler.describe()
    assert tags["steps"] == "8" and tags["guidance"] == "1" and tags["ref_scale_weak"] == "0"
    assert tags["weights"] == "random0" and tags["model_preset"] == "tiny" and tags["precision"] == "fp32"
    assert len(tags["model_config_sha256"]) == 12 and tags["model_prediction"] == "image"
    assert all(isinstance(v, str) for v in tags.values())


def test_config_hash_follows_the_config(tmp_path, random_dir):
    other = save_model(tmp_path / "joint", attention="joint")
    assert load(other).describe()["model_config_sha256"] != load(random_dir).describe()["model_config_sha256"]
    assert load(other).describe()["model_preset"] == "tiny"
    assert load(save_model(tmp_path / "wide", hidden_dim=48)).describe()["model_preset"] == "custom"


def test_settings_options_over_inference_json_over_defaults(tmp_path):
    folder = save_model(
        tmp_path / "m",
        inference={
            "steps": 3,
            "guidance": 1.25,
            "ref_scale_weak": 0.5,
            "tile_px": 48,
            "overlap_px": 8,
            "note": "x",
        },
    )
    recommended = load(folder)
    assert (recommended.steps, recommended.guidance, recommended.ref_scale_weak) == (3, 1.25, 0.5)
    assert (recommended.default_tile_px, recommended.default_overlap_px) == (48, 8)
    explicit = load(folder, steps=5, guidance=1.0, ref_scale_weak=0.0)
    assert (explicit.steps, explicit.guidance, explicit.ref_scale_weak) == (5, 1.0, 0.0)
    partial = load(save_model(tmp_path / "p", inference={"guidance": 1.1, "tile_px": 40}))
    assert (partial.steps, partial.guidance, partial.ref_scale_weak) == (8, 1.1, 0.0)
    assert (partial.default_tile_px, partial.default_overlap_px) == (40, 20)  # overlap <= tile / 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"steps": 0}', "steps must be an integer >= 1"),
        ('{"steps": 2.5}', "steps must be an integer >= 1"),
        ('{"guidance": "high"}', "guidance must be a finite number"),
        ('{"ref_scale_weak": -1}', "ref_scale_weak must be a finite number >= 0"),
        ('{"detail": -0.5}', "detail must be a finite number >= 0"),
        ('{"ref_detail": -0.5}', "ref_detail must be a finite number >= 0"),
        ('{"ref_detail": {}}', "ref_detail must not be an empty object"),
        ('{"ref_detail": {"x8": 0.5}}', "ref_detail keys must be scale factors > 0"),
        ('{"ref_detail": {"8": -1}}', "ref_detail\\['8'\\] must be a finite number >= 0"),
        ('{"ref_detail": {"8": 0.5, "8.0": 0.4}}', "names the scale factor 8 twice"),
        ('{"ref_detail": 2.5}', "ref_detail gains must be at most 2"),
        ('{"ref_detail_sigma_lr_px": 0}', "ref_detail_sigma_lr_px must be > 0"),
        ('{"ref_detail_blurry": {"8": -1}}', "ref_detail_blurry\\['8'\\] must be a finite number >= 0"),
        ('{"ref_detail_blurry": 2.5}', "ref_detail gains must be at most 2"),
        ('{"lr_sharpness_ramp": [0.9, 0.8]}', "lr_sharpness_ramp must be \\[blurry, sharp\\]"),
        ('{"lr_sharpness_ramp": 0.8}', "lr_sharpness_ramp must be \\[blurry, sharp\\]"),
        ('{"tile_px": 30}', "tile_px 30 is not a multiple of the model's patch size 4"),
        ('{"tile_px": 32, "overlap_px": 32}', "overlap_px 32 must be below tile_px 32"),
        ('{"start": "ones"}', "start must be one of noise, zero"),
        ('{"start": 0}', "start must be a non-empty string"),
    ],
)
def test_bad_inference_json_is_a_one_line_model_error(tmp_path, content, message):
    folder = save_model(tmp_path / "m", randomize=False)
    (tmp_path / "m" / "inference.json").write_text(content)
    with pytest.raises(ModelError, match=message) as info:
        load(folder)
    assert "\n" not in str(info.value) and "inference.json" in str(info.value)


def _break(folder, how):
    """Damage a saved model folder in one way."""
    config_path, weights_path = folder / "config.json", folder / weights.WEIGHTS_FILE
    config = json.loads(config_path.read_text())
    if how == "no config":
        config_path.unlink()
    elif how == "config not json":
        config_path.write_text("{oops")
    elif how == "another model":
        config_path.write_text(json.dumps({"_class_name": "SD3Transformer2DModel", "num_layers": 2}))
    elif how == "bad config value":
        config_path.write_text(json.dumps({**config, "attention": "sideways"}))
    elif how == "no weights":
        weights_path.unlink()
    elif how == "truncated weights":
        data = weights_path.read_bytes()
        weights_path.write_bytes(data[: len(data) // 2])
    elif how == "garbage weights":
        weights_path.write_bytes(b"\x00" * 64)
    elif how == "weights too few":
        config_path.write_text(json.dumps({**config, "depth": 3}))
    elif how == "weights too many":
        config_path.write_text(json.dumps({**config, "depth": 1}))
    elif how == "weights wrong shape":
        config_path.write_text(json.dumps({**config, "hidden_dim": 48}))


BROKEN = {
    "no config": "is not a DS-DiT model folder: it has no config.json",
    "config not json": "is not valid JSON",
    "another model": "is not a DS-DiT model: its config.json describes a 'SD3Transformer2DModel' model",
    "bad config value": "is not a valid DS-DiT config: attention must be one of",
    "no weights": "has no diffusion_pytorch_model.safetensors",
    "truncated weights": "is not a readable safetensors file: Error while deserializing header",
    "garbage weights": "is not a readable safetensors file: Error while deserializing header",
    "weights too few": "do not fit its config.json (missing keys",
    "weights too many": "do not fit its config.json (unexpected keys",
    "weights wrong shape": "do not fit its config.json: size mismatch for",
}


@pytest.mark.parametrize("how", list(BROKEN))
def test_broken_model_folder_is_a_one_line_model_error(tmp_path, how):
    folder = tmp_path / "model"
    save_model(folder, randomize=False)
    _break(folder, how)
    with pytest.raises(ModelError, match=re.escape(BROKEN[how])) as info:
        load(folder)
    assert "\n" not in str(info.value) and str(folder) in str(info.value)


def test_missing_folder_or_a_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="model folder not found: .*nowhere"):
        load(tmp_path / "nowhere")
    (tmp_path / "file.safetensors").write_bytes(b"x")
    with pytest.raises(ModelError, match="must be a model folder"):
        load(tmp_path / "file.safetensors")


def test_bundled_model_is_the_default(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "DEFAULT_WEIGHTS_DIR", tmp_path / "default")
    with pytest.raises(ModelError) as info:
        weights.default_weights_dir()
    assert str(info.value) == "no bundled model found; pass --weights DIR"
    with pytest.raises(ModelError, match="no bundled model found; pass --weights DIR"):
        make_upscaler(UpscaleOptions(method="dsdit", device="cpu"))
    save_model(tmp_path / "default", randomize=False)
    assert weights.default_weights_dir() == tmp_path / "default"
    assert make_upscaler(UpscaleOptions(method="dsdit", device="cpu")).describe()["weights"] == "default"


# -- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 0}, "--steps must be at least 1"),
        ({"guidance": math.nan}, "--guidance must be a finite number"),
        ({"ref_scale_weak": -0.5}, "--ref-scale-weak must be a finite number >= 0"),
        ({"ref_detail": -0.1}, "--ref-detail must be a number from 0 to 2"),
        ({"ref_detail": 2.5}, "--ref-detail must be a number from 0 to 2"),
        ({"device": "tpu"}, "--device must be auto, cpu, cuda or cuda:N"),
    ],
)
def test_bad_sampling_options(fresh_dir, options, message):
    with pytest.raises(OptionError, match=message):
        make_upscaler(UpscaleOptions(method="dsdit", weights=fresh_dir, **{"device": "cpu", **options}))


def test_tile_px_must_be_a_multiple_of_the_patch(fresh_dir):
    upscaler = load(fresh_dir)
    check_tile_px(upscaler, 32, 8)
    with pytest.raises(OptionError, match="--tile-px 30 does not suit method 'dsdit'.*multiple of 4"):
        check_tile_px(upscaler, 30, 8)


def test_device_resolution(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(OptionError, match="--device cuda: CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(OptionError, match="--device cuda:2: this machine has 1 CUDA device"):
        resolve_device("cuda:2")
    assert autocast_dtype_for(torch.device("cuda:0")) is torch.bfloat16
    assert autocast_dtype_for(torch.device("cpu")) is None


def test_trust_map_needs_a_plw_model(tmp_path):
    folder = save_model(tmp_path / "sum", randomize=False, injection="sum")
    assert load(folder).provides_trust is False and load(folder).upscale(tiles(b=1)).trust is None
    with pytest.raises(ModelError, match="--trust-map needs a model with PLW injection"):
        load(folder, trust_map=str(tmp_path / "trust.tif"))
    with pytest.raises(OptionError, match="--ref-detail needs a model with PLW injection"):
        load(folder, ref_detail=0.5)  # the step is gated by the trust map
    assert load(folder, ref_detail=0.0).provides_trust is False


# -- sampling ------------------------------------------------------------------------------------


class CountingForward:
    """Wraps a model's forward; records (batch size, ref_scale, scale) of every call."""

    def __init__(self, model):
        self.inner, self.calls = model.forward, []

    def __call__(self, x_t, lr, ref, sigma, *, scale=None, ref_scale=1.0, return_trust=False):
        self.calls.append((x_t.shape[0], torch.as_tensor(ref_scale).clone(), scale))
        return self.inner(x_t, lr, ref, sigma, scale=scale, ref_scale=ref_scale, return_trust=return_trust)


@pytest.mark.parametrize("guidance", [1.0, 1.5])
def test_one_forward_per_step_batched_strong_and_weak(random_dir, guidance):
    upscaler = load(random_dir, steps=3, guidance=guidance, ref_scale_weak=0.25)
    counter = CountingForward(upscaler.model)
    upscaler.model.forward = counter
    upscaler.upscale(tiles(b=2))
    assert len(counter.calls) == 3
    for size, lam, scale in counter.calls:
        if guidance == 1.0:
            assert size == 2 and torch.equal(lam, torch.ones(2))
        else:
            assert size == 4 and torch.equal(lam, torch.tensor([1.0, 1.0, 0.25, 0.25]))
        assert torch.equal(scale, torch.full((size,), SCALE))  # tiny is scale-conditioned


def test_guidance_changes_the_result_and_one_equals_the_strong_pass(random_dir):
    batch = tiles(b=1)
    plain = load(random_dir, steps=3).upscale(batch).hr
    assert torch.equal(plain, load(random_dir, steps=3, guidance=1.0, ref_scale_weak=0.7).upscale(batch).hr)
    assert not torch.allclose(plain, load(random_dir, steps=3, guidance=1.5).upscale(batch).hr)


def test_scale_is_passed_only_to_scale_conditioned_models(tmp_path):
    upscaler = load(save_model(tmp_path / "m", scale_conditioning=False), steps=1)
    counter = CountingForward(upscaler.model)
    upscaler.model.forward = counter
    upscaler.upscale(tiles(b=1))
    assert counter.calls[0][2] is None


def test_deterministic_per_seed_and_depends_on_the_inputs(random_dir):
    batch = tiles()
    first = load(random_dir, steps=2, seed=3).upscale(batch)
    again = load(random_dir, steps=2, seed=3).upscale(batch)
    assert torch.equal(first.hr, again.hr) and torch.equal(first.trust, again.trust)
    assert not torch.allclose(first.hr, load(random_dir, steps=2, seed=4).upscale(batch).hr)
    other_ref = tiles(seed=1)
    other_ref.lr_hr = batch.lr_hr
    assert not torch.allclose(first.hr, load(random_dir, steps=2, seed=3).upscale(other_ref).hr)
    assert first.hr.dtype == torch.float32 and first.hr.shape == (2, 3, 16, 16)
    assert torch.isfinite(first.hr).all()


def test_a_one_step_model_starts_from_zeros_whatever_the_seed(tmp_path):
    """inference.json start "zero": x_1 = 0, so the result is x0 = -v(0), the same for every
    seed; more than one step is refused with a one-line error, and the tags name the start."""
    folder = save_model(tmp_path / "one", inference={"steps": 1, "start": "zero"})
    batch = tiles()
    first = load(folder, seed=1)
    result = first.upscale(batch)
    assert torch.equal(result.hr, load(folder, seed=2).upscale(batch).hr)
    model = first.model
    with torch.no_grad():
        v = model(torch.zeros(2, 3, 16, 16), 2 * batch.lr_hr - 1, 2 * batch.ref_hr - 1,
                  torch.ones(2), scale=torch.full((2,), float(SCALE))).velocity
    torch.testing.assert_close(result.hr, (-v + 1) / 2, rtol=0, atol=1e-5)
    assert first.describe()["start"] == "zero" and load(tmp_path / "one", seed=1).steps == 1
    with pytest.raises(OptionError, match="one-step model .* --steps must be 1, got 4"):
        load(folder, steps=4)
    assert load(save_model(tmp_path / "noisy"), steps=1).describe()["start"] == "noise"


def test_fresh_model_returns_its_position_keyed_noise(fresh_dir):
    """v = 0 everywhere, so x0 is the initial noise: tiles that overlap agree exactly there."""
    upscaler = load(fresh_dir, steps=2, seed=5)
    origin = ((10, 20), (14, 28))
    result = upscaler.upscale(tiles(origin=origin))
    noise = position_keyed_noise(5, torch.tensor(origin), (3, 16, 16))
    torch.testing.assert_close(result.hr, (noise + 1) / 2, rtol=0, atol=1e-6)
    torch.testing.assert_close(result.hr[0, :, 4:, 8:], result.hr[1, :, :12, :8], rtol=0, atol=0)


def test_residual_models_add_their_sample_to_the_lr(tmp_path):
    upscaler = load(
        save_model(tmp_path / "r", randomize=False, prediction="residual", residual_scale=2.0), steps=1
    )
    batch = tiles(b=1)
    noise = position_keyed_noise(0, batch.origin_px, (3, 16, 16))
    torch.testing.assert_close(upscaler.upscale(batch).hr, batch.lr_hr + noise / 4, rtol=0, atol=1e-6)


def test_fewer_bands_are_repeated_over_the_channels_and_averaged_back(fresh_dir, random_dir):
    pan = tiles(c=1)
    fresh = load(fresh_dir, steps=1).upscale(pan)
    noise = position_keyed_noise(0, pan.origin_px, (3, 16, 16))
    assert fresh.hr.shape == (2, 1, 16, 16)
    torch.testing.assert_close(fresh.hr, ((noise + 1) / 2).mean(1, keepdim=True), rtol=0, atol=1e-6)
    upscaler = load(random_dir, steps=2)
    rgb = TileBatch(
        pan.lr_hr.repeat(1, 3, 1, 1),
        pan.ref_hr.repeat(1, 3, 1, 1),
        pan.lr_valid,
        pan.ref_valid,
        pan.origin_px,
        SCALE,
    )
    torch.testing.assert_close(
        upscaler.upscale(pan).hr, upscaler.upscale(rgb).hr.mean(1, keepdim=True), rtol=0, atol=1e-6
    )
    two = upscaler.upscale(tiles(c=2))
    assert two.hr.shape == (2, 2, 16, 16) and torch.isfinite(two.hr).all()


def test_band_index_and_merge():
    assert band_index(2, 3).tolist() == [0, 1, 0] and band_index(3, 3).tolist() == [0, 1, 2]
    channels = torch.arange(3.0).view(1, 3, 1, 1)
    assert merge_bands(channels, 2).flatten().tolist() == [1.0, 1.0]
    assert merge_bands(channels, 1).flatten().tolist() == [1.0]
    assert merge_bands(channels, 3) is channels


def test_trust_is_alpha_ref_on_pixels(fresh_dir, random_dir):
    """A fresh PLW gate outputs zeros, so alpha_ref = 0.5 exactly; none where the Ref is invalid."""
    ref_valid = torch.ones(2, 1, 16, 16, dtype=torch.bool)
    ref_valid[1, :, :, :5] = False
    fresh = load(fresh_dir, steps=2).upscale(tiles(ref_valid=ref_valid)).trust
    assert fresh.shape == (2, 1, 16, 16) and fresh.dtype == torch.float32
    assert (fresh[ref_valid] == 0.5).all() and (fresh[~ref_valid] == 0).all()
    trust = load(random_dir, steps=2).upscale(tiles()).trust
    assert 0 <= trust.min() and trust.max() <= 1 and trust.std() > 0


def test_rejects_tiles_it_cannot_take(random_dir):
    upscaler = load(random_dir, steps=1)
    with pytest.raises(ValueError, match="at most 3 bands"):
        upscaler.upscale(tiles(c=4))
    with pytest.raises(ValueError, match="multiple of the patch size 4"):
        upscaler.upscale(tiles(size=18))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_with_bf16_autocast_matches_cpu(random_dir):
    batch = tiles()
    cpu = load(random_dir, steps=4, guidance=1.3).upscale(batch)
    gpu_upscaler = make_upscaler(
        UpscaleOptions(method="dsdit", weights=random_dir, device="cuda", steps=4, guidance=1.3)
    )
    assert gpu_upscaler.describe()["precision"] == "bf16-autocast"
    gpu = gpu_upscaler.upscale(batch)
    assert gpu.hr.device.type == "cpu" and gpu.hr.dtype == torch.float32 and gpu.trust.device.type == "cpu"
    assert (gpu.hr - cpu.hr).abs().mean() < 0.05 * cpu.hr.abs().mean()


# -- autoguidance with a guide model ------------------------------------------------------------


@pytest.fixture(scope="module")
def guide_dir(tmp_path_factory):
    """A smaller tiny-family model (hidden 16, one block) as the weak guide."""
    return save_model(tmp_path_factory.mktemp("guide"), seed=5, hidden_dim=16, depth=1)


def test_a_guide_model_makes_the_weak_pass(random_dir, guide_dir):
    """Each step: one model forward of B at lambda 1 and one guide forward of B at lambda_weak;
    the result is v_guide + w (v_model - v_guide) integrated."""
    upscaler = load(random_dir, steps=3, guidance=1.5, guide=guide_dir, ref_scale_weak=0.25)
    assert upscaler.guide is not None and upscaler.ref_scale_weak == 0.25
    model_calls, guide_calls = CountingForward(upscaler.model), CountingForward(upscaler.guide)
    upscaler.model.forward, upscaler.guide.forward = model_calls, guide_calls
    batch = tiles(b=2)
    hr = upscaler.upscale(batch).hr
    assert len(model_calls.calls) == 3 and len(guide_calls.calls) == 3
    assert all(n == 2 and torch.equal(lam, torch.ones(2)) for n, lam, _ in model_calls.calls)
    assert all(n == 2 and torch.equal(torch.as_tensor(lam), torch.full((2,), 0.25)) for n, lam, _ in guide_calls.calls)

    model, guide = load(random_dir).model, load(guide_dir).model
    lr, ref = to_network(batch.lr_hr), to_network(batch.ref_hr)
    x = position_keyed_noise(0, batch.origin_px, (3, 16, 16))
    sig = flow_sigmas(3, 3.0)
    scale = torch.full((2,), SCALE)
    with torch.no_grad():
        for i in range(3):
            s = torch.full((2,), float(sig[i]))
            v = model(x, lr, ref, s, scale=scale).velocity
            v_weak = guide(x, lr, ref, s, scale=scale, ref_scale=0.25).velocity
            x = x + float(sig[i + 1] - sig[i]) * (v_weak + 1.5 * (v - v_weak))
    torch.testing.assert_close(hr, Parameterization.from_config(model.config).decode(x, batch.lr_hr), atol=1e-5, rtol=1e-5)
    assert upscaler.describe()["guide"] == Path(guide_dir).name


def test_guide_self_is_the_papers_weak_pass_and_guidance_one_skips_the_guide(random_dir, guide_dir):
    batch = tiles(b=1)
    own = load(random_dir, steps=2, guidance=1.5)
    explicit_self = load(random_dir, steps=2, guidance=1.5, guide="self")
    assert explicit_self.guide is None and explicit_self.ref_scale_weak == 0.0
    assert explicit_self.describe()["guide"] == "self"
    assert torch.equal(own.upscale(batch).hr, explicit_self.upscale(batch).hr)
    guided = load(random_dir, steps=2, guidance=1.5, guide=guide_dir)
    assert not torch.allclose(guided.upscale(batch).hr, own.upscale(batch).hr)
    off = load(random_dir, steps=2, guidance=1.0, guide=guide_dir)
    assert off.guide is None and off.describe()["guide"] == "none"  # w = 1: not even loaded
    assert torch.equal(off.upscale(batch).hr, load(random_dir, steps=2).upscale(batch).hr)


def test_inference_json_names_a_guide_inside_the_model_folder(tmp_path):
    folder = tmp_path / "m"
    save_model(folder, inference={"guidance": 1.25, "guide": "guide", "steps": 2})
    save_model(folder / "guide", seed=3, hidden_dim=16, depth=1)
    upscaler = load(folder)
    assert upscaler.guide is not None and upscaler.guidance == 1.25 and upscaler.ref_scale_weak == 0.0
    assert upscaler.describe()["guide"] == "guide"
    assert load(folder, ref_scale_weak=0.5).ref_scale_weak == 0.5
    lam_default = load(folder).upscale(tiles(b=1)).hr
    assert not torch.allclose(lam_default, load(folder, ref_scale_weak=1.0).upscale(tiles(b=1)).hr)
    own = load(folder, guide="self")
    assert own.guide is None and own.ref_scale_weak == 0.0 and own.describe()["guide"] == "self"


@pytest.mark.parametrize(
    ("guide_overrides", "message"),
    [
        ({"prediction": "residual"}, r"does not fit the model \(prediction 'residual' vs 'image'\)"),
        ({"in_channels": 4}, r"does not fit the model \(in_channels 4 vs 3\)"),
        ({"scale_conditioning": False}, r"scale_conditioning False vs True"),
        ({"patch_size": 8, "hidden_dim": 16}, "has patch size 8, which does not divide the model's 4"),
    ],
)
def test_a_guide_that_does_not_fit_is_a_model_error(tmp_path, random_dir, guide_overrides, message):
    other = save_model(tmp_path / "g", **guide_overrides)
    with pytest.raises(ModelError, match=message) as info:
        load(random_dir, guidance=1.5, guide=other)
    assert "\n" not in str(info.value)


def test_a_missing_guide_is_a_one_line_model_error(tmp_path, random_dir):
    with pytest.raises(ModelError, match=r"^--guide: model folder not found: .*nope$"):
        load(random_dir, guidance=1.5, guide=str(tmp_path / "nope"))
    folder = tmp_path / "m"
    save_model(folder, inference={"guidance": 1.5, "guide": "guide"})
    with pytest.raises(ModelError, match=r"inference.json: guide: model folder not found: .*m/guide$"):
        load(folder)
    with pytest.raises(ModelError, match=r"^--guide: must be a model folder \(config.json \+ safetensors\), got the file"):
        load(random_dir, guidance=1.5, guide=str(tmp_path / "m" / "inference.json"))
    (folder / "inference.json").write_text('{"guide": 3}')
    with pytest.raises(ModelError, match="guide must be a non-empty string, got 3"):
        load(folder)


def test_fusion_model_generates_the_residual_to_the_hpf_anchor(tmp_path):
    """prediction="fusion": a fresh model (velocity 0) returns anchor + noise / (2 rs) inside
    the tile and the anchor itself in the halo the pipeline crops; the halo is the anchor's
    context rounded up to the patch size, and the noise is keyed to the inner tile's origin."""
    from dsdit_geo.flow.anchor import anchor_context_px, fusion_anchor

    folder = save_model(tmp_path / "fusion", randomize=False, prediction="fusion", residual_scale=4.0,
                        conv_head=4)
    upscaler = make_upscaler(UpscaleOptions(method="dsdit", weights=folder, device="cpu", steps=2), scale=4.0)
    ctx = upscaler.context_px
    assert ctx >= anchor_context_px(4.0) and ctx % upscaler.patch_px == 0
    batch = tiles(size=2 * ctx + 16)
    batch.scale = 4.0
    out = upscaler.upscale(batch)
    anchor, _ = fusion_anchor(batch.lr_hr, batch.ref_hr, 4.0, batch.origin_px, batch.ref_valid)
    inner = (slice(None), slice(None), slice(ctx, ctx + 16), slice(ctx, ctx + 16))
    noise = position_keyed_noise(0, batch.origin_px + ctx, (3, 16, 16))
    torch.testing.assert_close(out.hr[inner], anchor[inner] + noise / 8.0, atol=1e-5, rtol=0)
    halo = torch.ones_like(out.hr, dtype=torch.bool)
    halo[inner] = False
    torch.testing.assert_close(out.hr[halo], anchor[halo], atol=1e-6, rtol=0)
    assert out.trust.shape == (2, 1, 2 * ctx + 16, 2 * ctx + 16)
    assert float(out.trust[:, :, :ctx].abs().max()) == 0.0  # nothing of the halo is trusted
    # residual models keep no halo
    assert load(save_model(tmp_path / "res", randomize=False, prediction="residual")).context_px == 0


@pytest.mark.parametrize("prediction", ["fusion", "residual"])
def test_detail_keeps_a_share_of_what_the_sample_adds_to_the_base(tmp_path, prediction):
    """detail d: hr = base + d (sample - base), base the hpf anchor (fusion) or LR (residual);
    d = 0 is the base itself, d = 1 the whole sample (the default); inference.json sets it."""
    from dsdit_geo.flow.anchor import fusion_anchor

    folder = save_model(tmp_path / "m", prediction=prediction, residual_scale=4.0)
    batch = tiles(size=64)
    batch.scale = 4.0
    make = lambda **o: make_upscaler(UpscaleOptions(method="dsdit", weights=folder, device="cpu", steps=2, **o),
                                     scale=4.0)
    full, half, none = (make(detail=d).upscale(batch).hr for d in (1.0, 0.5, 0.0))
    base = batch.lr_hr
    if prediction == "fusion":
        base = fusion_anchor(batch.lr_hr, batch.ref_hr, 4.0, batch.origin_px, batch.ref_valid)[0]
    assert float((full - base).abs().mean()) > 1e-3
    torch.testing.assert_close(none, base, atol=1e-6, rtol=0)
    torch.testing.assert_close(half, base + 0.5 * (full - base), atol=1e-5, rtol=0)
    torch.testing.assert_close(make().upscale(batch).hr, full)  # default 1
    (tmp_path / "m" / "inference.json").write_text('{"detail": 0.5}')
    recommended = make()
    assert recommended.detail == 0.5 and recommended.describe()["detail"] == "0.5"
    torch.testing.assert_close(recommended.upscale(batch).hr, half)


@pytest.mark.parametrize("prediction", ["fusion", "residual"])
def test_ref_detail_swaps_a_trusted_share_of_the_finest_detail_for_the_refs(tmp_path, prediction):
    """ref_detail g: hr' = hr + g * trust * (HP(ref) - HP(hr)) on the whole tile (halo
    included, where the trust is 0); off by default; inference.json gives a schedule over the
    scale factor, --ref-detail one gain for all; the halo covers the high-pass kernel."""
    from dsdit_geo.flow.ref_detail import inject_ref_detail, ref_detail_context_px

    folder = save_model(tmp_path / "m", prediction=prediction, residual_scale=4.0, conv_head=4)
    make = lambda **o: make_upscaler(UpscaleOptions(method="dsdit", weights=folder, device="cpu", steps=2, **o),
                                     scale=4.0)
    off, on = make(), make(ref_detail=0.8)
    assert on.context_px >= ref_detail_context_px(0.25, 4.0) and on.context_px % on.patch_px == 0
    batch = tiles(size=2 * on.context_px + 16)
    batch.scale = 4.0
    plain = base = make(ref_detail=0.0).upscale(batch)
    torch.testing.assert_close(off.upscale(batch).hr, plain.hr)  # default: off
    if off.context_px != on.context_px:  # residual: no halo without ref_detail; compare with one
        off.context_px = on.context_px
        plain = off.upscale(batch)
    got = on.upscale(batch)
    torch.testing.assert_close(got.trust, plain.trust)  # the trust map is not touched
    expected = inject_ref_detail(plain.hr, batch.ref_hr, plain.trust, 0.8, 0.25 * 4.0)
    torch.testing.assert_close(got.hr, expected, atol=1e-5, rtol=0)
    assert float((got.hr - plain.hr).abs().mean()) > 1e-4
    assert on.describe()["ref_detail"] == "0.8" and on.describe()["ref_detail_sigma_lr_px"] == "0.25"
    (tmp_path / "m" / "inference.json").write_text(
        '{"ref_detail": {"8": 1.6, "4": 0}, "ref_detail_sigma_lr_px": 0.5}')
    scheduled = make()
    assert scheduled.ref_detail == ((4.0, 0.0), (8.0, 1.6)) and scheduled.ref_detail_sigma_lr_px == 0.5
    assert scheduled.describe()["ref_detail"] == "x4:0,x8:1.6"
    torch.testing.assert_close(scheduled.upscale(batch).hr, base.hr)  # x4: gain 0
    assert make(ref_detail=0.8).ref_detail == ((1.0, 0.8),)  # the option wins over the schedule


def test_a_blurry_lr_gets_the_blurry_ref_detail_gain(tmp_path):
    """inference.json's ref_detail_blurry is blended in by the batch's measured LR sharpness
    over lr_sharpness_ramp; unknown sharpness or an explicit --ref-detail: the plain gain."""
    from dsdit_geo.flow.ref_detail import inject_ref_detail

    folder = save_model(tmp_path / "m", prediction="residual", residual_scale=4.0, conv_head=4,
                        inference={"ref_detail": {"4": 0, "8": 0.4}, "ref_detail_blurry": {"4": 0, "8": 0.8},
                                   "lr_sharpness_ramp": [0.7, 0.9]})
    make = lambda **o: make_upscaler(UpscaleOptions(method="dsdit", weights=folder, device="cpu", steps=2, **o),
                                     scale=8.0)
    adaptive = make()
    assert adaptive.uses_lr_sharpness and adaptive.lr_sharpness_ramp == (0.7, 0.9)
    gains = [adaptive.ref_detail_gain(8.0, m) for m in (None, 0.95, 0.9, 0.8, 0.7, 0.3)]
    assert gains == pytest.approx([0.4, 0.4, 0.4, 0.6, 0.8, 0.8])
    assert adaptive.ref_detail_gain(4.0, 0.3) == 0.0
    tags = adaptive.describe()
    assert tags["ref_detail_blurry"] == "x4:0,x8:0.8" and tags["lr_sharpness_ramp"] == "0.7,0.9"
    explicit = make(ref_detail=0.5)  # the user's gain, whatever the LR
    assert not explicit.uses_lr_sharpness and explicit.ref_detail_gain(8.0, 0.3) == 0.5
    assert "ref_detail_blurry" not in explicit.describe()

    batch = tiles(size=2 * adaptive.context_px + 16)
    batch.scale = 8.0
    none = make(ref_detail=0.0)
    none.context_px = adaptive.context_px
    plain = none.upscale(batch)
    for sharpness, gain in ((0.95, 0.4), (0.5, 0.8)):
        batch.lr_sharpness = sharpness
        got = adaptive.upscale(batch)
        expected = inject_ref_detail(plain.hr, batch.ref_hr, plain.trust, gain, 0.25 * 8.0)
        torch.testing.assert_close(got.hr, expected, atol=1e-5, rtol=0)
