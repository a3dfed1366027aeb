"""The DS-DiT training loop: rectified flow on (LR, Ref) -> HR samples, AdamW, EMA, exact resume.

One optimisation step s on rank r:
    batch   = samples batch_indices(s, B, r, world)          (pure functions of (seed, index))
    x0      = encode_target(hr, lr_hr)                        (B, 3, H, W) network space
    sigma, eps drawn from torch generators seeded by (seed, s, r)
    lambda  = 0 with probability weak_ref_prob, else 1        (per sample, seeded by (seed, s, r))
    v       = model(x_t = (1 - sigma) x0 + sigma eps, 2 lr_hr - 1, 2 ref - 1, sigma, scale, lambda)
    loss    = mean over valid pixels of (v - (eps - x0))^2
              + trust_loss_weight * mean over patches of (alpha_ref - trust_target(hr, ref))^2
                (the target raised to trust_target_power; trust_change_weight > 0: target 0
                 where the sample's change mask is set, and patches weighted by
                 1 + trust_change_weight x their changed fraction)
              + trust_rank_weight * relu(margin - (mean alpha_ref unchanged - changed patches))
                (per sample with both, with the trust loss; `train.trust.change_ranking_loss`)
              + trust_distill_weight * mean over patches of (alpha_ref - teacher's alpha_ref)^2
                (the frozen model trust_distill_from on the same inputs)
              + x0_gradient_loss_weight * L1 of image gradients of x0_hat = x_t - sigma v vs x0
              + x0_perceptual_loss_weight * LPIPS-VGG(decode(x0_hat), hr)
                (`train.perceptual.masked_perceptual_loss`)
              + x0_dists_loss_weight * DISTS(decode(x0_hat), hr)
                (`train.perceptual.masked_dists_loss`; x0_dists_scale_weight: each sample's
                 DISTS times a factor that depends on its scale factor; x0_dists_kernel_weight:
                 times a factor of its LR kernel, x0_dists_kernel_scale: that factor's share
                 by scale factor)
              (x0_ref_detail: x0_hat, and with it the flow loss's v, is first passed through the
               trust-gated Ref detail step of inference, `flow.ref_detail`)
one_step: sigma = 1 and eps = 0 for every sample (x_t = 0, v = -x0): a deterministic one-step
model whose flow loss is the MSE of its x0 estimate (the dev loss is measured the same way).
For prediction "fusion" x0 is taken relative to the anchor (`flow.anchor.fusion_anchor`, the
hpf fusion of LR and Ref) instead of lr_hr; the network's conditions stay lr_hr and ref.
then gradient clipping, AdamW, the LR schedule and the EMA update. Every random draw of a step
is a function of its step number, so a checkpoint (weights, EMA, optimizer, scheduler, step)
restores the run exactly. SIGINT / SIGTERM: the current step finishes, a checkpoint is saved
and `run` returns with `interrupted` set (a second signal aborts at once).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR

from dsdit_geo.device import resolve_device
from dsdit_geo.errors import ModelError, OptionError
from dsdit_geo.flow.anchor import fusion_anchor
from dsdit_geo.flow.parameterization import Parameterization, to_network
from dsdit_geo.flow.path import add_noise, flow_matching_loss, sample_sigma
from dsdit_geo.flow.ref_detail import gain_at_scale, inject_ref_detail_per_sample
from dsdit_geo.model.presets import build_model
from dsdit_geo.model.transformer import count_parameters
from dsdit_geo.train import checkpoint as ckpt
from dsdit_geo.train.config import CONFIG_NAME, TrainConfig, TrainingError
from dsdit_geo.train.dataset import SampleGenerator
from dsdit_geo.train.degrade import KERNELS
from dsdit_geo.train.distributed import (
    DistContext,
    any_across,
    barrier,
    broadcast_object,
    init_distributed,
    mean_across,
    shutdown,
)
from dsdit_geo.train.ema import EMA
from dsdit_geo.train.feed import DevBatch, load_records, make_dev_batch, make_loader, sample_config, step_seed
from dsdit_geo.train.perceptual import masked_dists_loss, masked_perceptual_loss
from dsdit_geo.train.trust import change_ranking_loss, trust_loss
from dsdit_geo.train.monitor import LOG_NAME, RunLog, format_postfix, hardware_string, progress_bar
from dsdit_geo.weights import load_model, resolve_weights_dir

StepCallback = Callable[["Trainer", int], None]


@dataclass
class TrainResult:
    """run_dir; step reached; interrupted (stopped by a signal / request_stop); checkpoint: the
    last one saved; final_dir: the export (None when interrupted); stats (train_stats.json)."""

    run_dir: Path
    step: int
    interrupted: bool
    checkpoint: Path | None
    final_dir: Path | None
    stats: dict[str, Any] = field(default_factory=dict)


def resolve_config(base: TrainConfig | None, overrides: dict[str, Any], resume: bool = True) -> TrainConfig:
    """The run's config: `base` (a config file; default TrainConfig()) with `overrides` (None
    values = not given). When resuming without a config file, the latest checkpoint's recorded
    config is the base instead, so `--name X --resume` continues run X as it was configured."""
    config = (base or TrainConfig()).replace(**overrides)
    if resume and base is None:
        latest = ckpt.latest_checkpoint(config.run_dir)
        if latest is not None:
            recorded = ckpt.load_checkpoint_config(latest)
            config = recorded.replace(**{**overrides, "name": config.name, "out_dir": config.out_dir})
    return config


def lr_factor(config: TrainConfig) -> Callable[[int], float]:
    """Multiplier of config.lr at step s: linear warm-up, then cosine to min_lr_ratio or constant."""
    warm, total, floor = config.warmup_steps, config.steps, config.min_lr_ratio

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if config.lr_schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def load_trust_teacher(folder: Path, device: torch.device) -> torch.nn.Module:
    """The frozen fp32 teacher of trust_distill_from (eval mode, no gradients) on `device`;
    OptionError when `folder` is not a DS-DiT model folder with a trust map (injection plw)."""
    try:
        teacher = load_model(resolve_weights_dir(folder))
    except ModelError as exc:
        raise OptionError(f"trust_distill_from: {folder} is not a model folder ({exc})") from None
    if teacher.config.injection != "plw":
        raise OptionError(f"trust_distill_from: {folder} has no trust map (injection {teacher.config.injection!r})")
    return teacher.to(device).eval().requires_grad_(False)


def freeze_except(model: torch.nn.Module, prefixes: list[str]) -> None:
    """Train only the parameters whose names start with one of `prefixes`; TrainingError when
    that leaves nothing to train."""
    n_trained = 0
    for name, p in model.named_parameters():
        p.requires_grad_(any(name.startswith(prefix) for prefix in prefixes))
        n_trained += p.numel() if p.requires_grad else 0
    if n_trained == 0:
        raise TrainingError(f"trainable {prefixes} matches no parameter of the model")


def gradient_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |d pred - d target| of horizontal and vertical finite differences of (B, C, H, W)
    images, over differences whose two pixels are both in `mask` (B, 1, H, W) bool."""
    total, count = pred.new_zeros(()), pred.new_zeros(())
    for dim in (2, 3):
        diff = (pred.diff(dim=dim) - target.diff(dim=dim)).abs()
        both = (mask.narrow(dim, 1, mask.shape[dim] - 1) & mask.narrow(dim, 0, mask.shape[dim] - 1)).to(diff.dtype)
        total = total + (diff * both).sum()
        count = count + both.sum() * diff.shape[1]
    return total / count.clamp_min(1.0)


