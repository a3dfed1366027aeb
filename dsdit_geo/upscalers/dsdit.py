"""`--method dsdit`: the DS-DiT diffusion model as an `Upscaler` (see `base.py`).

For each batch of model-range tiles (B, C, H, W) on the HR grid:

1. the conditions go to network space, ``to_network(lr_hr)`` / ``to_network(ref_hr)``; an LR with
   fewer bands than the model (e.g. one pan band) is repeated over the model's channels
   (channel k holds band k mod C) and the output channels of each band are averaged back;
2. the initial noise is ``position_keyed_noise(seed, origin_px, (C_model, H, W))``, so tiles
   that overlap start from the same noise where they overlap; a one-step model (inference.json
   ``"start": "zero"``, trained with ``one_step``) starts from zeros instead, deterministically;
3. ``sample_euler`` integrates the model's velocity from sigma 1 to 0 in ``steps`` Euler steps
   with autoguidance weight w (``guidance``): w == 1 is one forward of B per step (lambda 1);
   w != 1 is ONE forward of 2B per step, strong (lambda 1) and weak (lambda ``ref_scale_weak``)
   together; with a guide model (``guide``: a smaller, less-trained DS-DiT, Karras et al. 2024)
   the weak pass is the guide's forward of B at lambda ``ref_scale_weak`` instead.
   Scale-conditioned models get ``batch.scale``;
4. the generated x0 is decoded (image, residual or fusion parameterisation, from the model
   config) back to the model range, and only the share ``detail`` of what the sample adds to
   the model's deterministic base (the hpf fusion for a "fusion" model, else LR_up) is kept:
   hr = base + detail * (sample - base); 1 keeps the whole sample, 0 gives the base. A few
   Euler steps leave part of the sampled texture uncorrelated with the truth; keeping a share
   of it trades less generated texture for fidelity (measured in the model card). A "fusion"
   model generates the residual to the hpf fusion of LR and Ref (``dsdit_geo.flow.anchor``);
   the anchor needs ``context_px`` of halo (rounded up to the patch size), which the pipeline
   reads around each tile: the anchor is computed on the tile with its halo, the transformer
   runs on the tile without it;
5. trust = alpha_ref of the strong pass, averaged over blocks and steps, (B, 1, H/p, W/p),
   upsampled to pixels **bilinearly** (align_corners False: values sit at patch centres, edges
   hold the nearest patch), so the blended map has no patch-sized steps; it stays in [0, 1] (a
   convex combination) and is 0 where the Ref has no data (the pipeline fills such pixels with
   the LR, so nothing of the Ref was used there).

Settings: explicit options > the model folder's ``inference.json`` > the constants below.
``DEFAULT_STEPS`` 8 and ``DEFAULT_GUIDANCE`` 1.0 (no weak pass) keep the sample scene under a
minute on 2 CPU cores with the ``small`` preset; the paper uses 40 steps and w = 1.1-1.2.
lambda_weak defaults to 0 (the paper: the weak pass without its Ref attention term), for the
model itself and for a guide model alike.

The model runs in fp32, in inference mode, on ``options.device`` (``auto``: CUDA when available)
with bf16 autocast on CUDA only; tiles come and go as float32 CPU tensors.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.device import resolve_device  # noqa: F401 - re-exported (tests, callers)
from dsdit_geo.errors import ModelError, TrustMapError
from dsdit_geo.flow.anchor import anchor_context_px, fusion_anchor
from dsdit_geo.flow.noise import position_keyed_noise
from dsdit_geo.flow.parameterization import Parameterization, to_network
from dsdit_geo.flow.ref_detail import gain_at_scale, gain_for_lr, inject_ref_detail, ref_detail_context_px
from dsdit_geo.flow.sampler import make_velocity_fn, sample_euler
from dsdit_geo.lr_sharpness import blurry_weight, check_ramp
from dsdit_geo.model.presets import PRESETS
from dsdit_geo.model.transformer import DSDiTTransformer
from dsdit_geo.upscalers.base import TileBatch, TileResult
from dsdit_geo.upscalers.settings import (  # noqa: F401 - the defaults are re-exported here
    DEFAULT_DETAIL,
    DEFAULT_GUIDANCE,
    DEFAULT_LR_SHARPNESS_RAMP,
    DEFAULT_OVERLAP_PX,
    DEFAULT_REF_DETAIL_SIGMA_LR_PX,
    DEFAULT_REF_SCALE_WEAK,
    DEFAULT_START,
    DEFAULT_STEPS,
    DEFAULT_TILE_PX,
    DSDiTSettings,
    check_sampling,
)
from dsdit_geo.weights import SELF_GUIDE, START_MODES, load_model

GUIDE_MATCH_KEYS = ("in_channels", "prediction", "residual_scale", "scale_conditioning")
ModelLoader = Callable[[Path, str], DSDiTTransformer]  # (folder, device) -> model


def autocast_dtype_for(device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA; none on CPU (bf16 matmuls are slow there)."""
    return torch.bfloat16 if device.type == "cuda" else None


