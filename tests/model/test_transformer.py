"""DSDiTTransformer: shapes, determinism, persistence, zero-init and conditioning invariants."""

from __future__ import annotations

import itertools

import pytest
import torch

from dsdit_geo.model import DSDiTTransformer, build_model
from dsdit_geo.model.blocks import X

SWITCHES = list(itertools.product(["siamese", "joint"], ["plw", "separate", "sum", "none"]))


def _run(model, x, lr, ref, **kw):
    kw.setdefault("scale", 4.0)
    with torch.no_grad():
        return model(x, lr, ref, torch.tensor([0.9, 0.3])[: x.shape[0]], **kw)


@pytest.mark.parametrize("attention,injection", SWITCHES)
def test_shapes_every_switch(attention, injection, randomize, make_images):
    model = randomize(build_model("tiny", seed=0, attention=attention, injection=injection))
    x, lr, ref = make_images(2, 3, 16, 24)  # non-square, multiple of patch 4
    out = _run(model, x, lr, ref, return_trust=True)
    assert out.velocity.shape == (2, 3, 16, 24) and out.velocity.dtype == torch.float32
    assert torch.isfinite(out.velocity).all()
    if injection == "plw":
        assert out.trust.shape == (2, 1, 4, 6)
        assert bool(((out.trust >= 0) & (out.trust <= 1)).all())
    else:
        assert out.trust is None
    assert _run(model, x, lr, ref).trust is None  # only on request


@pytest.mark.parametrize("name", ["tiny", "small", "base", "large"])
def test_shapes_every_preset_on_meta(name):
    with torch.device("meta"):
        model = build_model(name)
    p = model.config.patch_size
    x = torch.empty(2, 3, 4 * p, 6 * p, device="meta")
    out = model(x, x, x, torch.empty(2, device="meta"), scale=torch.empty(2, device="meta"), return_trust=True)
    assert out.velocity.shape == (2, 3, 4 * p, 6 * p)
    assert out.trust.shape == (2, 1, 4, 6)


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_real_forward_small_presets(name, randomize, make_images):
    model = randomize(build_model(name, seed=1))
    p = model.config.patch_size
    x, lr, ref = make_images(2, 3, 2 * p, 3 * p)
    out = _run(model, x, lr, ref, return_trust=True)
    assert out.velocity.shape == x.shape and out.trust.shape == (2, 1, 2, 3)


def test_fresh_model_predicts_zero_velocity(make_images):
    model = build_model("tiny", seed=0)  # adaLN-Zero + zero final layer
    out = _run(model, *make_images(), return_trust=True)
    assert torch.equal(out.velocity, torch.zeros_like(out.velocity))
    assert torch.equal(out.trust, torch.full_like(out.trust, 0.5))  # zero gate -> softmax(0, 0)


def test_seeded_init_is_deterministic(make_images):
    a, b, c = (build_model("tiny", seed=s) for s in (3, 3, 4))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    state = torch.random.get_rng_state()
    build_model("tiny", seed=5)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched


def test_forward_is_deterministic(randomize, make_images):
    model = randomize(build_model("tiny", seed=0))
    imgs = make_images()
    assert torch.equal(_run(model, *imgs).velocity, _run(model, *imgs).velocity)


def test_save_load_round_trip(tmp_path, randomize, make_images):
    model = randomize(build_model("tiny", seed=0, injection="plw", prediction="residual", residual_scale=2.5))
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file()
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = DSDiTTransformer.from_pretrained(tmp_path)
    assert loaded.config.prediction == "residual" and loaded.config.residual_scale == 2.5
    imgs = make_images()
    a, b = _run(model, *imgs, return_trust=True), _run(loaded, *imgs, return_trust=True)
    assert torch.equal(a.velocity, b.velocity) and torch.equal(a.trust, b.trust)


def test_fresh_plw_contributes_exactly_zero(randomize, make_images):
    """A trained backbone with a fresh PLW gives the same velocity as with no injection."""
    fresh_plw = ("injector.inject", "injector.gate.4")
    model = randomize(build_model("tiny", seed=0, injection="plw"), skip=fresh_plw)
    none = build_model("tiny", seed=0, injection="none")
    result = none.load_state_dict(model.state_dict(), strict=False)
    assert not result.missing_keys  # everything but the injection modules is shared
    seen = []
    hooks = [b.injector.inject.register_forward_hook(lambda m, i, o: seen.append(o)) for b in model.blocks]
    imgs = make_images()
    v_plw, v_none = _run(model, *imgs).velocity, _run(none, *imgs).velocity
    for h in hooks:
        h.remove()
    assert len(seen) == model.config.depth and all(torch.equal(o, torch.zeros_like(o)) for o in seen)
    assert v_plw.abs().max() > 0 and torch.equal(v_plw, v_none)