def make_optimizer(model: torch.nn.Module, config: TrainConfig, fused: bool) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms and 1-D parameters. Parameters named in
    `config.lr_multipliers` go to extra groups at lr x factor, after the two plain groups (so
    the groups of a run without multipliers, and its checkpoints, are as before); the schedule
    scales every group."""
    multipliers = config.lr_multipliers or {}
    groups: dict[tuple[bool, float], list[torch.nn.Parameter]] = {(True, 1.0): [], (False, 1.0): []}
    for name, p in model.named_parameters():
        if p.requires_grad:
            decays = not (p.ndim < 2 or name.endswith("bias") or "norm" in name)
            factor = next((float(f) for part, f in multipliers.items() if part in name), 1.0)
            groups.setdefault((decays, factor), []).append(p)
    return torch.optim.AdamW(
        [{"params": params, "weight_decay": config.weight_decay if decays else 0.0, "lr": config.lr * factor}
         for (decays, factor), params in groups.items()],
        lr=config.lr, betas=tuple(config.betas), fused=fused)


def draw_noise(seed: int, step: int, rank: int, shape: torch.Size, shift: float,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """sigma (B,) and eps (shape) of step `step` on rank `rank`: pure functions of the three."""
    gen = torch.Generator().manual_seed(step_seed(seed, step, rank))
    sigma = sample_sigma(shape[0], gen, shift, device=device)
    if device.type == "cpu":
        return sigma, torch.randn(shape, generator=gen, dtype=torch.float32)
    dev_gen = torch.Generator(device).manual_seed(step_seed(seed, step, rank, stream=1))
    return sigma, torch.randn(shape, generator=dev_gen, dtype=torch.float32, device=device)


def one_step_start(sigma: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The one-step model's start, shaped like the drawn (sigma, noise): sigma 1, noise 0."""
    return torch.ones_like(sigma), torch.zeros_like(noise)