def band_index(n_bands: int, n_channels: int) -> torch.Tensor:
    """(n_channels,) int64: model channel k is fed band k mod n_bands (n_bands <= n_channels)."""
    return torch.arange(n_channels) % n_bands


def merge_bands(channels: torch.Tensor, n_bands: int) -> torch.Tensor:
    """(B, C_model, H, W) -> (B, n_bands, H, W): each band is the mean of the model channels fed
    from it by ``band_index``; unchanged when n_bands == C_model."""
    n_channels = channels.shape[1]
    if n_bands == n_channels:
        return channels
    owner = band_index(n_bands, n_channels).to(channels.device)
    sums = torch.zeros(
        channels.shape[0], n_bands, *channels.shape[2:], dtype=channels.dtype, device=channels.device
    )
    sums.index_add_(1, owner, channels)
    counts = torch.bincount(owner, minlength=n_bands).to(channels.dtype)
    return sums / counts.view(1, -1, 1, 1)


def model_config_dict(model: DSDiTTransformer) -> dict:
    """The model's constructor arguments (defaults filled in), JSON-serialisable."""
    names = [p for p in inspect.signature(DSDiTTransformer.__init__).parameters if p != "self"]
    return {name: model.config[name] for name in names}


def config_hash(config: dict) -> str:
    """First 12 hex digits of the SHA-256 of the canonical JSON of ``config``."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def preset_name(config: dict) -> str:
    """The first preset whose geometry ``config`` has (patch, width, depth, heads, MLP...),
    else 'custom'. Switches outside the preset (attention, injection ...) do not count."""
    for name, preset in PRESETS.items():
        if all(config.get(key) == value for key, value in preset.items()):
            return name
    return "custom"


def check_guide(model: DSDiTTransformer, guide: DSDiTTransformer, guide_name: str) -> None:
    """ModelError unless ``guide`` can make the weak pass of ``model``: same channels,
    parameterisation and scale conditioning, and a patch size dividing the model's."""
    differ = [k for k in GUIDE_MATCH_KEYS if model.config[k] != guide.config[k]]
    if model.config.prediction == "image" and "residual_scale" in differ:
        differ.remove("residual_scale")  # unused by image prediction
    if differ:
        shown = ", ".join(f"{k} {guide.config[k]!r} vs {model.config[k]!r}" for k in differ)
        raise ModelError(f"guide {guide_name} does not fit the model ({shown})")
    if int(model.config.patch_size) % int(guide.config.patch_size):
        raise ModelError(
            f"guide {guide_name} has patch size {guide.config.patch_size}, which does not divide "
            f"the model's {model.config.patch_size}"
        )


def _weights_label(root: Path, weights: Path) -> str:
    """The weights' name in tags: the model folder's name, with the per-scale sub-folder
    (``default/x8``) when one runs."""
    if weights == root:
        return root.name
    try:
        return f"{root.name}/{weights.resolve().relative_to(root.resolve()).as_posix()}"
    except ValueError:
        return weights.name


def _points_text(schedule: tuple[tuple[float, float], ...]) -> str:
    """A gain schedule as tag text: "x4:0,x8:0.4" ("" when empty)."""
    return ",".join(f"x{s:g}:{g:g}" for s, g in schedule)