@pytest.mark.parametrize("injection", ["plw", "none"])
def test_siamese_lr_stream_ignores_ref_and_vice_versa(injection, randomize, make_images):
    """Tokens leaving block 0: l does not depend on the Ref input, r not on the LR input."""
    model = randomize(build_model("tiny", seed=0, injection=injection))
    streams = []
    hook = model.blocks[0].register_forward_hook(lambda m, i, o: streams.append(o[0]))
    x, lr, ref = make_images(seed=0)
    _, lr2, ref2 = make_images(seed=1)
    _run(model, x, lr, ref)
    _run(model, x, lr, ref2)
    _run(model, x, lr2, ref)
    hook.remove()
    base, new_ref, new_lr = streams
    assert torch.equal(base[1], new_ref[1]) and not torch.equal(base[2], new_ref[2])
    assert torch.equal(base[2], new_lr[2]) and not torch.equal(base[1], new_lr[1])


def test_joint_lr_stream_sees_ref(randomize, make_images):
    """Control for the test above: in M3 (joint) mode the streams do mix."""
    model = randomize(build_model("tiny", seed=0, attention="joint"))
    streams = []
    hook = model.blocks[0].register_forward_hook(lambda m, i, o: streams.append(o[0]))
    x, lr, ref = make_images(seed=0)
    _run(model, x, lr, ref)
    _run(model, x, lr, make_images(seed=1)[2])
    hook.remove()
    assert not torch.equal(streams[0][1], streams[1][1])


def test_lambda_zero_without_injection_ignores_ref(randomize, make_images):
    model = randomize(build_model("tiny", seed=0, injection="none"))
    x, lr, ref = make_images(seed=0)
    ref2 = make_images(seed=1)[2]
    v0 = _run(model, x, lr, ref, ref_scale=0.0).velocity
    assert torch.equal(v0, _run(model, x, lr, ref2, ref_scale=0.0).velocity)
    assert torch.equal(v0, _run(model, x, lr, ref2, ref_scale=torch.zeros(2)).velocity)
    assert not torch.allclose(v0, _run(model, x, lr, ref, ref_scale=1.0).velocity)
    # with PLW the Ref still reaches x (DESIGN.md: lambda only scales the attention term)
    plw = randomize(build_model("tiny", seed=0, injection="plw"))
    assert not torch.equal(
        _run(plw, x, lr, ref, ref_scale=0.0).velocity, _run(plw, x, lr, ref2, ref_scale=0.0).velocity
    )


