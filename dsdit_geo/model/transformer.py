"""DSDiTTransformer: the decoupled siamese diffusion transformer (pixel space, HR grid).

Images are (B, C, H, W) in network space (about [-1, 1]); H and W multiples of ``patch_size``.
Each of x_t, lr, ref is patchified into N = (H/p)(W/p) tokens of width D by its own patch
embedding; one shared 2-D sin-cos position embedding (unit spacing per patch, so any tile size
works); conditioning c = timestep embedding of sigma (+ embedding of log(scale)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps, get_2d_sincos_pos_embed_from_grid
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from dsdit_geo.model.agreement import token_agreement
from dsdit_geo.model.blocks import (
    ATTENTION_MODES,
    INJECTION_MODES,
    STREAMS,
    DSDiTBlock,
    StreamLinear,
    X,
    modulated_norm,
)

PREDICTIONS = ("image", "residual", "fusion")
SCALE_EMBED_MULT = 250.0  # log(scale) * this feeds the sinusoidal scale embedding (x10 -> ~576)


@dataclass
class DSDiTOutput(BaseOutput):
    """velocity (B, C, H, W) float32; trust (B, 1, H/p, W/p) mean alpha_ref over blocks, or None."""

    velocity: torch.Tensor
    trust: torch.Tensor | None = None


class DSDiTTransformer(ModelMixin, ConfigMixin):
    """DS-DiT velocity model. See docs/ARCHITECTURE.md "DS-DiT model".

    Config: in_channels, patch_size, hidden_dim, depth, num_heads, mlp_ratio, attention
    (siamese|joint), injection (plw|separate|sum|none), qk_norm, activation (gelu|gelu_tanh),
    scale_conditioning, prediction (image|residual|fusion), residual_scale (the last two are
    read by ``dsdit_geo.flow.parameterization``; the network itself is agnostic), timestep_scale,
    freq_channels, conv_head (hidden channels of a light convolutional head after unpatchify,
    0 = none): v += conv3x3(SiLU(conv3x3([v; x_t]))), last conv zero-initialised, so the
    velocity is smooth across patch borders instead of showing the p-px grid; gate_agreement
    (PLW only; needs ``scale`` in forward): each PLW gate also sees the token's classical
    LR-vs-Ref agreement (`model.agreement.token_agreement`) through a zero-initialised input.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        patch_size: int = 8,
        hidden_dim: int = 192,
        depth: int = 5,
        num_heads: int = 3,
        mlp_ratio: float = 3.0,
        attention: str = "siamese",
        injection: str = "plw",
        qk_norm: bool = True,
        activation: str = "gelu",
        scale_conditioning: bool = True,
        prediction: str = "image",
        residual_scale: float = 1.0,
        timestep_scale: float = 1000.0,
        freq_channels: int = 256,
        conv_head: int = 0,
        gate_agreement: bool = False,
    ) -> None:
        super().__init__()
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
        if injection not in INJECTION_MODES:
            raise ValueError(f"injection must be one of {INJECTION_MODES}, got {injection!r}")
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        if hidden_dim % 4:
            raise ValueError(f"hidden_dim must be a multiple of 4 (2-D sin-cos embedding), got {hidden_dim}")
        d, p, c = hidden_dim, patch_size, in_channels
        self.patch_embed = StreamLinear(STREAMS, c * p * p, d)
        self.time_proj = Timesteps(freq_channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(freq_channels, d)
        if scale_conditioning:
            self.scale_proj = Timesteps(freq_channels, flip_sin_to_cos=True, downscale_freq_shift=0)
            self.scale_embed = TimestepEmbedding(freq_channels, d)
        self.blocks = nn.ModuleList(
            DSDiTBlock(d, num_heads, mlp_ratio, attention, injection, qk_norm, activation,
                       gate_agreement=gate_agreement)
            for _ in range(depth)
        )
        self.final_ada = nn.Linear(d, 2 * d)  # shift, scale
        self.final_proj = nn.Linear(d, p * p * c)
        if conv_head < 0:
            raise ValueError(f"conv_head must be >= 0, got {conv_head}")
        self.out_head = None
        if conv_head:
            self.out_head = nn.Sequential(
                nn.Conv2d(2 * c, conv_head, 3, padding=1, padding_mode="replicate"),
                nn.SiLU(),
                nn.Conv2d(conv_head, c, 3, padding=1, padding_mode="replicate"),
            )
        self.gradient_checkpointing = False
        self._pos_cache: dict[tuple, torch.Tensor] = {}
        self._init_weights()

    # -- init --------------------------------------------------------------------------------
    def _init_weights(self) -> None:
        """DiT init: xavier linears, zero biases, N(0, 0.02) timestep MLPs; adaLN-Zero, the
        final layer, PLW's last gate layer and every injection Z stay exactly zero."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                if getattr(m, "_zero_init", False):
                    nn.init.zeros_(m.weight)
                else:
                    nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, StreamLinear):
                m.reset_parameters()
        embeds = [self.time_embed] + ([self.scale_embed] if self.config.scale_conditioning else [])
        for emb in embeds:
            nn.init.normal_(emb.linear_1.weight, std=0.02)
            nn.init.normal_(emb.linear_2.weight, std=0.02)
        for m in (self.final_ada, self.final_proj):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        if self.out_head is not None:
            nn.init.zeros_(self.out_head[-1].weight)
            nn.init.zeros_(self.out_head[-1].bias)

    # -- helpers -----------------------------------------------------------------------------
    def pos_embed(self, gh: int, gw: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(gh*gw, D) 2-D sin-cos embedding of the token grid, unit spacing (cached)."""
        key = (gh, gw, str(device), dtype)
        if key not in self._pos_cache:
            with torch.inference_mode(False):
                self._pos_cache[key] = self._sincos(gh, gw).to(device=device, dtype=dtype)
        return self._pos_cache[key]

    def _sincos(self, gh: int, gw: int) -> torch.Tensor:
        rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
        grid = torch.stack([cols.reshape(-1), rows.reshape(-1)]).double()  # diffusers order: [w, h]
        return get_2d_sincos_pos_embed_from_grid(self.config.hidden_dim, grid, output_type="pt")

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """(..., C, H, W) -> (..., N, C*p*p), token order row-major, features (C, p, p)."""
        *lead, c, h, w = imgs.shape
        p = self.config.patch_size
        t = imgs.reshape(-1, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return t.reshape(*lead, (h // p) * (w // p), c * p * p)

    def unpatchify(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """(B, N, C*p*p) -> (B, C, H, W), inverse of ``patchify``."""
        p, c = self.config.patch_size, self.config.in_channels
        b = tokens.shape[0]
        t = tokens.reshape(b, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return t.reshape(b, c, h, w)

    def conditioning(self, sigma: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
        """c (B, D) = timestep embedding of sigma*timestep_scale (+ embedding of log scale)."""
        dtype = self.time_embed.linear_1.weight.dtype
        c = self.time_embed(self.time_proj(sigma * self.config.timestep_scale).to(dtype))
        if self.config.scale_conditioning:
            if scale is None:
                raise ValueError("this model is scale-conditioned: pass scale (LR/HR pixel-size ratio)")
            e = self.scale_proj(torch.log(scale) * SCALE_EMBED_MULT).to(dtype)
            c = c + self.scale_embed(e)
        return c

    # -- forward -----------------------------------------------------------------------------
    def forward(
        self,
        x_t: torch.Tensor,
        lr: torch.Tensor,
        ref: torch.Tensor,
        sigma: torch.Tensor | float,
        *,
        scale: torch.Tensor | float | None = None,
        ref_scale: torch.Tensor | float = 1.0,
        return_trust: bool = False,
    ) -> DSDiTOutput:
        """Velocity v = eps - x0 at noise level sigma.

        x_t, lr, ref (B, C, H, W) network space; sigma (B,) in [0, 1] (1 = noise); scale (B,)
        LR/HR pixel-size ratio; ref_scale lambda, float or (B,) (strong and weak passes batch
        together). Returns velocity (B, C, H, W) float32 and, with return_trust and PLW,
        trust (B, 1, H/p, W/p) = alpha_ref averaged over blocks.
        """
        cfg = self.config
        b, c, h, w = x_t.shape
        p = cfg.patch_size
        if lr.shape != x_t.shape or ref.shape != x_t.shape:
            raise ValueError(f"x_t, lr, ref shapes differ: {tuple(x_t.shape)}, {tuple(lr.shape)}, {tuple(ref.shape)}")
        if c != cfg.in_channels:
            raise ValueError(f"model has {cfg.in_channels} channels, input has {c}")
        if h % p or w % p:
            raise ValueError(f"tile {h}x{w} is not a multiple of patch_size {p}")
        dev = x_t.device
        sigma = _per_sample(sigma, b, dev, "sigma")
        scale_t = None if scale is None else _per_sample(scale, b, dev, "scale")
        lam = _per_sample(ref_scale, b, dev, "ref_scale")
        # joint mode: a float 1.0 needs no log-bias mask; a tensor always gets one (no device sync)
        lam_is_one = not isinstance(ref_scale, torch.Tensor) and float(ref_scale) == 1.0
        if cfg.attention == "joint" and not isinstance(ref_scale, torch.Tensor) and float(ref_scale) < 0:
            raise ValueError("joint attention needs ref_scale >= 0 (it enters as log(ref_scale))")

        cond = F.silu(self.conditioning(sigma, scale_t))
        wdtype = self.patch_embed.weight.dtype
        tokens = self.patchify(torch.stack([x_t, lr, ref]).to(wdtype))  # (3, B, N, C p p)
        gh, gw = h // p, w // p
        s = self.patch_embed(tokens) + self.pos_embed(gh, gw, dev, wdtype)
        agreement = None
        if cfg.gate_agreement:
            if scale_t is None:
                raise ValueError("a model with gate_agreement needs the scale")
            agreement = token_agreement(lr, ref, scale_t, p).to(wdtype)

        alphas = []
        for block in self.blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                s, alpha = self._gradient_checkpointing_func(block, s, cond, lam, lam_is_one, agreement)
            else:
                s, alpha = block(s, cond, lam, lam_is_one, agreement)
            if alpha is not None:
                alphas.append(alpha)

        shift, scl = self.final_ada(cond).unsqueeze(1).chunk(2, dim=-1)
        out = self.final_proj(modulated_norm(s[X], shift, scl))
        velocity = self.unpatchify(out, h, w)
        if self.out_head is not None:
            velocity = velocity + self.out_head(torch.cat([velocity, x_t.to(velocity.dtype)], dim=1))
        velocity = velocity.float()
        trust = None
        if return_trust and alphas:
            trust = torch.stack(alphas).float().mean(0).view(b, 1, gh, gw)
        return DSDiTOutput(velocity=velocity, trust=trust)


def _per_sample(v: torch.Tensor | float, b: int, device: torch.device, name: str) -> torch.Tensor:
    """A float or (B,) / (1,) tensor as a float32 (B,) tensor on ``device``."""
    t = torch.as_tensor(v, dtype=torch.float32, device=device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(b)
    if t.numel() != b:
        raise ValueError(f"{name} must be a scalar or have {b} values, got {t.numel()}")
    return t


def count_parameters(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


__all__ = ["PREDICTIONS", "DSDiTOutput", "DSDiTTransformer", "count_parameters"]