class DSDiTUpscaler:
    """DS-DiT sampling with autoguidance on tiles; see the module docstring.

    model: a DSDiTTransformer (moved to ``device``, eval, no grad). steps, guidance (w),
    ref_scale_weak (lambda of the weak pass), detail (share of the sampled detail kept over the
    base, module doc step 4), ref_detail ((scale factor, gain) pairs) and ref_detail_sigma_lr_px
    (module doc step 5; default off), ref_detail_blurry (the gain schedule for a blurry LR,
    blended in by the scene's measured LR sharpness over lr_sharpness_ramp = (blurry, sharp);
    `dsdit_geo.lr_sharpness`; empty: off), seed (position-keyed noise). tile_px / overlap_px:
    defaults when the user gives none (tile rounded up to a multiple of the patch size).
    weights_name: the model folder's name, recorded in the tags. guide: the weak pass's own
    model (None: the model itself at lambda ref_scale_weak); guide_name: its name for the tags.
    start: "noise" (Gaussian, position-keyed) or "zero" (a one-step model's start, module doc 2).
    """

    name = "dsdit"
    context_px = 0

    def __init__(
        self,
        model: DSDiTTransformer,
        *,
        steps: int = DEFAULT_STEPS,
        guidance: float = DEFAULT_GUIDANCE,
        ref_scale_weak: float = DEFAULT_REF_SCALE_WEAK,
        detail: float = DEFAULT_DETAIL,
        ref_detail: tuple[tuple[float, float], ...] = (),
        ref_detail_sigma_lr_px: float = DEFAULT_REF_DETAIL_SIGMA_LR_PX,
        ref_detail_blurry: tuple[tuple[float, float], ...] = (),
        lr_sharpness_ramp: tuple[float, float] = DEFAULT_LR_SHARPNESS_RAMP,
        start: str = DEFAULT_START,
        seed: int = 0,
        device: torch.device | str = "cpu",
        tile_px: int = DEFAULT_TILE_PX,
        overlap_px: int = DEFAULT_OVERLAP_PX,
        weights_name: str = "",
        guide: DSDiTTransformer | None = None,
        guide_name: str = "",
        scale: float | None = None,
    ) -> None:
        check_sampling(steps, float(guidance), float(ref_scale_weak), float(detail))
        for _, gain in (*ref_detail, *ref_detail_blurry):
            check_sampling(None, None, None, None, float(gain))
        check_ramp(lr_sharpness_ramp, "lr_sharpness_ramp")
        if not (ref_detail_sigma_lr_px > 0 and ref_detail_sigma_lr_px < float("inf")):
            raise ValueError(f"ref_detail_sigma_lr_px must be > 0, got {ref_detail_sigma_lr_px}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.guide = None
        self.guide_name = SELF_GUIDE
        if guide is not None:
            self.guide_name = guide_name or "guide"
            check_guide(model, guide, self.guide_name)
            self.guide = guide.to(self.device).eval().requires_grad_(False)
        config = model.config
        self.patch_px = int(config.patch_size)
        self.tile_multiple_px = self.patch_px
        self.max_bands: int | None = int(config.in_channels)
        self.provides_trust = config.injection == "plw"
        self.no_trust_reason = (  # base.check_provides_trust's message
            f"a model with PLW injection; {weights_name or 'the model'} uses injection={config.injection!r}"
        )
        self.scale_conditioning = bool(config.scale_conditioning)
        self.parameterization = Parameterization.from_config(config)
        self.anchored = self.parameterization.prediction == "fusion"
        self.ref_detail = tuple(sorted((float(s), float(g)) for s, g in ref_detail))
        if not self.provides_trust and any(gain > 0 for _, gain in self.ref_detail):
            raise TrustMapError(f"--ref-detail needs {self.no_trust_reason}")
        self.ref_detail_blurry = tuple(sorted((float(s), float(g)) for s, g in ref_detail_blurry))
        if not self.provides_trust:
            self.ref_detail_blurry = ()
        self.lr_sharpness_ramp = (float(lr_sharpness_ramp[0]), float(lr_sharpness_ramp[1]))
        self.uses_lr_sharpness = bool(self.ref_detail_blurry)
        self.ref_detail_sigma_lr_px = float(ref_detail_sigma_lr_px)
        self.context_px = 0
        at_scale = float(scale) if scale else 10.0
        halo = anchor_context_px(at_scale) if self.anchored else 0
        most = max(gain_at_scale(self.ref_detail, at_scale), gain_at_scale(self.ref_detail_blurry, at_scale))
        if self.provides_trust and most > 0:
            halo = max(halo, ref_detail_context_px(self.ref_detail_sigma_lr_px, at_scale))
        if halo:
            self.context_px = -(-halo // self.patch_px) * self.patch_px
        self.steps, self.guidance, self.ref_scale_weak = steps, float(guidance), float(ref_scale_weak)
        self.detail = float(detail)
        if start not in START_MODES:
            raise ValueError(f"start must be one of {START_MODES}, got {start!r}")
        self.start = start
        self.seed = int(seed)
        self.default_tile_px = -(-int(tile_px) // self.patch_px) * self.patch_px
        self.default_overlap_px = int(overlap_px)
        if not 0 <= self.default_overlap_px < self.default_tile_px:
            raise ValueError(f"overlap_px must be in [0, {self.default_tile_px}), got {overlap_px}")
        self.autocast_dtype = autocast_dtype_for(self.device)
        self.weights_name = weights_name
        self._config = model_config_dict(model)

    @classmethod
    def from_options(cls, options: UpscaleOptions, scale: float | None = None) -> DSDiTUpscaler:
        """Resolve the settings of ``options`` (``DSDiTSettings.resolve``: options, then the
        folder's inference.json, then the defaults), load the model (and guide) and build the
        upscaler. scale: see the class docstring."""
        return cls.from_settings(DSDiTSettings.resolve(options), scale=scale)

    @classmethod
    def from_settings(
        cls, settings: DSDiTSettings, *, scale: float | None = None, loader: ModelLoader | None = None
    ) -> DSDiTUpscaler:
        """The upscaler for resolved ``settings`` at ``scale``. ``loader(folder, device)``
        returns a model (default ``weights.load_model``): an engine passes a cache, so the
        model and guide are loaded once for many runs and scales. A folder with per-scale
        weights (``settings.scale_models``) runs the weights for ``scale``."""
        load = loader if loader is not None else (lambda folder, device: load_model(folder))
        weights = settings.weights_at(scale)
        model = load(weights, settings.device)
        guide = load(settings.guide, settings.device) if settings.uses_guide else None
        return cls(
            model,
            steps=settings.steps,
            guidance=settings.guidance,
            ref_scale_weak=settings.ref_scale_weak,
            detail=settings.detail,
            ref_detail=settings.ref_detail,
            ref_detail_sigma_lr_px=settings.ref_detail_sigma_lr_px,
            ref_detail_blurry=settings.ref_detail_blurry,
            lr_sharpness_ramp=settings.lr_sharpness_ramp,
            start=settings.start,
            seed=settings.seed,
            device=settings.device,
            tile_px=settings.tile_px,
            overlap_px=settings.overlap_px,
            weights_name=_weights_label(settings.weights, weights),
            guide=guide,
            guide_name=settings.guide_label,
            scale=scale,
        )

    def upscale(self, batch: TileBatch) -> TileResult:
        """Sample HR tiles. batch.lr_hr / ref_hr (B, C, H, W) model range with C <= the model's
        channels and H, W multiples of the patch size. Returns hr (B, C, H, W) float32 model
        range and trust (B, 1, H, W) float32 in [0, 1] (None unless the model uses PLW)."""
        b, n_bands, height, width = batch.lr_hr.shape
        n_channels = self.max_bands
        if n_bands > n_channels:
            raise ValueError(f"the model takes at most {n_channels} bands, got {n_bands}")
        if height % self.patch_px or width % self.patch_px:
            raise ValueError(f"tile {height}x{width} is not a multiple of the patch size {self.patch_px}")
        index = band_index(n_bands, n_channels)
        lr = batch.lr_hr[:, index].to(self.device, torch.float32)
        ref = batch.ref_hr[:, index].to(self.device, torch.float32)
        anchor, ctx = lr, self.context_px
        if self.anchored:
            anchor, _ = fusion_anchor(lr, ref, batch.scale, batch.origin_px, batch.ref_valid)
        full_anchor, full_ref = anchor, ref
        if ctx:  # the transformer runs on the tile without its halo
            if height <= 2 * ctx or width <= 2 * ctx:
                raise ValueError(f"tile {height}x{width} has no room inside its {ctx} px halo")
            inner = (slice(None), slice(None), slice(ctx, height - ctx), slice(ctx, width - ctx))
            lr, ref, anchor = lr[inner], ref[inner], anchor[inner]
            height, width = height - 2 * ctx, width - 2 * ctx
        if self.start == "zero":
            noise = torch.zeros((b, n_channels, height, width), device=self.device)
        else:
            noise = position_keyed_noise(
                self.seed, batch.origin_px + ctx, (n_channels, height, width), device=self.device
            )
        scale = torch.full((b,), float(batch.scale), device=self.device) if self.scale_conditioning else None
        lr_net, ref_net = to_network(lr), to_network(ref)
        velocity_fn = make_velocity_fn(
            self.model,
            lr_net,
            ref_net,
            scale=scale,
            return_trust=self.provides_trust,
            autocast_dtype=self.autocast_dtype,
        )
        weak_velocity_fn = None
        if self.guide is not None:
            weak_velocity_fn = make_velocity_fn(
                self.guide, lr_net, ref_net, scale=scale, autocast_dtype=self.autocast_dtype
            )
        with torch.inference_mode():
            result = sample_euler(
                velocity_fn,
                noise,
                self.steps,
                guidance=self.guidance,
                ref_scale_weak=self.ref_scale_weak,
                weak_velocity_fn=weak_velocity_fn,
            )
            hr = self.parameterization.decode(result.sample.float(), anchor)
            if self.detail != 1.0:  # keep this share of what the sample adds to the base
                hr = anchor + self.detail * (hr - anchor)
            trust = None
            if result.trust is not None:
                trust = F.interpolate(
                    result.trust.float(), size=(height, width), mode="bilinear", align_corners=False
                ).clamp(0, 1)
            if ctx:  # the halo holds the anchor (cropped off by the pipeline)
                hr = F.pad(hr - full_anchor[inner], (ctx, ctx, ctx, ctx)) + full_anchor
                trust = None if trust is None else F.pad(trust, (ctx, ctx, ctx, ctx))
            if trust is not None:
                trust = trust * batch.ref_valid.to(self.device, torch.float32)
                gain = self.ref_detail_gain(float(batch.scale), batch.lr_sharpness)
                sigma_hr_px = self.ref_detail_sigma_lr_px * float(batch.scale)
                hr = inject_ref_detail(hr, full_ref, trust, gain, sigma_hr_px)
            hr = merge_bands(hr, n_bands)
        return TileResult(
            hr=hr.to("cpu", torch.float32).contiguous(),
            trust=None if trust is None else trust.to("cpu", torch.float32).contiguous(),
        )

    def ref_detail_gain(self, scale: float, lr_sharpness: float | None) -> float:
        """The Ref detail gain at `scale` for a scene whose LR sharpness relative to the Ref is
        `lr_sharpness` (None: unknown, the plain schedule's gain)."""
        weight = blurry_weight(lr_sharpness, self.lr_sharpness_ramp)
        return gain_for_lr(self.ref_detail, self.ref_detail_blurry, scale, weight)

    def _ref_detail_text(self) -> str:
        """The gain schedule for the tags: "0.5" (every scale) or "x4:0,x8:0.5"."""
        if len(self.ref_detail) == 1:
            return f"{self.ref_detail[0][1]:g}"
        return _points_text(self.ref_detail) or "0"

    def _blurry_tags(self) -> dict[str, str]:
        """The blurry-LR schedule and ramp for the tags (nothing when off)."""
        if not self.ref_detail_blurry:
            return {}
        return {"ref_detail_blurry": _points_text(self.ref_detail_blurry),
                "lr_sharpness_ramp": f"{self.lr_sharpness_ramp[0]:g},{self.lr_sharpness_ramp[1]:g}"}

    def describe(self) -> dict[str, str]:
        """Sampling settings and model identity, for the output's tags (method_* keys)."""
        return {
            "method_kind": "diffusion",
            "steps": str(self.steps),
            "guidance": f"{self.guidance:g}",
            "ref_scale_weak": f"{self.ref_scale_weak:g}",
            "detail": f"{self.detail:g}",
            "ref_detail": self._ref_detail_text(),
            "ref_detail_sigma_lr_px": f"{self.ref_detail_sigma_lr_px:g}",
            **self._blurry_tags(),
            "start": self.start,
            "guide": self.guide_name if self.guidance != 1.0 else "none",
            "weights": self.weights_name,
            "model_preset": preset_name(self._config),
            "model_config_sha256": config_hash(self._config),
            "model_prediction": self.parameterization.prediction,
            "precision": "bf16-autocast" if self.autocast_dtype is torch.bfloat16 else "fp32",
        }