@pytest.mark.parametrize("attention", ["siamese", "joint"])
def test_batched_ref_scale_equals_separate_passes(attention, randomize, make_images):
    """Strong (lambda=1) and weak (lambda=0.25, 0) passes batched in one forward."""
    model = randomize(build_model("tiny", seed=0, attention=attention))
    x, lr, ref = make_images(b=1)
    sig = torch.tensor([0.6])
    with torch.no_grad():
        one = [model(x, lr, ref, sig, scale=4.0, ref_scale=lam).velocity for lam in (1.0, 0.25, 0.0)]
        both = model(
            x.repeat(3, 1, 1, 1), lr.repeat(3, 1, 1, 1), ref.repeat(3, 1, 1, 1), sig.repeat(3),
            scale=4.0, ref_scale=torch.tensor([1.0, 0.25, 0.0]),
        ).velocity
    for i in range(3):
        torch.testing.assert_close(both[i : i + 1], one[i], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(one[0], one[2])


def test_joint_lambda_zero_masks_ref_keys_for_x(randomize, make_images):
    """Block level, joint mode, no injection: with lambda = 0 x's update ignores r."""
    model = randomize(build_model("tiny", seed=0, attention="joint", injection="none"))
    blk, d = model.blocks[0], model.config.hidden_dim
    g = torch.Generator().manual_seed(0)
    s = torch.randn(3, 2, 12, d, generator=g)
    s2 = s.clone()
    s2[2] = torch.randn(2, 12, d, generator=g)
    c = torch.randn(2, d, generator=g)
    with torch.no_grad():
        a, _ = blk(s, c, torch.zeros(2))
        b, _ = blk(s2, c, torch.zeros(2))
        a1, _ = blk(s, c, torch.ones(2))
        b1, _ = blk(s2, c, torch.ones(2))
    torch.testing.assert_close(a[X], b[X], atol=1e-6, rtol=0)
    assert not torch.allclose(a1[X], b1[X])


def test_scale_conditioning(randomize, make_images):
    model = randomize(build_model("tiny", seed=0, scale_conditioning=True))
    imgs = make_images()
    assert not torch.allclose(_run(model, *imgs, scale=4.0).velocity, _run(model, *imgs, scale=10.0).velocity)
    with pytest.raises(ValueError, match="scale"):
        _run(model, *imgs, scale=None)
    plain = randomize(build_model("tiny", seed=0, scale_conditioning=False))
    assert torch.equal(_run(plain, *imgs, scale=None).velocity, _run(plain, *imgs, scale=7.0).velocity)


def test_bad_inputs_and_config(make_images):
    model = build_model("tiny", seed=0)
    x, lr, ref = make_images(2, 3, 16, 18)  # 18 not a multiple of 4
    with pytest.raises(ValueError, match="multiple"):
        _run(model, x, lr, ref)
    with pytest.raises(ValueError, match="channels"):
        _run(model, *make_images(2, 4, 16, 16))
    with pytest.raises(ValueError, match="attention"):
        build_model("tiny", attention="cross")
    with pytest.raises(ValueError, match="injection"):
        build_model("tiny", injection="concat")
    with pytest.raises(ValueError, match="preset"):
        build_model("huge")


def test_gradients_reach_every_parameter_and_checkpointing_matches(randomize, make_images):
    model = randomize(build_model("tiny", seed=0))
    x, lr, ref = make_images()

    def grads():
        model.zero_grad(set_to_none=True)
        v = model(x, lr, ref, torch.tensor([0.9, 0.3]), scale=4.0).velocity
        v.square().mean().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    assert set(plain) == {n for n, _ in model.named_parameters()}
    model.enable_gradient_checkpointing()
    ckpt = grads()
    model.disable_gradient_checkpointing()
    for n in plain:
        torch.testing.assert_close(ckpt[n], plain[n], atol=1e-5, rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_autocast(randomize, make_images):
    model = randomize(build_model("tiny", seed=0)).cuda()
    x, lr, ref = (t.cuda() for t in make_images())
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x, lr, ref, torch.tensor([0.9, 0.3], device="cuda"), scale=4.0, return_trust=True,
                    ref_scale=torch.tensor([1.0, 0.0], device="cuda"))
    ref32 = _run(model.cpu(), *make_images(), ref_scale=torch.tensor([1.0, 0.0])).velocity
    assert out.velocity.dtype == torch.float32
    torch.testing.assert_close(out.velocity.cpu(), ref32, atol=0.1, rtol=0.1)


@pytest.mark.parametrize("attention", ["siamese", "joint"])
def test_bf16_autocast_code_path(attention, randomize, make_images):
    """The CUDA bf16 path, simulated with CPU autocast on the tiny model (bf16 is slow on CPU)."""
    model = randomize(build_model("tiny", seed=0, attention=attention))
    imgs = make_images()
    lam = torch.tensor([1.0, 0.0])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*imgs, torch.tensor([0.9, 0.3]), scale=4.0, ref_scale=lam, return_trust=True)
    ref32 = _run(model, *imgs, ref_scale=lam).velocity
    assert out.velocity.dtype == torch.float32 and out.trust.dtype == torch.float32
    assert (out.velocity - ref32).abs().max() < 0.05 * ref32.abs().max()


def test_inference_mode_caches_do_not_leak(randomize, make_images):
    """Caches built under inference_mode (positions, split weights) still work with autograd."""
    torch.set_num_threads(2)  # exercise the split-weight cache too (fixture restores)
    model = randomize(build_model("tiny", seed=0))
    x, lr, ref = make_images(2, 3, 32, 32)
    with torch.inference_mode():
        a = model(x, lr, ref, torch.tensor([0.9, 0.3]), scale=4.0).velocity
    for p in model.parameters():
        p.requires_grad_(False)
    x.requires_grad_(True)
    b = model(x, lr, ref, torch.tensor([0.9, 0.3]), scale=4.0).velocity
    b.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(a, b.detach(), atol=1e-5, rtol=1e-5)