def draw_ref_scale(seed: int, step: int, rank: int, batch: int, weak_prob: float,
                   device: torch.device) -> torch.Tensor | None:
    """lambda (B,) of step `step` on rank `rank`: 0 (weak pass) with probability `weak_prob`,
    else 1; None when weak_prob is 0 (every sample strong, no draw)."""
    if weak_prob <= 0:
        return None
    gen = torch.Generator().manual_seed(step_seed(seed, step, rank, stream=2))
    weak = torch.rand(batch, generator=gen) < weak_prob
    return (~weak).float().to(device)


def _ignore_sigint(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process (which saves a checkpoint first)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Trainer:
    """Builds the data, model, EMA and optimiser of `config`, restores the latest checkpoint
    when `resume`, and trains with `run()`. `records`: (train, dev, description) to use instead
    of `config.data` (tests)."""

    def __init__(self, config: TrainConfig, *, resume: bool = True,
                 records: tuple[list, list, str] | None = None) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.dist: DistContext = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.dist.world_size > 1:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.is_main = self.dist.is_main
        self._threads_before = torch.get_num_threads()
        torch.set_num_threads(self._threads(config.num_threads))
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.use_bf16 = self.device.type == "cuda" and config.autocast
        self.run_dir = config.run_dir

        train, dev, self.split_description = records if records is not None else load_records(config)
        self.generator = SampleGenerator(train, sample_config(config), seed=config.seed)
        self.dev_batch: DevBatch | None = None
        if self.is_main and config.dev_every > 0:
            self.dev_batch = make_dev_batch(config, dev, train)

        self.model = build_model(config.preset, seed=config.seed, **config.model).to(self.device)
        if config.init_weights is not None:
            ckpt.load_init_weights(self.model, config.init_weights)  # a resume overwrites them
        if config.trainable is not None:
            freeze_except(self.model, config.trainable)
        self.param = Parameterization.from_config(self.model.config)
        self.ref_detail = config.ref_detail_schedule()
        if any(gain > 0 for _, gain in self.ref_detail) and self.model.config.injection != "plw":
            raise TrainingError("x0_ref_detail needs a model with a trust map (injection plw)")
        self.perceptual: torch.nn.Module | None = None
        if config.x0_perceptual_loss_weight > 0:
            from dsdit_geo.metrics.lpips import get_lpips  # needs the optional weight packages

            self.perceptual = get_lpips("vgg", self.device)
        self.dists: torch.nn.Module | None = None
        if config.x0_dists_loss_weight > 0:
            from dsdit_geo.metrics.dists import get_dists  # needs the optional weight packages

            self.dists = get_dists(self.device)
        self.trust_teacher: torch.nn.Module | None = None
        if config.trust_distill_from is not None:
            if self.model.config.injection != "plw":
                raise TrainingError("trust_distill_from needs a model with a trust map (injection plw)")
            self.trust_teacher = load_trust_teacher(Path(config.trust_distill_from), self.device)
        self.dists_scale = config.dists_scale_schedule()
        self.dists_kernel = config.dists_kernel_factors()
        self.dists_kernel_scale = config.dists_kernel_scale_schedule()
        self.ema = EMA(self.model, config.ema_decay, config.ema_warmup)
        self.optimizer = make_optimizer(self.model, config, fused=self.device.type in ("cuda", "cpu"))
        self.scheduler = LambdaLR(self.optimizer, lr_factor(config))
        self.net: torch.nn.Module = self.model
        if self.dist.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.step = 0
        self.stats: dict[str, Any] = {"wall_time_s": 0.0, "samples": 0, "last_loss": None,
                                      "last_dev_loss": None}
        self.resumed_from: Path | None = None
        self._stop_signal: int | None = None
        self._restore_or_start(resume)

    # -- setup ----------------------------------------------------------------------------------
    def _threads(self, requested: int) -> int:
        if requested > 0:
            return requested
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", self.dist.world_size))
        return max(1, cores // max(1, local_world))

    def _restore_or_start(self, resume: bool) -> None:
        latest = ckpt.latest_checkpoint(self.run_dir) if self.is_main else None
        latest = broadcast_object(self.dist, latest)
        if latest is None:
            return
        if not resume:
            raise TrainingError(f"{self.run_dir} already holds checkpoints: resume it, or choose "
                                "another run name / output folder")
        conflicts = self.config.resume_conflicts(ckpt.load_checkpoint_config(latest))
        if conflicts:
            raise TrainingError(f"cannot resume {self.run_dir}: the config differs from the checkpoint's "
                                f"in {', '.join(conflicts)} (start a new run to change them)")
        state = ckpt.load_trainer_state(latest)
        ckpt.load_weights(self.model, latest / ckpt.MODEL_DIR)
        ckpt.load_weights(self.ema.model, latest / ckpt.EMA_DIR)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.ema.load_state_dict(state["ema"])
        ckpt.set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.stats.update(state["stats"])
        self.resumed_from = latest
        if state.get("world_size") != self.dist.world_size and self.is_main:
            print(f"warning: checkpoint made with {state.get('world_size')} processes, resuming with "
                  f"{self.dist.world_size}: the data order differs from an uninterrupted run", file=sys.stderr)

    # -- one step ---------------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.use_bf16 else nullcontext()

    def _loss(self, net: torch.nn.Module, hr: torch.Tensor, lr_hr: torch.Tensor, ref: torch.Tensor,
              scale: torch.Tensor, valid: torch.Tensor, sigma: torch.Tensor,
              noise: torch.Tensor, ref_scale: torch.Tensor | None = None,
              change: torch.Tensor | None = None, kernel_id: torch.Tensor | None = None) -> torch.Tensor:
        """Flow-matching loss of `net` on one batch (all (B, ...) tensors on the device);
        ref_scale (B,) lambda per sample (None: 1); change (B, 1, H, W) the samples' change
        masks (None: unknown, the trust target is then the agreement alone); kernel_id (B,) the
        samples' LR kernels (positions in degrade.KERNELS; None: unknown, kernel factor 1)."""
        anchor = lr_hr
        if self.param.prediction == "fusion":
            anchor, _ = fusion_anchor(lr_hr, ref, scale)
        x0 = self.param.encode(hr, anchor)
        x_t = add_noise(x0, noise, sigma)
        cond = scale if self.model.config.scale_conditioning else None
        lam = 1.0 if ref_scale is None else ref_scale
        weight = self.config.trust_loss_weight
        net_lr, net_ref = to_network(lr_hr), to_network(ref)
        with self._autocast():
            out = net(x_t, net_lr, net_ref, sigma, scale=cond, ref_scale=lam,
                      return_trust=weight > 0 or bool(self.ref_detail) or self.trust_teacher is not None)
        teacher_trust = None
        if self.trust_teacher is not None:
            with torch.no_grad(), self._autocast():
                teacher_cond = scale if self.trust_teacher.config.scale_conditioning else None
                teacher_trust = self.trust_teacher(x_t, net_lr, net_ref, sigma, scale=teacher_cond,
                                                   ref_scale=lam, return_trust=True).trust
        velocity = out.velocity
        perceptual = self.perceptual is not None or self.dists is not None
        if self.config.x0_gradient_loss_weight > 0 or perceptual or self.ref_detail:
            x0_hat = x_t - sigma.view(-1, 1, 1, 1) * out.velocity.float()
        x0_hat_perceptual = None  # the x0 the perceptual terms see, when not x0_hat
        if self.ref_detail:
            if perceptual and self.config.x0_ref_detail_detach_perceptual:
                x0_hat_perceptual = self._with_ref_detail(x0_hat, anchor, ref, out.trust.detach(), scale, valid)
            x0_hat = self._with_ref_detail(x0_hat, anchor, ref, out.trust, scale, valid)
            velocity = (x_t - x0_hat) / sigma.view(-1, 1, 1, 1)  # one_step: sigma = 1
        loss = flow_matching_loss(velocity, x0, noise, mask=valid > 0.5)
        if self.config.x0_gradient_loss_weight > 0:
            loss = loss + self.config.x0_gradient_loss_weight * gradient_l1(x0_hat, x0, valid > 0.5)
        if perceptual:
            hr_hat = self.param.decode(x0_hat if x0_hat_perceptual is None else x0_hat_perceptual, anchor)
        if self.perceptual is not None:
            loss = loss + self.config.x0_perceptual_loss_weight * masked_perceptual_loss(
                self.perceptual, hr_hat, hr, valid)
        if self.dists is not None:
            sample_weight = self._dists_sample_weight(scale, kernel_id)
            loss = loss + self.config.x0_dists_loss_weight * masked_dists_loss(
                self.dists, hr_hat, hr, valid, sample_weight)
        if weight > 0 and out.trust is not None:
            cfg, patch_px = self.config, int(self.model.config.patch_size)
            loss = loss + weight * trust_loss(out.trust.float(), hr, ref, scale, patch_px,
                                              power=cfg.trust_target_power, change=change,
                                              change_weight=cfg.trust_change_weight)
            if change is not None and cfg.trust_rank_weight > 0:
                loss = loss + cfg.trust_rank_weight * change_ranking_loss(
                    out.trust.float(), change, patch_px, cfg.trust_rank_margin)
        if teacher_trust is not None:
            loss = loss + self.config.trust_distill_weight * F.mse_loss(out.trust.float(), teacher_trust.float())
        return loss

    def _dists_sample_weight(self, scale: torch.Tensor, kernel_id: torch.Tensor | None) -> torch.Tensor | None:
        """(B,) factor of each sample's DISTS term: x0_dists_scale_weight at its scale factor times
        x0_dists_kernel_weight of its LR kernel (1 without a kernel_id), that kernel factor
        scaled by x0_dists_kernel_scale (1 + (factor - 1) x share at the scale factor); None
        when all are off."""
        if not self.dists_scale and not self.dists_kernel:
            return None
        scales = scale.tolist()
        weight = [gain_at_scale(self.dists_scale, s) if self.dists_scale else 1.0 for s in scales]
        if self.dists_kernel and kernel_id is not None:
            share = [gain_at_scale(self.dists_kernel_scale, s) if self.dists_kernel_scale else 1.0 for s in scales]
            weight = [w * (1.0 + (self.dists_kernel[KERNELS[k]] - 1.0) * r)
                      for w, k, r in zip(weight, kernel_id.tolist(), share)]
        return torch.tensor(weight)

    def _with_ref_detail(self, x0_hat: torch.Tensor, anchor: torch.Tensor, ref: torch.Tensor,
                         trust: torch.Tensor, scale: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x0_hat after inference's trust-gated Ref detail step: decoded to the HR (model
        range), the step at each sample's scale factor with the trust map (B, 1, H/p, W/p)
        upsampled as the upscaler does and zero outside the valid pixels, encoded back."""
        hr_hat = self.param.decode(x0_hat, anchor)
        trust_px = F.interpolate(trust.float(), size=hr_hat.shape[-2:], mode="bilinear", align_corners=False)
        hr_hat = inject_ref_detail_per_sample(hr_hat, ref, trust_px * valid, scale.tolist(), self.ref_detail,
                                              self.config.x0_ref_detail_sigma_lr_px)
        return self.param.encode(hr_hat, anchor)

    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step (step number `self.step`, not incremented here); returns the
        detached loss and the gradient norm before clipping."""
        dev = self.device
        keys = ("hr", "lr_hr", "ref", "scale", "valid", "change", "kernel_id")
        t = {k: batch[k].to(dev, non_blocking=True) for k in keys if k in batch}
        sigma, noise = draw_noise(self.config.seed, self.step, self.dist.rank, t["hr"].shape,
                                  self.config.sigma_shift, dev)
        if self.config.one_step:
            sigma, noise = one_step_start(sigma, noise)
        ref_scale = draw_ref_scale(self.config.seed, self.step, self.dist.rank, t["hr"].shape[0],
                                   self.config.weak_ref_prob, dev)
        self.net.train()
        loss = self._loss(self.net, sigma=sigma, noise=noise, ref_scale=ref_scale, **t)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update(self.model)
        return loss.detach(), grad_norm.detach()

    @torch.no_grad()
    def dev_loss(self) -> float | None:
        """Loss of the EMA weights on the fixed dev batch (fixed sigma grid and noise)."""
        if self.dev_batch is None:
            return None
        d, total, bs = self.dev_batch, 0.0, self.config.batch_size
        for i in range(0, len(d), bs):
            part = {k: getattr(d, k)[i:i + bs].to(self.device)
                    for k in ("hr", "lr_hr", "ref", "scale", "valid", "sigma", "noise")}
            if self.config.one_step:
                part["sigma"], part["noise"] = one_step_start(part["sigma"], part["noise"])
            total += float(self._loss(self.ema.model, **part)) * part["hr"].shape[0]
        return total / len(d)

    # -- checkpoints --------------------------------------------------------------------------------
    def save(self) -> Path | None:
        """Checkpoint the current step (rank 0 writes; every rank waits for it)."""
        path = None
        if self.is_main:
            state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                     "ema": self.ema.state_dict(), "rng": ckpt.rng_state(),
                     "world_size": self.dist.world_size, "stats": dict(self.stats)}
            path = ckpt.save_checkpoint(self.run_dir, self.step, self.model, self.ema.model, state, self.config)
            ckpt.prune_checkpoints(self.run_dir, self.config.keep_last)
        barrier(self.dist)
        return path

    def request_stop(self) -> None:
        """Stop after the current step, with a checkpoint (what SIGINT / SIGTERM do)."""
        self._stop_signal = self._stop_signal or signal.SIGINT

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._stop_signal is not None:
            raise KeyboardInterrupt
        self._stop_signal = signum
        if self.is_main:
            print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this step "
                  "(again to abort at once)", file=sys.stderr)

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, callback: StepCallback | None = None) -> TrainResult:
        """Train up to `config.steps`; checkpoint, log, export `final/`. `callback(trainer, step)`
        runs after each step (step = steps completed)."""
        cfg = self.config
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run(cfg, callback)
        finally:
            for sig, old in handlers.items():
                signal.signal(sig, old)

    def _run(self, cfg: TrainConfig, callback: StepCallback | None) -> TrainResult:
        log = RunLog(self.run_dir / LOG_NAME, enabled=self.is_main)
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt.clean_partial(self.run_dir)
            cfg.save(self.run_dir / CONFIG_NAME)
            log.truncate_after(self.step)
        bar = progress_bar(cfg.steps, min(self.step, cfg.steps), self.is_main and cfg.progress)
        if self.step == 0 and self.dev_batch is not None:
            self.stats["last_dev_loss"] = self.dev_loss()
            log.write({"step": 0, "loss": None, "lr": None, "grad_norm": None, "samples_per_s": None,
                       "dev_loss": self.stats["last_dev_loss"]})
        last_ckpt = self.resumed_from
        interrupted = False
        if self.step < cfg.steps:
            loader = make_loader(self.generator, cfg.batch_size, self.dist.rank, self.dist.world_size,
                                 self.step, cfg.steps - self.step, cfg.workers,
                                 pin_memory=self.device.type == "cuda", worker_init_fn=_ignore_sigint)
            clock = window_start = time.perf_counter()
            paused = 0.0  # seconds of dev loss / checkpoints inside the current log window
            window = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss sum, grad-norm sum, steps
            try:
                for batch in loader:
                    loss, grad_norm = self.train_step(batch)
                    self.step += 1
                    window += torch.stack([loss.double(), grad_norm.double(), loss.new_ones((), dtype=torch.float64)])
                    self.stats["samples"] += cfg.batch_size * self.dist.world_size
                    bar.update(1)
                    stop = any_across(self.dist, self._stop_signal is not None, self.device)
                    if callback is not None:
                        callback(self, self.step)
                        stop = stop or self._stop_signal is not None
                    last = self.step == cfg.steps
                    do_ckpt = self.step % cfg.checkpoint_every == 0 or last or stop
                    do_log = self.step % cfg.log_every == 0 or do_ckpt
                    do_dev = self.dev_batch is not None and cfg.dev_every > 0 and (self.step % cfg.dev_every == 0 or last)
                    entry: dict[str, Any] = {}
                    if do_log:
                        now = time.perf_counter()
                        entry = self._window_record(window, now - window_start - paused)
                        window.zero_()
                        window_start, paused = now, 0.0
                    pause_start = time.perf_counter()
                    if do_dev:
                        self.stats["last_dev_loss"] = self.dev_loss()
                    if (do_log or do_dev) and self.is_main:
                        entry = {"step": self.step, "loss": None, "lr": None, "grad_norm": None,
                                 "samples_per_s": None, **entry,
                                 "dev_loss": self.stats["last_dev_loss"] if do_dev else None}
                        log.write(entry)
                        bar.set_postfix(format_postfix(self.stats["last_loss"], self.stats["last_dev_loss"],
                                                       entry["samples_per_s"]), refresh=False)
                    now = time.perf_counter()
                    self.stats["wall_time_s"] += now - clock  # dev loss and checkpoints count too
                    clock = now
                    if do_ckpt:
                        last_ckpt = self.save() or last_ckpt
                    paused += time.perf_counter() - pause_start
                    if stop:
                        interrupted = True
                        break
            finally:
                bar.close()
                del loader
        else:
            bar.close()
        final_dir = None
        stats = self.final_stats()
        if not interrupted and self.is_main:
            final_dir = ckpt.export_final(self.run_dir, self.ema.model, cfg, stats)
        barrier(self.dist)
        return TrainResult(self.run_dir, self.step, interrupted, last_ckpt, final_dir, stats)

    def _window_record(self, window: torch.Tensor, seconds: float) -> dict[str, Any]:
        """Mean loss / grad norm over the steps since the last record (averaged over ranks)."""
        loss_sum, gn_sum, n = mean_across(self.dist, window).tolist()
        if n == 0:
            return {}
        loss = loss_sum / n
        if not math.isfinite(loss):
            raise TrainingError(f"the loss became {loss} by step {self.step}; resume from the last "
                                "checkpoint with a lower lr, or check the data")
        self.stats["last_loss"] = loss
        sps = n * self.config.batch_size * self.dist.world_size / max(seconds, 1e-9)
        return {"loss": loss, "lr": self.scheduler.get_last_lr()[0], "grad_norm": gn_sum / n,
                "samples_per_s": sps}

    def final_stats(self) -> dict[str, Any]:
        """train_stats.json: steps, wall time, throughput, final losses, hardware, data."""
        s = self.stats
        n_params = count_parameters(self.model)
        return {
            "steps": self.step,
            "samples": s["samples"],
            "batch_size_per_rank": self.config.batch_size,
            "world_size": self.dist.world_size,
            "wall_time_s": round(s["wall_time_s"], 1),
            "samples_per_s": round(s["samples"] / s["wall_time_s"], 3) if s["wall_time_s"] > 0 else None,
            "final_loss": s["last_loss"],
            "final_dev_loss_ema": s["last_dev_loss"],
            "dev_loss_source": self.dev_batch.source if self.dev_batch is not None else None,
            "hardware": hardware_string(self.device, self.dist.world_size),
            "bf16_autocast": self.use_bf16,
            "parameters": n_params,
            "weights_mb_fp32": round(n_params * 4 / 1e6, 1),
            "split": self.split_description,
        }

    def close(self) -> None:
        """Leave the process group and restore the torch thread count."""
        shutdown(self.dist)
        torch.set_num_threads(self._threads_before)


def train(config: TrainConfig, *, resume: bool = True, callback: StepCallback | None = None,
          records: tuple[list, list, str] | None = None) -> TrainResult:
    """Build a Trainer for `config`, run it, clean up. See `Trainer`."""
    trainer = Trainer(config, resume=resume, records=records)
    try:
        return trainer.run(callback)
    finally:
        trainer.close()


__all__ = ["TrainResult", "Trainer", "draw_noise", "lr_factor", "make_optimizer", "resolve_config",
           "resolve_device", "train"]
