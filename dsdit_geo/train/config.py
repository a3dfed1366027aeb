"""`TrainConfig`: every setting of a training run, as one JSON-serialisable dataclass.

A copy is written beside every checkpoint (`train_config.json`) and into the final export, so
a model can always be traced to the exact run that made it. `from_dict` rejects unknown keys
and bad values with a one-line `OptionError`; `resume_conflicts` lists the settings that may not
change when a run is resumed (they would change its trajectory).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsdit_geo.errors import DsditGeoError, OptionError

CONFIG_NAME = "train_config.json"
DEFAULT_MODEL_OVERRIDES: dict[str, Any] = {
    "prediction": "residual",
    # HR - LR residual has std ~0.07 in model range: x2 (network space) x4 gives ~0.57
    "residual_scale": 4.0,
    "scale_conditioning": True,
}
LR_SCHEDULES = ("cosine", "constant")
# Settings that may differ from the checkpoint's when resuming (they do not change the
# trajectory, or changing them is the point: `steps` extends / shortens a run).
RESUMABLE_CHANGES = frozenset({
    "name", "out_dir", "steps", "checkpoint_every", "keep_last", "log_every", "dev_every",
    "device", "num_threads", "workers", "progress", "data",
})


class TrainingError(DsditGeoError):
    """Training cannot go on (non-finite loss, checkpoint from another run, ...)."""


@dataclass
class TrainConfig:
    """One training run. Paths are strings (JSON); tuples are written as lists.

    Run:   name, out_dir (the run lives in out_dir/name), steps, seed.
    Model: preset + model overrides (DSDiTTransformer config keys); init_weights: a
           save_pretrained folder whose weights start the run (fine-tuning; its config must be
           the one preset + overrides give).
    Data:  data (None = the shared data root; or a root, gt/ref folder or pairs CSV), datasets
           (subset of a data root), dataset_weights, split_seed (dev split), crop_px,
           scale_range (LR/HR pixel-size ratio), unrelated_ref_prob, aligned_ref_prob (chance
           the Ref is the ground truth itself, aligned, with mild photometric change and pasted
           changes: the "copying pays" part of the curriculum), degradations (LR sensor models
           drawn per sample, `train.degrade.KERNELS`), lr_sharpen_prob (chance of an unsharp
           mask on the LR, amount 0.2-1, sigma 1 LR px: sharpened imagery products; 0 = never).
    Optim: batch_size (per rank), lr, warmup_steps, lr_schedule (cosine | constant after the
           warmup), min_lr_ratio (cosine floor), weight_decay, betas, grad_clip (0 = off).
    EMA:   ema_decay, ema_warmup (decay_t = min(ema_decay, (1 + t) / (10 + t))).
    Flow:  sigma_shift (logit-normal t, sigma = shift t / (1 + (shift - 1) t)); one_step: train
           a deterministic one-step model instead (every sample at sigma 1 from x_1 = 0, so the
           flow loss is the MSE of the x0 estimate; its model folder's inference.json then
           needs "steps": 1, "start": "zero"); weak_ref_prob:
           share of samples trained with the Ref attention term off (lambda = 0, the weak pass
           of autoguidance), so that the weak pass is one the model has learned;
           trust_loss_weight: weight of the loss that pulls the mean PLW alpha_ref towards the
           Ref's agreement with the truth (`train.trust`; 0 = off); trust_change_weight: when
           > 0 that target is 0 where the sample's change mask is set (labels, pasted changes,
           unrelated Refs) and such patches weigh 1 + trust_change_weight x their changed
           fraction (0 = off: the agreement alone); trust_target_power: the agreement is raised
           to this power first (< 1 lifts the middle of the scale, where real Refs of another
           date lie, and keeps 0 and 1); trust_rank_weight, trust_rank_margin: a hinge that asks
           each sample's unchanged patches to be trusted at least margin more than its changed
           ones (`train.trust.change_ranking_loss`; applied with the trust loss; 0 = off);
           trust_distill_from, trust_distill_weight: a frozen teacher model folder (same
           inputs, no gradients) and the weight of the mean squared difference between the
           trust map and the teacher's (keeps a fine-tune's trust map where the teacher's was,
           so output losses cannot drift it; 0 = off);
           x0_gradient_loss_weight:
           weight of an L1 loss between the image gradients of the x0 estimate (x_t - sigma v)
           and of the true x0 (penalises the patch grid; 0 = off); x0_perceptual_loss_weight:
           weight of LPIPS-VGG between the HR decoded from the x0 estimate and the true HR
           (needs the perceptual weight packages; the AlexNet LPIPS used for scoring is never
           trained on; 0 = off); x0_dists_loss_weight: weight of DISTS between the same two
           (texture-tolerant: misaligned texture of the right kind costs little; same packages;
           0 = off); x0_dists_scale_weight: {scale factor: factor} multiplying each sample's
           DISTS term (linear in the scale factor, ends held); x0_dists_kernel_weight: {LR
           kernel: factor} multiplying it by the sample's LR sensor model (kernels not named: 1;
           the fixed dev batch counts as 1); x0_dists_kernel_scale: {scale factor: share} of
           that kernel factor a sample gets (1 + (factor - 1) x share; linear in the scale
           factor, ends held; None = share 1 at every scale); x0_ref_detail: the trust-gated
           Ref detail step of inference (`flow.ref_detail`) applied to the x0 estimate before
           every x0 loss, so the model learns with the step it is sampled with: {scale factor:
           gain}, linear in the scale factor, ends held (None = off; one_step only);
           x0_ref_detail_sigma_lr_px: its high-pass sigma in LR px;
           x0_ref_detail_detach_perceptual: the perceptual terms (LPIPS-VGG, DISTS) see that
           step with its trust gate detached, so only the pixel losses (flow, gradient) and
           the trust losses move the trust map through it (texture of any kind lowers DISTS,
           changed land's included).
    Fine-tuning: trainable: parameter-name prefixes that are trained (e.g. ["out_head"]: only
           the conv head); None = all. lr_multipliers: {name part: factor}: parameters whose
           name contains the part train at lr x factor (e.g. {"gate_agreement": 100}: a new
           zero-initialised input that Adam at the fine-tune lr would move too slowly; the
           first matching part counts); None = one lr for all.
    Monitoring: checkpoint_every, keep_last (0 = keep all), log_every, dev_every (0 = off),
           dev_batch_size (fixed dev batch: fixed sigma grid, fixed noise, EMA weights), progress.
    Hardware: device (auto | cpu | cuda | cuda:N), autocast (bf16 on CUDA only), num_threads
           (0 = all cores of this rank), workers (DataLoader worker processes).
    """

    name: str = "dsdit"
    out_dir: str = "runs"
    steps: int = 20_000
    seed: int = 0
    preset: str = "small"
    model: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_MODEL_OVERRIDES))
    init_weights: str | None = None
    data: str | None = None
    datasets: list[str] | None = None
    dataset_weights: dict[str, float] | None = None
    split_seed: int = 0
    crop_px: int = 128
    scale_range: tuple[float, float] = (4.0, 10.0)
    unrelated_ref_prob: float = 0.2
    aligned_ref_prob: float = 0.0
    degradations: list[str] = field(default_factory=lambda: ["gauss_area"])
    lr_sharpen_prob: float = 0.0
    batch_size: int = 8
    lr: float = 3e-4
    warmup_steps: int = 500
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    weight_decay: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    ema_warmup: bool = True
    sigma_shift: float = 3.0
    one_step: bool = False
    weak_ref_prob: float = 0.0
    trust_loss_weight: float = 0.0
    trust_change_weight: float = 0.0
    trust_target_power: float = 1.0
    trust_rank_weight: float = 0.0
    trust_rank_margin: float = 0.25
    trust_distill_from: str | None = None
    trust_distill_weight: float = 0.0
    x0_gradient_loss_weight: float = 0.0
    x0_perceptual_loss_weight: float = 0.0
    x0_dists_loss_weight: float = 0.0
    x0_dists_scale_weight: dict[str, float] | None = None
    x0_dists_kernel_weight: dict[str, float] | None = None
    x0_dists_kernel_scale: dict[str, float] | None = None
    x0_ref_detail: dict[str, float] | None = None
    x0_ref_detail_sigma_lr_px: float = 0.25
    x0_ref_detail_detach_perceptual: bool = False
    trainable: list[str] | None = None
    lr_multipliers: dict[str, float] | None = None
    checkpoint_every: int = 500
    keep_last: int = 3
    log_every: int = 10
    dev_every: int = 250
    dev_batch_size: int = 16
    progress: bool = True
    device: str = "auto"
    autocast: bool = True
    num_threads: int = 0
    workers: int = 0

    # -- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("scale_range", "betas"):
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> TrainConfig:
        """Build and validate; unknown keys and bad values raise a one-line OptionError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise OptionError(f"{source}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        kwargs = dict(values)
        for key in ("scale_range", "betas"):
            if key in kwargs:
                pair = kwargs[key]
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise OptionError(f"{source}: {key} must be a list of two numbers, got {pair!r}")
                kwargs[key] = (float(pair[0]), float(pair[1]))
        if "model" in kwargs and not isinstance(kwargs["model"], Mapping):
            raise OptionError(f"{source}: model must be a mapping of model settings")
        config = cls(**kwargs)
        config.validate(source)
        return config

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save(self, path: Path | str) -> None:
        """Write as JSON (to a temporary name, then renamed into place)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.to_json())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path | str) -> TrainConfig:
        path = Path(path)
        if not path.is_file():
            raise OptionError(f"config file not found: {path}")
        try:
            values = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise OptionError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(values, dict):
            raise OptionError(f"{path}: expected a JSON object of settings")
        return cls.from_dict(values, source=str(path))

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with `changes` (None values are ignored: "not given")."""
        given = {k: v for k, v in changes.items() if v is not None}
        return TrainConfig.from_dict({**self.to_dict(), **given}, source="options")

    # -- derived ------------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def model_config(self) -> dict[str, Any]:
        """The DSDiTTransformer config: the preset with the model overrides applied."""
        from dsdit_geo.model.presets import preset_config

        return preset_config(self.preset, **self.model)

    def ref_detail_schedule(self) -> tuple[tuple[float, float], ...]:
        """x0_ref_detail as sorted (scale factor, gain) pairs (empty when off); ValueError on keys
        that are not scale factors > 0 or gains outside [0, MAX_REF_DETAIL]."""
        from dsdit_geo.upscalers.settings import MAX_REF_DETAIL
        from dsdit_geo.weights import parse_gain_schedule

        if self.x0_ref_detail is None:
            return ()
        points = parse_gain_schedule(self.x0_ref_detail, "x0_ref_detail")
        for key, gain in self.x0_ref_detail.items():
            if gain > MAX_REF_DETAIL:
                raise ValueError(f"x0_ref_detail[{key!r}] must be a gain from 0 to {MAX_REF_DETAIL:g}, got {gain!r}")
        return points

    def dists_scale_schedule(self) -> tuple[tuple[float, float], ...]:
        """x0_dists_scale_weight as sorted (scale factor, factor) pairs (empty when off: every
        sample's DISTS term weighs x0_dists_loss_weight); ValueError on a bad schedule."""
        from dsdit_geo.weights import parse_gain_schedule

        if self.x0_dists_scale_weight is None:
            return ()
        return parse_gain_schedule(self.x0_dists_scale_weight, "x0_dists_scale_weight")

    def dists_kernel_factors(self) -> dict[str, float]:
        """x0_dists_kernel_weight as {LR kernel: factor} over every kernel of KERNELS (1 where it
        is not named; empty when off); ValueError on a bad mapping."""
        from dsdit_geo.train.degrade import KERNELS
        from dsdit_geo.weights import check_gain

        weights = self.x0_dists_kernel_weight
        if weights is None:
            return {}
        if not isinstance(weights, Mapping) or not weights:
            raise ValueError(f"x0_dists_kernel_weight must be a non-empty {{kernel: factor}} mapping, got {weights!r}")
        for kernel, factor in weights.items():
            if kernel not in KERNELS:
                raise ValueError(f"x0_dists_kernel_weight keys must be LR kernels ({', '.join(KERNELS)}), got {kernel!r}")
            check_gain(factor, f"x0_dists_kernel_weight[{kernel!r}]")
        return {kernel: float(weights.get(kernel, 1.0)) for kernel in KERNELS}

    def dists_kernel_scale_schedule(self) -> tuple[tuple[float, float], ...]:
        """x0_dists_kernel_scale as sorted (scale factor, share) pairs (empty when off: the whole
        kernel factor at every scale); ValueError on a bad schedule."""
        from dsdit_geo.weights import parse_gain_schedule

        if self.x0_dists_kernel_scale is None:
            return ()
        return parse_gain_schedule(self.x0_dists_kernel_scale, "x0_dists_kernel_scale")

    def resume_conflicts(self, recorded: TrainConfig) -> list[str]:
        """Keys whose values differ from `recorded` and may not change on resume."""
        mine, theirs = self.to_dict(), recorded.to_dict()
        return sorted(k for k in mine if k not in RESUMABLE_CHANGES and mine[k] != theirs[k])

    # -- validation ---------------------------------------------------------------------------
    def validate(self, source: str = "config") -> None:
        """Raise OptionError (one line, prefixed with `source`) on any bad value."""
        try:
            self._validate()
        except (ValueError, TypeError) as exc:
            raise OptionError(f"{source}: {exc}") from None

    def _validate(self) -> None:
        from dsdit_geo.model.presets import PRESETS
        from dsdit_geo.model.transformer import DSDiTTransformer
        from dsdit_geo.train.sources import ALL_DATASETS

        def check(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(message)

        ints = ("steps", "seed", "split_seed", "crop_px", "batch_size", "warmup_steps", "checkpoint_every",
                "keep_last", "log_every", "dev_every", "dev_batch_size", "num_threads", "workers")
        for key in ints:
            value = getattr(self, key)
            check(isinstance(value, int) and not isinstance(value, bool), f"{key} must be an integer, got {value!r}")
        floats = ("lr", "min_lr_ratio", "weight_decay", "grad_clip", "ema_decay", "sigma_shift",
                  "unrelated_ref_prob", "weak_ref_prob", "aligned_ref_prob", "lr_sharpen_prob", "trust_loss_weight",
                  "trust_change_weight", "trust_target_power", "trust_rank_weight", "trust_rank_margin",
                  "trust_distill_weight",
                  "x0_gradient_loss_weight", "x0_perceptual_loss_weight", "x0_dists_loss_weight",
                  "x0_ref_detail_sigma_lr_px")
        for key in floats:
            value = getattr(self, key)
            check(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                  f"{key} must be a number, got {value!r}")
        check(isinstance(self.name, str) and self.name.strip() not in ("", ".", "..") and "/" not in self.name,
              f"name must be a plain folder name, got {self.name!r}")
        check(self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        check(self.preset in PRESETS, f"unknown preset {self.preset!r} (choose from {', '.join(PRESETS)})")
        params = set(inspect.signature(DSDiTTransformer.__init__).parameters) - {"self"}
        for key in self.model:
            check(key in params, f"unknown model setting {key!r} (known: {', '.join(sorted(params))})")
        patch = self.model_config()["patch_size"]
        check(self.crop_px >= patch and self.crop_px % patch == 0,
              f"crop_px must be a positive multiple of the patch size {patch}, got {self.crop_px}")
        lo, hi = self.scale_range
        check(1.0 < lo <= hi, f"scale_range must satisfy 1 < low <= high, got {list(self.scale_range)}")
        check(0.0 <= self.unrelated_ref_prob <= 1.0, f"unrelated_ref_prob must be in [0, 1], got {self.unrelated_ref_prob}")
        check(0.0 <= self.aligned_ref_prob <= 1.0 and self.unrelated_ref_prob + self.aligned_ref_prob <= 1.0,
              f"aligned_ref_prob must be in [0, 1 - unrelated_ref_prob], got {self.aligned_ref_prob}")
        check(0.0 <= self.lr_sharpen_prob <= 1.0, f"lr_sharpen_prob must be in [0, 1], got {self.lr_sharpen_prob}")
        check(self.x0_gradient_loss_weight >= 0,
              f"x0_gradient_loss_weight must be >= 0, got {self.x0_gradient_loss_weight}")
        check(isinstance(self.one_step, bool), f"one_step must be true or false, got {self.one_step!r}")
        check(self.x0_perceptual_loss_weight >= 0,
              f"x0_perceptual_loss_weight must be >= 0, got {self.x0_perceptual_loss_weight}")
        check(self.x0_dists_loss_weight >= 0,
              f"x0_dists_loss_weight must be >= 0, got {self.x0_dists_loss_weight}")
        check(self.x0_ref_detail_sigma_lr_px > 0,
              f"x0_ref_detail_sigma_lr_px must be > 0, got {self.x0_ref_detail_sigma_lr_px}")
        self.ref_detail_schedule()  # raises ValueError on a bad schedule
        self.dists_scale_schedule()  # raises ValueError on a bad schedule
        check(self.x0_dists_scale_weight is None or self.x0_dists_loss_weight > 0,
              "x0_dists_scale_weight needs x0_dists_loss_weight > 0 (it multiplies that term)")
        self.dists_kernel_factors()  # raises ValueError on a bad mapping
        check(self.x0_dists_kernel_weight is None or self.x0_dists_loss_weight > 0,
              "x0_dists_kernel_weight needs x0_dists_loss_weight > 0 (it multiplies that term)")
        self.dists_kernel_scale_schedule()  # raises ValueError on a bad schedule
        check(self.x0_dists_kernel_scale is None or self.x0_dists_kernel_weight is not None,
              "x0_dists_kernel_scale needs x0_dists_kernel_weight (it scales that factor)")
        check(self.x0_ref_detail is None or self.one_step,
              "x0_ref_detail needs one_step (the step follows the final output, not every sampling step)")
        check(isinstance(self.x0_ref_detail_detach_perceptual, bool),
              f"x0_ref_detail_detach_perceptual must be true or false, got {self.x0_ref_detail_detach_perceptual!r}")
        check(not self.x0_ref_detail_detach_perceptual or self.x0_ref_detail is not None,
              "x0_ref_detail_detach_perceptual needs x0_ref_detail (it changes that step's gradient)")
        check(self.trainable is None or (isinstance(self.trainable, list) and len(self.trainable) > 0
                                         and all(isinstance(t, str) and t for t in self.trainable)),
              f"trainable must be a non-empty list of parameter-name prefixes, got {self.trainable!r}")
        check(self.lr_multipliers is None or (
            isinstance(self.lr_multipliers, dict) and len(self.lr_multipliers) > 0
            and all(isinstance(k, str) and k for k in self.lr_multipliers)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                    for v in self.lr_multipliers.values())),
              f"lr_multipliers must map parameter-name parts to factors > 0, got {self.lr_multipliers!r}")
        check(self.trust_loss_weight >= 0, f"trust_loss_weight must be >= 0, got {self.trust_loss_weight}")
        check(self.trust_change_weight >= 0, f"trust_change_weight must be >= 0, got {self.trust_change_weight}")
        check(self.trust_rank_weight >= 0, f"trust_rank_weight must be >= 0, got {self.trust_rank_weight}")
        check(0 <= self.trust_rank_margin <= 1, f"trust_rank_margin must be in [0, 1], got {self.trust_rank_margin}")
        check(self.trust_distill_weight >= 0, f"trust_distill_weight must be >= 0, got {self.trust_distill_weight}")
        check(self.trust_distill_from is None or (isinstance(self.trust_distill_from, str)
                                                  and self.trust_distill_from.strip() != ""),
              f"trust_distill_from must be a model folder path, got {self.trust_distill_from!r}")
        check((self.trust_distill_from is None) == (self.trust_distill_weight == 0),
              "trust_distill_from and trust_distill_weight > 0 go together (the teacher and its weight)")
        check(self.trust_target_power > 0, f"trust_target_power must be > 0, got {self.trust_target_power}")
        from dsdit_geo.train.degrade import KERNELS

        check(isinstance(self.degradations, list) and len(self.degradations) > 0
              and all(k in KERNELS for k in self.degradations),
              f"degradations must be a non-empty list of {', '.join(KERNELS)}, got {self.degradations!r}")
        check(0.0 <= self.weak_ref_prob < 1.0, f"weak_ref_prob must be in [0, 1), got {self.weak_ref_prob}")
        check(self.init_weights is None or (isinstance(self.init_weights, str) and self.init_weights.strip() != ""),
              f"init_weights must be a folder path, got {self.init_weights!r}")
        check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        check(self.lr > 0, f"lr must be positive, got {self.lr}")
        check(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        check(self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        check(0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        check(all(0.0 <= b < 1.0 for b in self.betas), f"betas must be in [0, 1), got {list(self.betas)}")
        check(self.grad_clip >= 0, f"grad_clip must be >= 0 (0 = off), got {self.grad_clip}")
        check(0.0 <= self.ema_decay < 1.0, f"ema_decay must be in [0, 1), got {self.ema_decay}")
        check(self.sigma_shift > 0, f"sigma_shift must be positive, got {self.sigma_shift}")
        for key in ("checkpoint_every", "log_every", "dev_batch_size"):
            check(getattr(self, key) >= 1, f"{key} must be >= 1, got {getattr(self, key)}")
        for key in ("keep_last", "dev_every", "num_threads", "workers"):
            check(getattr(self, key) >= 0, f"{key} must be >= 0, got {getattr(self, key)}")
        dev = self.device
        check(dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit()),
              f"device must be auto, cpu, cuda or cuda:N, got {dev!r}")
        if self.datasets is not None:
            check(len(self.datasets) > 0, "datasets must not be empty (leave it out for all)")
            for name in self.datasets:
                check(name in ALL_DATASETS, f"unknown dataset {name!r} (known: {', '.join(ALL_DATASETS)})")
        if self.dataset_weights is not None:
            check(all(float(w) >= 0 for w in self.dataset_weights.values()), "dataset_weights must be >= 0")


__all__ = ["CONFIG_NAME", "DEFAULT_MODEL_OVERRIDES", "RESUMABLE_CHANGES", "TrainConfig", "TrainingError"]
