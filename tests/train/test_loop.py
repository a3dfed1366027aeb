"""The training loop: it learns, resumes exactly (also after SIGINT), schedules and averages."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from safetensors.torch import load_file

from dsdit_geo.errors import OptionError
from dsdit_geo.flow.anchor import fusion_anchor
from dsdit_geo.flow.path import add_noise
from dsdit_geo.model.presets import build_model
from dsdit_geo.train import checkpoint as ckpt
from dsdit_geo.train.config import TrainConfig, TrainingError
from dsdit_geo.train.ema import EMA
from dsdit_geo.train.feed import step_seed
from dsdit_geo.train.loop import (
    Trainer,
    draw_noise,
    draw_ref_scale,
    lr_factor,
    make_optimizer,
    resolve_config,
    train,
)


def write_pairs(root: Path, n: int = 4, size: int = 80, seed: int = 0) -> Path:
    """A gt/ + ref/ folder of n smooth random 3-band pairs (Ref = GT with a colour shift)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    for sub in ("gt", "ref"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for k in range(n):
        tex = gaussian_filter(rng.random((3, size, size)), (0, 2, 2))
        gt = (20 + 215 * (tex - tex.min()) / (tex.max() - tex.min())).astype(np.uint8)
        ref = np.clip(gt.astype(int) + rng.integers(-12, 12, (3, 1, 1)), 0, 255).astype(np.uint8)
        for sub, arr in (("gt", gt), ("ref", ref)):
            with rasterio.open(root / sub / f"p{k}.tif", "w", driver="GTiff", count=3, height=size,
                               width=size, dtype="uint8") as dst:
                dst.write(arr)
    return root


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    return write_pairs(tmp_path_factory.mktemp("pairs"))


def tiny_config(pairs: Path, out: Path, **kw) -> TrainConfig:
    base = dict(name="run", out_dir=str(out), preset="tiny", data=str(pairs), crop_px=32, batch_size=4,
                steps=6, warmup_steps=2, checkpoint_every=3, log_every=2, dev_every=3, dev_batch_size=4,
                progress=False, device="cpu", num_threads=1)
    return TrainConfig(**{**base, **kw})


def test_training_overfits_a_fixed_batch(pairs: Path, tmp_path: Path) -> None:
    cfg = tiny_config(pairs, tmp_path, lr=3e-3, warmup_steps=0, lr_schedule="constant", dev_every=0,
                      ema_decay=0.0)
    trainer = Trainer(cfg)
    batch = {k: torch.stack([trainer.generator.sample(i)[k] for i in range(4)])
             for k in ("hr", "lr_hr", "ref", "scale", "valid")}
    sigma = torch.tensor([0.2, 0.4, 0.6, 0.8])
    noise = torch.randn(batch["hr"].shape, generator=torch.Generator().manual_seed(1))

    def fixed_loss() -> float:
        with torch.no_grad():
            return float(trainer._loss(trainer.model, sigma=sigma, noise=noise, **batch))

    before = fixed_loss()
    losses = []
    for _ in range(40):
        loss, grad_norm = trainer.train_step(batch)
        trainer.step += 1
        losses.append(float(loss))
        assert math.isfinite(float(grad_norm))
    after = fixed_loss()
    trainer.close()
    assert after < 0.8 * before, (before, after)
    assert np.mean(losses[-10:]) < np.mean(losses[:10])


def _tensors(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    """Every tensor of checkpoint `step`: model, EMA, optimizer state."""
    folder = run_dir / "checkpoints" / ckpt.step_name(step)
    out = {f"model.{k}": v for k, v in load_file(folder / "model" / ckpt.WEIGHTS_FILE).items()}
    out.update({f"ema.{k}": v for k, v in load_file(folder / "ema" / ckpt.WEIGHTS_FILE).items()})
    state = ckpt.load_trainer_state(folder)
    for i, per_param in state["optimizer"]["state"].items():
        out.update({f"opt.{i}.{k}": torch.as_tensor(v) for k, v in per_param.items()})
    return out


def test_resume_after_sigint_equals_an_uninterrupted_run(pairs: Path, tmp_path: Path) -> None:
    # with weak_ref_prob the per-sample lambda draws must resume exactly too
    straight = train(tiny_config(pairs, tmp_path / "a", weak_ref_prob=0.5))
    assert not straight.interrupted and straight.step == 6

    def interrupt(trainer: Trainer, step: int) -> None:
        if step == 4:
            signal.raise_signal(signal.SIGINT)  # the real handler: finish the step, checkpoint, stop

    first = train(tiny_config(pairs, tmp_path / "b", weak_ref_prob=0.5), callback=interrupt)
    assert first.interrupted and first.step == 4 and first.final_dir is None
    assert first.checkpoint.name == ckpt.step_name(4)
    assert signal.getsignal(signal.SIGINT) is not None  # handlers restored
    # resume with a DataLoader worker process: samples are pure functions of their index
    second = train(tiny_config(pairs, tmp_path / "b", workers=1, weak_ref_prob=0.5))
    assert not second.interrupted and second.step == 6 and second.final_dir is not None

    a, b = _tensors(straight.run_dir, 6), _tensors(second.run_dir, 6)
    assert a.keys() == b.keys() and len(a) > 50
    for key in a:
        assert torch.equal(a[key], b[key]), key
    sa, sb = (ckpt.load_trainer_state(r.run_dir / "checkpoints" / ckpt.step_name(6))
              for r in (straight, second))
    assert sa["scheduler"]["last_epoch"] == sb["scheduler"]["last_epoch"] == 6
    assert sa["ema"] == sb["ema"]
    # the log reads as one run: 0 (dev), 2, 3 (dev + checkpoint), 4 (stop), 6 after the resume
    steps = [json.loads(line)["step"] for line in (second.run_dir / "log.jsonl").read_text().splitlines()]
    assert steps == [0, 2, 3, 4, 6]


def test_resume_refuses_changed_settings_and_no_resume(pairs: Path, tmp_path: Path) -> None:
    train(tiny_config(pairs, tmp_path, steps=3))
    with pytest.raises(TrainingError, match="lr"):
        Trainer(tiny_config(pairs, tmp_path, steps=3, lr=1e-3))
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        Trainer(tiny_config(pairs, tmp_path, steps=3), resume=False)
    # a finished run resumes to "nothing to do" and extends when steps grow
    again = train(tiny_config(pairs, tmp_path, steps=3))
    assert again.step == 3 and again.final_dir is not None
    longer = resolve_config(None, {"name": "run", "out_dir": str(tmp_path), "steps": 4})
    assert longer.preset == "tiny" and longer.steps == 4  # the checkpoint's config is the base
    assert train(longer).step == 4


def test_step_draws_are_pure_functions_of_seed_step_rank() -> None:
    shape = torch.Size((3, 3, 8, 8))
    s1, n1 = draw_noise(0, 5, 0, shape, 3.0, torch.device("cpu"))
    s2, n2 = draw_noise(0, 5, 0, shape, 3.0, torch.device("cpu"))
    assert torch.equal(s1, s2) and torch.equal(n1, n2)
    s3, n3 = draw_noise(0, 5, 1, shape, 3.0, torch.device("cpu"))
    assert not torch.equal(n1, n3)
    assert ((s1 > 0) & (s1 < 1)).all()
    assert step_seed(0, 1, 0) != step_seed(0, 0, 1) and 0 <= step_seed(7, 7, 7) < 2**63


def test_weak_pass_draws_are_seeded_and_have_the_asked_share() -> None:
    cpu = torch.device("cpu")
    assert draw_ref_scale(0, 5, 0, 8, 0.0, cpu) is None  # no weak pass: lambda 1, nothing drawn
    a, b = draw_ref_scale(0, 5, 0, 8, 0.3, cpu), draw_ref_scale(0, 5, 0, 8, 0.3, cpu)
    assert torch.equal(a, b) and set(a.tolist()) <= {0.0, 1.0}
    lam = torch.cat([draw_ref_scale(0, s, 0, 64, 0.3, cpu) for s in range(50)])
    assert abs(float((lam == 0).float().mean()) - 0.3) < 0.03
    # its own stream: the noise of the same step does not change when the weak pass is on
    assert not torch.equal(draw_ref_scale(0, 5, 0, 64, 0.5, cpu), draw_ref_scale(0, 6, 0, 64, 0.5, cpu))


def test_init_weights_start_a_run_from_a_model_folder(pairs: Path, tmp_path: Path) -> None:
    first = train(tiny_config(pairs, tmp_path, name="first", steps=2, dev_every=0))
    weights = load_file(str(first.final_dir / ckpt.WEIGHTS_FILE))
    tuned = Trainer(tiny_config(pairs, tmp_path, name="tuned", init_weights=str(first.final_dir),
                                weak_ref_prob=0.25))
    for key, value in tuned.model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    for key, value in tuned.ema.model.state_dict().items():
        assert torch.equal(value, weights[key]), key  # the EMA starts from them too
    fresh = Trainer(tiny_config(pairs, tmp_path, name="fresh"))
    assert any(not torch.equal(v, weights[k]) for k, v in fresh.model.state_dict().items())
    with pytest.raises(OptionError, match="another model config"):
        Trainer(tiny_config(pairs, tmp_path, name="other", init_weights=str(first.final_dir),
                            model={"depth": 3}))
    # the parameterisation and a new (zero-initialised) conv head may change in a fine-tune
    headed = Trainer(tiny_config(pairs, tmp_path, name="headed", init_weights=str(first.final_dir),
                                 model={"prediction": "fusion", "conv_head": 8}))
    for key, value in weights.items():
        assert torch.equal(headed.model.state_dict()[key], value), key
    assert all(float(p.detach().abs().sum()) == 0 for p in headed.model.out_head[-1].parameters())
    # so may the PLW gates' (zero-initialised) agreement input, together with the conv head
    gated = Trainer(tiny_config(pairs, tmp_path, name="gated", init_weights=str(first.final_dir),
                                model={"conv_head": 8, "gate_agreement": True}))
    for key, value in weights.items():
        assert torch.equal(gated.model.state_dict()[key], value), key
    added = [k for k in gated.model.state_dict() if ".gate_agreement." in k]
    assert added and all(float(gated.model.state_dict()[k].abs().sum()) == 0 for k in added)
    with pytest.raises(OptionError, match="not a model folder"):
        Trainer(tiny_config(pairs, tmp_path, name="none", init_weights=str(tmp_path / "nowhere")))


def test_lr_multipliers_give_named_parameters_their_own_groups() -> None:
    from dsdit_geo.model.presets import build_model

    model = build_model("tiny", seed=0, scale_conditioning=True, gate_agreement=True)
    plain = make_optimizer(model, TrainConfig(lr=1e-4), fused=False)
    assert [g["lr"] for g in plain.param_groups] == [1e-4, 1e-4]
    fast = make_optimizer(model, TrainConfig(lr=1e-4, lr_multipliers={"gate_agreement": 100}), fused=False)
    assert [g["lr"] for g in fast.param_groups] == [1e-4, 1e-4, pytest.approx(1e-2)]
    names = {id(p): n for n, p in model.named_parameters()}
    assert all("gate_agreement" in names[id(p)] for p in fast.param_groups[2]["params"])
    assert sum(len(g["params"]) for g in fast.param_groups) == len(list(model.parameters()))
    sched = torch.optim.lr_scheduler.LambdaLR(fast, lr_factor(TrainConfig(steps=10, warmup_steps=2)))
    fast.step()  # no gradients: nothing moves, but the scheduler may step after it
    sched.step()
    assert fast.param_groups[2]["lr"] == pytest.approx(100 * fast.param_groups[0]["lr"])
    for bad in ({"gate_agreement": 0}, {"": 2.0}, {}, {"x": float("nan")}):
        with pytest.raises(OptionError, match="lr_multipliers"):
            TrainConfig(lr_multipliers=bad).validate()


def test_lr_schedule_warmup_then_cosine_or_constant() -> None:
    cfg = TrainConfig(steps=110, warmup_steps=10, lr_schedule="cosine", min_lr_ratio=0.1)
    f = lr_factor(cfg)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    g = lr_factor(TrainConfig(steps=110, warmup_steps=0, lr_schedule="constant"))
    assert g(0) == g(109) == 1.0


def test_ema_warmup_and_average() -> None:
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = EMA(model, decay=0.9, warmup=True)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema.update(model)
    assert torch.allclose(ema.model.weight, torch.full((1, 2), 1.9))  # 0.1 * 1 + 0.9 * 2
    for _ in range(100):
        ema.update(model)
    assert ema.current_decay() == 0.9 and not ema.model.weight.requires_grad
    state = ema.state_dict()
    other = EMA(model, decay=0.5, warmup=False)
    other.load_state_dict(state)
    assert other.num_updates == 101 and other.decay == 0.9 and other.warmup


def test_non_finite_loss_stops_with_a_one_line_error(pairs: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny_config(pairs, tmp_path, dev_every=0))
    window = torch.tensor([float("nan"), 1.0, 2.0], dtype=torch.float64)
    with pytest.raises(TrainingError, match="loss became nan"):
        trainer._window_record(window, 1.0)
    trainer.close()


def test_cuda_request_without_cuda_is_an_option_error(pairs: Path, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(OptionError, match="CUDA is not available"):
        Trainer(tiny_config(pairs, tmp_path, device="cuda"))


def test_fusion_run_with_trust_and_gradient_losses_and_a_frozen_body(pairs: Path, tmp_path: Path) -> None:
    """The issue-11 recipe on the tiny preset: fusion targets, every sensor model, aligned Refs,
    the trust loss, the x0 gradient loss; then a head-only fine-tune changes nothing else."""
    cfg = tiny_config(pairs, tmp_path, name="fusion", steps=2, dev_every=0, aligned_ref_prob=0.5,
                      degradations=["gauss_area", "bicubic_aa", "s2_mtf"], trust_loss_weight=1.0,
                      trust_change_weight=2.0, trust_target_power=0.5,
                      trust_rank_weight=1.0, x0_gradient_loss_weight=0.5, model={"prediction": "fusion", "residual_scale": 4.0,
                                                          "scale_conditioning": True, "conv_head": 4})
    first = train(cfg)
    assert math.isfinite(first.stats["final_loss"]) and first.final_dir is not None
    tuned = Trainer(tiny_config(pairs, tmp_path, name="head", steps=2, dev_every=0, lr=1e-2,
                                init_weights=str(first.final_dir), trainable=["out_head"],
                                model={"prediction": "fusion", "residual_scale": 4.0,
                                       "scale_conditioning": True, "conv_head": 4}))
    before = {k: v.clone() for k, v in tuned.model.state_dict().items()}
    tuned.run()
    after = tuned.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("out_head.") for k in changed)
    with pytest.raises(TrainingError, match="matches no parameter"):
        Trainer(tiny_config(pairs, tmp_path, name="none", trainable=["nothing_"]))


def test_gradient_l1_counts_only_pairs_inside_the_mask() -> None:
    from dsdit_geo.train.loop import gradient_l1

    a = torch.zeros(1, 1, 4, 4)
    b = torch.zeros(1, 1, 4, 4)
    b[..., 0, 0] = 1.0  # one pixel differs: 2 differences touch it
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    assert float(gradient_l1(a, b, mask)) == pytest.approx(2 / 24)
    mask[..., 0, 0] = False
    assert float(gradient_l1(a, b, mask)) == 0.0


def test_masked_perceptual_loss_ignores_invalid_pixels_and_reaches_the_estimate() -> None:
    """Zero for the truth, zero when the only difference lies outside the valid mask, positive
    and differentiable otherwise (a small stand-in network: the function is net-agnostic)."""
    from dsdit_geo.train.perceptual import masked_perceptual_loss

    class MeanAbs(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return (x - y).abs().mean(dim=(1, 2, 3))

    hr = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    valid = torch.ones(2, 1, 16, 16)
    assert float(masked_perceptual_loss(MeanAbs(), hr, hr, valid)) == 0.0
    hr_hat = hr.clone()
    hr_hat[..., :4, :] += 0.5
    valid[..., :4, :] = 0.0
    assert float(masked_perceptual_loss(MeanAbs(), hr_hat, hr, valid)) == 0.0
    valid[..., :4, :] = 1.0
    hr_hat.requires_grad_(True)
    loss = masked_perceptual_loss(MeanAbs(), hr_hat, hr, valid)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(0.25, rel=1e-5)  # |diff| 1 in network space on 4 of 16 rows
    assert hr_hat.grad is not None and float(hr_hat.grad.abs().sum()) > 0


def test_perceptual_loss_run_trains_and_rejects_a_negative_weight(pairs: Path, tmp_path: Path) -> None:
    """x0_perceptual_loss_weight adds LPIPS-VGG on the x0 estimate: the loss rises by it and the
    run still trains; a negative weight is a one-line config error."""
    from dsdit_geo.metrics import INSTALL_COMMAND, perceptual_weights_available

    with pytest.raises(OptionError, match="x0_perceptual_loss_weight must be >= 0"):
        tiny_config(pairs, tmp_path, x0_perceptual_loss_weight=-1.0).validate()
    if not perceptual_weights_available():
        pytest.skip(f"optional perceptual-metric weights not installed ({INSTALL_COMMAND})")
    plain = Trainer(tiny_config(pairs, tmp_path, name="plain", steps=1, dev_every=0))
    with_lpips = Trainer(tiny_config(pairs, tmp_path, name="lpips", steps=1, dev_every=0,
                                     x0_perceptual_loss_weight=1.0))
    with_lpips.model.load_state_dict(plain.model.state_dict())
    gen = torch.Generator().manual_seed(3)
    hr = torch.rand(2, 3, 32, 32, generator=gen)
    inputs = dict(hr=hr, lr_hr=hr.clamp(0.2, 0.8), ref=torch.rand(2, 3, 32, 32, generator=gen),
                  scale=torch.full((2,), 4.0), valid=torch.ones(2, 1, 32, 32),
                  sigma=torch.tensor([0.3, 0.8]), noise=torch.randn(2, 3, 32, 32, generator=gen))
    with torch.no_grad():
        assert float(with_lpips._loss(with_lpips.model, **inputs)) > float(plain._loss(plain.model, **inputs))
    result = with_lpips.run()
    assert math.isfinite(result.stats["final_loss"]) and result.final_dir is not None
    assert with_lpips.perceptual is not None and plain.perceptual is None


def test_dists_loss_prefers_shifted_texture_and_reaches_the_estimate(pairs: Path, tmp_path: Path) -> None:
    """x0_dists_loss_weight adds DISTS on the x0 estimate: zero for the truth and outside the
    valid mask; the truth's texture shifted by a few pixels costs less than the same energy of
    noise (the point of a texture-tolerant loss); the trainer's loss rises by it and its gradient
    reaches the model; a negative weight is a one-line config error."""
    from dsdit_geo.metrics import INSTALL_COMMAND, perceptual_weights_available
    from dsdit_geo.train.perceptual import masked_dists_loss

    with pytest.raises(OptionError, match="x0_dists_loss_weight must be >= 0"):
        tiny_config(pairs, tmp_path, x0_dists_loss_weight=-0.5).validate()
    if not perceptual_weights_available():
        pytest.skip(f"optional perceptual-metric weights not installed ({INSTALL_COMMAND})")
    from dsdit_geo.metrics.dists import get_dists

    dists = get_dists("cpu")
    gen = torch.Generator().manual_seed(5)
    hr = (0.5 + 0.2 * torch.randn(1, 3, 64, 64, generator=gen)).clamp(0, 1)
    valid = torch.ones(1, 1, 64, 64)
    assert float(masked_dists_loss(dists, hr, hr, valid)) == pytest.approx(0.0, abs=1e-5)
    shifted = torch.roll(hr, shifts=(3, 3), dims=(2, 3))
    noisy = (hr.mean() + (shifted - hr.mean()).std() * torch.randn(1, 3, 64, 64, generator=gen)).clamp(0, 1)
    assert float(masked_dists_loss(dists, shifted, hr, valid)) < float(masked_dists_loss(dists, noisy, hr, valid))
    outside = hr.clone()
    outside[..., :16, :] = 0.0
    valid[..., :16, :] = 0.0
    assert float(masked_dists_loss(dists, outside, hr, valid)) == pytest.approx(0.0, abs=1e-5)

    plain = Trainer(tiny_config(pairs, tmp_path, name="plain", steps=1, dev_every=0))
    with_dists = Trainer(tiny_config(pairs, tmp_path, name="dists", steps=1, dev_every=0,
                                     x0_dists_loss_weight=1.0))
    with_dists.model.load_state_dict(plain.model.state_dict())
    assert with_dists.dists is not None and plain.dists is None
    hr = torch.rand(2, 3, 32, 32, generator=gen)
    inputs = dict(hr=hr, lr_hr=hr.clamp(0.2, 0.8), ref=torch.rand(2, 3, 32, 32, generator=gen),
                  scale=torch.full((2,), 4.0), valid=torch.ones(2, 1, 32, 32),
                  sigma=torch.tensor([0.3, 0.8]), noise=torch.randn(2, 3, 32, 32, generator=gen))
    with torch.no_grad():
        base = float(plain._loss(plain.model, **inputs))
    loss = with_dists._loss(with_dists.model, **inputs)
    assert float(loss.detach()) > base
    loss.backward()
    grads = [p.grad for p in with_dists.model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def dists_inputs(seed: int, scales: list[float]) -> dict[str, torch.Tensor]:
    """A random 3-sample batch for Trainer._loss at the given scale factors."""
    gen = torch.Generator().manual_seed(seed)
    hr = torch.rand(3, 3, 32, 32, generator=gen)
    return dict(hr=hr, lr_hr=hr.clamp(0.2, 0.8), ref=torch.rand(3, 3, 32, 32, generator=gen),
                scale=torch.tensor(scales), valid=torch.ones(3, 1, 32, 32),
                sigma=torch.tensor([0.3, 0.5, 0.8]), noise=torch.randn(3, 3, 32, 32, generator=gen))


def record_dists(trainer: Trainer) -> list[torch.Tensor]:
    """Wrap trainer.dists so that every call's per-sample DISTS is appended to the returned list
    (the original is kept as trainer.dists.original)."""
    seen: list[torch.Tensor] = []
    dists = trainer.dists

    def recording_dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append(dists(x, y).detach())
        return dists(x, y)

    recording_dists.original = dists
    trainer.dists = recording_dists
    return seen


def test_dists_scale_weight_weighs_each_sample_by_its_scale_factor(pairs: Path, tmp_path: Path) -> None:
    """x0_dists_scale_weight multiplies each sample's DISTS term by the factor its scale factor
    gets (linear between the keys, ends held); bad schedules and a schedule without the DISTS
    term are one-line config errors."""
    from dsdit_geo.metrics import INSTALL_COMMAND, perceptual_weights_available

    with pytest.raises(OptionError, match="x0_dists_scale_weight needs x0_dists_loss_weight > 0"):
        tiny_config(pairs, tmp_path, x0_dists_scale_weight={"8": 2}).validate()
    with pytest.raises(OptionError, match="x0_dists_scale_weight keys must be scale factors"):
        tiny_config(pairs, tmp_path, x0_dists_loss_weight=1.0, x0_dists_scale_weight={"x8": 2}).validate()
    with pytest.raises(OptionError, match=r"x0_dists_scale_weight\['8'\] must be a finite number"):
        tiny_config(pairs, tmp_path, x0_dists_loss_weight=1.0, x0_dists_scale_weight={"8": -1}).validate()
    if not perceptual_weights_available():
        pytest.skip(f"optional perceptual-metric weights not installed ({INSTALL_COMMAND})")
    from dsdit_geo.train.perceptual import masked_dists_loss

    plain = Trainer(tiny_config(pairs, tmp_path, name="d1", steps=1, dev_every=0, x0_dists_loss_weight=1.0))
    weighted = Trainer(tiny_config(pairs, tmp_path, name="d2", steps=1, dev_every=0, x0_dists_loss_weight=1.0,
                                   x0_dists_scale_weight={"6": 1.0, "8": 3.0}))
    weighted.model.load_state_dict(plain.model.state_dict())
    inputs = dists_inputs(6, [4.0, 7.0, 10.0])
    hr = inputs["hr"]
    seen = record_dists(weighted)
    dists = weighted.dists.original
    with torch.no_grad():
        base = float(plain._loss(plain.model, **inputs))
        loss = float(weighted._loss(weighted.model, **inputs))
    weights = torch.tensor([1.0, 2.0, 3.0])  # x4: below the first key, held; x7: halfway; x10: held
    assert len(seen) == 1 and seen[0].shape == (3,)
    assert loss - base == pytest.approx(float((seen[0] * (weights - 1)).mean()), rel=1e-3, abs=1e-6)
    hr_hat = hr.flip(-1)
    assert float(masked_dists_loss(dists, hr_hat, hr, inputs["valid"], weights)) == pytest.approx(
        float((dists(hr_hat, hr) * weights).mean()), rel=1e-5)
    weighted.dists = dists
    assert weighted.run().stats["final_loss"] > 0


def test_dists_kernel_weight_weighs_each_sample_by_its_lr_kernel(pairs: Path, tmp_path: Path) -> None:
    """x0_dists_kernel_weight multiplies each sample's DISTS term by the factor of its LR kernel
    (unnamed kernels 1), on top of x0_dists_scale_weight, x0_dists_kernel_scale gives that factor
    a share by scale factor; training samples carry their kernel; bad mappings are one-line
    config errors."""
    from dsdit_geo.metrics import INSTALL_COMMAND, perceptual_weights_available
    from dsdit_geo.train.degrade import KERNELS

    with pytest.raises(OptionError, match="x0_dists_kernel_weight needs x0_dists_loss_weight > 0"):
        tiny_config(pairs, tmp_path, x0_dists_kernel_weight={"s2_mtf": 2}).validate()
    with pytest.raises(OptionError, match="x0_dists_kernel_weight keys must be LR kernels"):
        tiny_config(pairs, tmp_path, x0_dists_loss_weight=1.0, x0_dists_kernel_weight={"gauss": 2}).validate()
    with pytest.raises(OptionError, match=r"x0_dists_kernel_weight\['s2_mtf'\] must be a finite number"):
        tiny_config(pairs, tmp_path, x0_dists_loss_weight=1.0, x0_dists_kernel_weight={"s2_mtf": "2"}).validate()
    with pytest.raises(OptionError, match="x0_dists_kernel_weight must be a non-empty"):
        tiny_config(pairs, tmp_path, x0_dists_loss_weight=1.0, x0_dists_kernel_weight=[2]).validate()
    with pytest.raises(OptionError, match="x0_dists_kernel_scale needs x0_dists_kernel_weight"):
        tiny_config(pairs, tmp_path, x0_dists_loss_weight=1.0, x0_dists_kernel_scale={"8": 1}).validate()
    with pytest.raises(OptionError, match="x0_dists_kernel_scale keys must be scale factors"):
        tiny_config(pairs, tmp_path, x0_dists_loss_weight=1.0, x0_dists_kernel_weight={"s2_mtf": 2},
                    x0_dists_kernel_scale={"big": 1}).validate()
    config = tiny_config(pairs, tmp_path, x0_dists_loss_weight=1.0, x0_dists_kernel_weight={"s2_mtf": 3})
    assert config.dists_kernel_factors() == {"gauss_area": 1.0, "bicubic_aa": 1.0, "s2_mtf": 3.0}
    if not perceptual_weights_available():
        pytest.skip(f"optional perceptual-metric weights not installed ({INSTALL_COMMAND})")

    plain = Trainer(tiny_config(pairs, tmp_path, name="k1", steps=1, dev_every=0, x0_dists_loss_weight=1.0))
    weighted = Trainer(tiny_config(pairs, tmp_path, name="k2", steps=1, dev_every=0, x0_dists_loss_weight=1.0,
                                   degradations=["gauss_area", "s2_mtf"],
                                   x0_dists_scale_weight={"6": 1.0, "8": 2.0},
                                   x0_dists_kernel_weight={"s2_mtf": 3.0, "gauss_area": 0.5}))
    weighted.model.load_state_dict(plain.model.state_dict())
    kernels = {KERNELS[int(weighted.generator.sample(i)["kernel_id"])] for i in range(8)}
    assert kernels <= {"gauss_area", "s2_mtf"} and kernels
    inputs = dists_inputs(7, [4.0, 8.0, 8.0])
    kernel_id = torch.tensor([KERNELS.index("s2_mtf"), KERNELS.index("gauss_area"), KERNELS.index("bicubic_aa")])
    seen = record_dists(weighted)
    dists = weighted.dists.original
    with torch.no_grad():
        base = float(plain._loss(plain.model, **inputs))
        loss = float(weighted._loss(weighted.model, kernel_id=kernel_id, **inputs))
        no_kernel = float(weighted._loss(weighted.model, **inputs))
    weights = torch.tensor([1.0 * 3.0, 2.0 * 0.5, 2.0 * 1.0])  # scale factor x kernel factor
    assert len(seen) == 2 and seen[0].shape == (3,)
    assert loss - base == pytest.approx(float((seen[0] * (weights - 1)).mean()), rel=1e-3, abs=1e-6)
    scale_only = torch.tensor([1.0, 2.0, 2.0])  # without kernel ids (the dev batch): kernel factor 1
    assert no_kernel - base == pytest.approx(float((seen[1] * (scale_only - 1)).mean()), rel=1e-3, abs=1e-6)
    shared = Trainer(tiny_config(pairs, tmp_path, name="k3", steps=1, dev_every=0, x0_dists_loss_weight=1.0,
                                 x0_dists_kernel_weight={"s2_mtf": 3.0}, x0_dists_kernel_scale={"6": 0.0, "8": 1.0}))
    # s2_mtf factor 3 at x4 / x7 / x8: share 0 / 0.5 / 1 -> 1 / 2 / 3; bicubic_aa (factor 1) stays 1
    ids = torch.tensor([KERNELS.index("s2_mtf")] * 3 + [KERNELS.index("bicubic_aa")])
    got = shared._dists_sample_weight(torch.tensor([4.0, 7.0, 8.0, 8.0]), ids)
    assert got.tolist() == pytest.approx([1.0, 2.0, 3.0, 1.0])
    weighted.dists = dists
    assert weighted.run().stats["final_loss"] > 0


def test_one_step_training_starts_every_sample_at_sigma_one_from_zeros(pairs: Path, tmp_path: Path) -> None:
    """one_step: sigma 1 and x_1 = 0 for every sample, so the flow loss is the MSE of the x0
    estimate -v(0); a tiny one-step run trains and its loss is that MSE."""
    from dsdit_geo.train.loop import one_step_start

    sigma, noise = one_step_start(torch.rand(3), torch.randn(3, 3, 8, 8))
    assert torch.equal(sigma, torch.ones(3)) and torch.equal(noise, torch.zeros(3, 3, 8, 8))
    with pytest.raises(OptionError, match="one_step must be true or false"):
        tiny_config(pairs, tmp_path, one_step="yes").validate()
    trainer = Trainer(tiny_config(pairs, tmp_path, name="one", steps=2, dev_every=0, one_step=True))
    gen = torch.Generator().manual_seed(4)
    hr = torch.rand(2, 3, 32, 32, generator=gen)
    lr_hr = hr.clamp(0.3, 0.7)
    with torch.no_grad():
        loss = trainer._loss(trainer.model, hr=hr, lr_hr=lr_hr, ref=hr, scale=torch.full((2,), 4.0),
                             valid=torch.ones(2, 1, 32, 32), sigma=torch.ones(2), noise=torch.zeros(2, 3, 32, 32))
        v = trainer.model(torch.zeros(2, 3, 32, 32), 2 * lr_hr - 1, 2 * hr - 1, torch.ones(2),
                          scale=torch.full((2,), 4.0)).velocity
    x0 = trainer.param.encode(hr, lr_hr)
    assert float(loss) == pytest.approx(float(((-v - x0) ** 2).mean()), rel=1e-4)
    seen = []
    real_loss = trainer._loss

    def recording_loss(net, **kw):
        seen.append((kw["sigma"].clone(), kw["noise"].clone()))
        return real_loss(net, **kw)

    trainer._loss = recording_loss
    result = trainer.run()
    assert len(seen) == 2 and all(bool((s == 1).all()) and not n.any() for s, n in seen)
    assert math.isfinite(result.stats["final_loss"]) and result.final_dir is not None


def test_x0_ref_detail_trains_the_estimate_after_the_inference_step(pairs: Path, tmp_path: Path) -> None:
    """x0_ref_detail: the flow loss of a one-step model is the MSE of its x0 estimate after the
    trust-gated Ref detail step (at each sample's scale), and the trust map gets its gradient."""
    from dsdit_geo.flow.ref_detail import inject_ref_detail

    model = {"prediction": "fusion", "residual_scale": 4.0, "scale_conditioning": True}
    with pytest.raises(OptionError, match="x0_ref_detail needs one_step"):
        tiny_config(pairs, tmp_path, x0_ref_detail={"8": 0.4}, model=model).validate()
    with pytest.raises(OptionError, match=r"x0_ref_detail\['8'\] must be a gain"):
        tiny_config(pairs, tmp_path, one_step=True, x0_ref_detail={"8": 5}, model=model).validate()
    with pytest.raises(OptionError, match="keys must be scale factors"):
        tiny_config(pairs, tmp_path, one_step=True, x0_ref_detail={"x8": 0.4}, model=model).validate()
    trainer = Trainer(tiny_config(pairs, tmp_path, name="rd", steps=2, dev_every=0, one_step=True,
                                  x0_ref_detail={"4": 0, "8": 0.5}, model=model))
    gen = torch.Generator().manual_seed(5)
    hr, ref = torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 3, 32, 32, generator=gen)
    lr_hr, scale = hr.clamp(0.3, 0.7), torch.tensor([4.0, 8.0])
    kw = dict(hr=hr, lr_hr=lr_hr, ref=ref, scale=scale, valid=torch.ones(2, 1, 32, 32),
              sigma=torch.ones(2), noise=torch.zeros(2, 3, 32, 32))
    with torch.no_grad():
        loss = trainer._loss(trainer.model, **kw)
        anchor, _ = fusion_anchor(lr_hr, ref, scale)
        out = trainer.model(torch.zeros(2, 3, 32, 32), 2 * lr_hr - 1, 2 * ref - 1, torch.ones(2),
                            scale=scale, return_trust=True)
    hr_hat = trainer.param.decode(-out.velocity, anchor)
    trust = torch.nn.functional.interpolate(out.trust, size=(32, 32), mode="bilinear", align_corners=False)
    stepped = torch.cat([hr_hat[:1], inject_ref_detail(hr_hat[1:], ref[1:], trust[1:], 0.5, 2.0)])
    x0_hat = trainer.param.encode(stepped, anchor)
    assert float(loss) == pytest.approx(float(((x0_hat - trainer.param.encode(hr, anchor)) ** 2).mean()), rel=1e-4)
    assert not torch.allclose(stepped[1], hr_hat[1])  # the x8 sample was changed, the x4 one not
    patch_trust = out.trust.clone().requires_grad_()
    x0_rd = trainer._with_ref_detail(-out.velocity, anchor, ref, patch_trust, torch.tensor([8.0, 8.0]), kw["valid"])
    ((x0_rd - trainer.param.encode(hr, anchor)) ** 2).mean().backward()
    assert patch_trust.grad is not None and bool((patch_trust.grad.abs() > 0).all())
    assert math.isfinite(trainer.run().stats["final_loss"])


def test_x0_ref_detail_detach_perceptual_keeps_dists_out_of_the_trust_gate(pairs: Path, tmp_path: Path) -> None:
    """x0_ref_detail_detach_perceptual: the same loss value, but DISTS sees the Ref detail step
    through a detached trust gate (so its gradient reaches the model by the output alone) while
    the pixel losses still see the live gate."""
    model = {"prediction": "fusion", "residual_scale": 4.0, "scale_conditioning": True}
    common = dict(steps=1, dev_every=0, one_step=True, x0_ref_detail={"4": 0, "8": 0.5}, model=model,
                  x0_dists_loss_weight=1.0)
    with pytest.raises(OptionError, match="x0_ref_detail_detach_perceptual needs x0_ref_detail"):
        tiny_config(pairs, tmp_path, x0_ref_detail_detach_perceptual=True).validate()
    with pytest.raises(OptionError, match="x0_ref_detail_detach_perceptual must be true or false"):
        tiny_config(pairs, tmp_path, x0_ref_detail_detach_perceptual="yes", **common).validate()
    live = Trainer(tiny_config(pairs, tmp_path, name="live", **common))
    cut = Trainer(tiny_config(pairs, tmp_path, name="cut", x0_ref_detail_detach_perceptual=True, **common))
    cut.model.load_state_dict(live.model.state_dict())
    gates: list[bool] = []
    real_step = cut._with_ref_detail

    def recording_step(x0_hat, anchor, ref, trust, scale, valid):
        gates.append(trust.requires_grad)
        return real_step(x0_hat, anchor, ref, trust, scale, valid)

    cut._with_ref_detail = recording_step
    inputs = dists_inputs(8, [8.0, 8.0, 4.0])
    inputs.update(sigma=torch.ones(3), noise=torch.zeros(3, 3, 32, 32))
    grads = []
    for trainer in (live, cut):
        trainer.model.zero_grad()
        loss = trainer._loss(trainer.model, **inputs)
        loss.backward()
        grads.append((float(loss.detach()), torch.cat([p.grad.flatten() for p in trainer.model.parameters()
                                              if p.grad is not None])))
    assert gates == [False, True]  # the perceptual copy first (detached gate), then the live one
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)  # forward unchanged
    assert not torch.allclose(grads[0][1], grads[1][1])  # DISTS no longer moves the gate through the step
    assert math.isfinite(cut.run().stats["final_loss"])


def test_trust_distill_pulls_the_trust_map_to_a_frozen_teacher(pairs: Path, tmp_path: Path) -> None:
    """trust_distill_from / trust_distill_weight: a teacher identical to the student adds nothing;
    another teacher adds weight x the mean squared trust difference; the teacher gets no gradient."""
    model = {"scale_conditioning": True}
    with pytest.raises(OptionError, match="go together"):
        tiny_config(pairs, tmp_path, trust_distill_weight=1.0).validate()
    with pytest.raises(OptionError, match="go together"):
        tiny_config(pairs, tmp_path, trust_distill_from=str(tmp_path)).validate()
    with pytest.raises(OptionError, match="trust_distill_from: .* is not a model folder"):
        Trainer(tiny_config(pairs, tmp_path, name="bad", trust_distill_from=str(tmp_path / "none"),
                            trust_distill_weight=1.0, model=model))
    plain = Trainer(tiny_config(pairs, tmp_path, name="plain", dev_every=0, model=model))
    other = build_model("tiny", seed=99, scale_conditioning=True)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # zero-initialised gates give trust 0.5 everywhere: move them
        for net in (plain.model, other):
            for p in net.parameters():
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
    plain.model.save_pretrained(tmp_path / "same")
    other.save_pretrained(tmp_path / "other")
    inputs = dists_inputs(3, [4.0, 6.0, 8.0])
    with torch.no_grad():
        base = float(plain._loss(plain.model, **inputs))
        trust = plain.model(add_noise(plain.param.encode(inputs["hr"], inputs["lr_hr"]), inputs["noise"],
                                      inputs["sigma"]),
                            2 * inputs["lr_hr"] - 1, 2 * inputs["ref"] - 1, inputs["sigma"],
                            scale=inputs["scale"], return_trust=True).trust
    for teacher in ("same", "other"):
        cfg = tiny_config(pairs, tmp_path, name=f"d_{teacher}", dev_every=0, model=model,
                          trust_distill_from=str(tmp_path / teacher), trust_distill_weight=5.0)
        trainer = Trainer(cfg)
        trainer.model.load_state_dict(plain.model.state_dict())
        loss = trainer._loss(trainer.model, **inputs)
        if teacher == "same":
            assert float(loss.detach()) == pytest.approx(base, rel=1e-6)
        else:
            with torch.no_grad():
                x_t = add_noise(trainer.param.encode(inputs["hr"], inputs["lr_hr"]), inputs["noise"], inputs["sigma"])
                t_trust = trainer.trust_teacher(x_t, 2 * inputs["lr_hr"] - 1, 2 * inputs["ref"] - 1, inputs["sigma"],
                                                scale=inputs["scale"], return_trust=True).trust
            expected = base + 5.0 * float(((trust - t_trust) ** 2).mean())
            assert float(loss.detach()) == pytest.approx(expected, rel=1e-5) and float(loss.detach()) > base + 1e-3
            loss.backward()
            assert all(p.grad is None for p in trainer.trust_teacher.parameters())
            assert math.isfinite(trainer.run().stats["final_loss"])
