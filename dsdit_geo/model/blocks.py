"""DS-DiT building blocks: stacked per-stream layers, the siamese / joint block, LR+Ref injection.

The three token streams (x = noisy image, l = LR, r = Ref) always have the same shape, so they
travel stacked as one tensor ``s`` of shape (3, B, N, D) (stream index ``X, L, R = 0, 1, 2``).
Every per-stream layer (adaLN, QKV, output projection, MLP) keeps one set of weights per stream
but runs as a single batched matmul (`StreamLinear`): one op instead of three, and elementwise
work (norms, modulation, residuals) also runs once over the stacked tensor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

X, L, R = 0, 1, 2
STREAMS = 3
ATTENTION_MODES = ("siamese", "joint")
INJECTION_MODES = ("plw", "separate", "sum", "none")


class StreamLinear(nn.Module):
    """S independent affine maps, one per stream, run as one batched matmul.

    weight (S, in, out), i.e. stream s holds ``nn.Linear.weight.T`` (the layout the batched
    matmul reads fastest), bias (S, out). forward: (S, ..., in) -> (S, ..., out).
    """

    def __init__(self, streams: int, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.streams, self.in_features, self.out_features = streams, in_features, out_features
        self.weight = nn.Parameter(torch.empty(streams, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(streams, out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform per stream (as DiT does for every linear), zero bias; zero if marked."""
        if getattr(self, "_zero_init", False):
            self.zero_()
            return
        bound = math.sqrt(6.0 / (self.in_features + self.out_features))
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def zero_(self) -> StreamLinear:
        """Zero-initialise (adaLN-Zero) and keep it so on ``reset_parameters``."""
        nn.init.zeros_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self._zero_init = True
        return self

    def forward(self, x: torch.Tensor, with_bias: bool = True) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(self.streams, -1, self.in_features)
        w = self.weight
        k = _row_split(x2)
        if k > 1:  # balance the batched matmul over CPU threads: S*k equal gemms
            s, m, i = x2.shape
            y = torch.bmm(x2.reshape(s * k, m // k, i), self._split_weight(k)).view(s, m, self.out_features)
        else:
            y = torch.bmm(x2, w)
        if self.bias is not None and with_bias:
            y.add_(self.bias.unsqueeze(1).to(y.dtype))  # in place: cheaper than baddbmm's broadcast copy
        return y.view(*shape[:-1], self.out_features)

    def _split_weight(self, k: int) -> torch.Tensor:
        """weight repeated k times per stream, (S*k, in, out); cached while no gradient is
        needed (inference), keyed on the weight's identity and version."""
        w = self.weight
        if (torch.is_grad_enabled() and w.requires_grad) or torch.compiler.is_compiling():
            return w.unsqueeze(1).expand(self.streams, k, *w.shape[1:]).reshape(-1, *w.shape[1:])
        key = (k, w.data_ptr(), w._version, w.dtype, w.device)
        if getattr(self, "_split_key", None) != key:
            with torch.inference_mode(False):  # a normal tensor, usable outside inference mode too
                wd = w.detach()
                self._split_cache = wd.unsqueeze(1).expand(self.streams, k, *w.shape[1:]).reshape(-1, *w.shape[1:])
            self._split_key = key
        return self._split_cache

    def _apply(self, fn, recurse: bool = True):  # .to() / .cuda() / .half(): drop the cache
        self._split_key = self._split_cache = None
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        return f"streams={self.streams}, in={self.in_features}, out={self.out_features}"


def _row_split(x: torch.Tensor, min_rows: int = 64, max_split: int = 4) -> int:
    """How many row chunks to cut each stream's matmul into on CPU so the S*k gemms of one
    ``bmm`` spread evenly over the threads (ATen parallelises bmm over its batch: 3 streams on
    2 threads leave one idle a third of the time; measured +20 % on 2 cores). 1 on GPU, or when
    it does not divide, or would need more than ``max_split`` copies of the weights."""
    if x.device.type != "cpu":
        return 1
    threads = torch.get_num_threads()
    k = threads // math.gcd(x.shape[0], threads)
    m = x.shape[1]
    return k if 1 < k <= max_split and m % k == 0 and m // k >= min_rows else 1


def modulated_norm(s: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """LayerNorm (no affine) then ``* (1 + scale) + shift``; shift/scale broadcast over tokens."""
    h = F.layer_norm(s, s.shape[-1:], eps=eps)
    return torch.addcmul(shift, h, 1 + scale)


class DSDiTBlock(nn.Module):
    """One MM-DiT-style block over the stacked streams (3, B, N, D).

    attention="siamese": x computes Q,K,V once; LR path = attention over [x; l], Ref path =
    attention over [x; r] (both paths in one SDPA call); l and r never attend to each other;
    ``x <- x + gate1_x * (P_x A_lr^x + lambda * P_x A_ref^x)`` (P_x affine, so its bias is
    counted 1 + lambda times, exactly as the two projections would).
    attention="joint" (M3): one attention over [x; l; r]; lambda enters as an additive
    ``log(lambda)`` bias on the Ref keys seen by x's queries (lambda = 0 masks them).
    Then per-stream MLP, then the injection of l, r into x (PLW, separate, sum or none).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        attention: str = "siamese",
        injection: str = "plw",
        qk_norm: bool = True,
        activation: str = "gelu",
        eps: float = 1e-6,
        gate_agreement: bool = False,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden_dim {dim} is not a multiple of num_heads {num_heads}")
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
        if activation not in ("gelu", "gelu_tanh"):
            raise ValueError(f"activation must be 'gelu' or 'gelu_tanh', got {activation!r}")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.attention, self.eps = attention, eps
        self.approximate = "tanh" if activation == "gelu_tanh" else "none"
        hidden = round(dim * mlp_ratio)
        # adaLN-Zero: shift1, scale1, gate1, shift2, scale2, gate2 (SD3's AdaLayerNormZero order)
        self.ada = StreamLinear(STREAMS, dim, 6 * dim).zero_()
        self.qkv = StreamLinear(STREAMS, dim, 3 * dim)
        # QK RMS-norm weights per stream: [:, 0] for queries, [:, 1] for keys; (3, 2, head_dim)
        self.qk_norm = nn.Parameter(torch.ones(STREAMS, 2, self.head_dim)) if qk_norm else None
        self.proj = StreamLinear(STREAMS, dim, dim)
        self.fc1 = StreamLinear(STREAMS, dim, hidden)
        self.fc2 = StreamLinear(STREAMS, hidden, dim)
        self.injector = make_injector(injection, dim, gate_agreement)

    # -- attention ---------------------------------------------------------------------------
    def _qkv(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(3, B, N, D) -> q, k, v each (3, B, N, heads, head_dim); q, k RMS-normed."""
        S, B, N, _ = h.shape
        q, k, v = self.qkv(h).view(S, B, N, 3, self.num_heads, self.head_dim).unbind(3)
        if self.qk_norm is not None:
            q, k = self._rms(q, 0), self._rms(k, 1)
        return q, k, v

    def _rms(self, t: torch.Tensor, which: int) -> torch.Tensor:
        """Per-stream RMS norm over head_dim (one reduction pass, fp32 statistics)."""
        norm = torch.linalg.vector_norm(t, dim=-1, keepdim=True, dtype=torch.float32)
        inv = torch.rsqrt(norm.square() / self.head_dim + self.eps).to(t.dtype)
        w = self.qk_norm[:, which].view(STREAMS, 1, 1, 1, self.head_dim).to(t.dtype)
        return t * inv * w

    def _siamese(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """Both paths in one SDPA call. Returns x's combined (A_lr + lam A_ref), l's and r's
        attention outputs stacked: (3, B, N, D)."""
        _, B, N, H, Dh = q.shape

        def pairs(t: torch.Tensor) -> torch.Tensor:  # [x; l] and [x; r] -> (2B, H, 2N, Dh)
            return torch.stack([t[X], t[L], t[X], t[R]], dim=1).view(2 * B, 2 * N, H, Dh).transpose(1, 2)

        o = F.scaled_dot_product_attention(pairs(q), pairs(k), pairs(v))
        o = o.transpose(1, 2).reshape(B, 2, 2, N, H * Dh)  # (B, path, [x, cond], N, D)
        a_x = torch.addcmul(o[:, 0, 0], lam.view(B, 1, 1).to(o.dtype), o[:, 1, 0])
        return torch.stack([a_x, o[:, 0, 1], o[:, 1, 1]])

    def _joint(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lam: torch.Tensor, lam_is_one: bool
    ) -> torch.Tensor:
        """M3 attention over [x; l; r]; returns (3, B, N, D)."""
        _, B, N, H, Dh = q.shape

        def seq(t: torch.Tensor) -> torch.Tensor:  # (3, B, N, H, Dh) -> (B, H, 3N, Dh)
            return t.transpose(0, 1).reshape(B, 3 * N, H, Dh).transpose(1, 2)

        qs = seq(q)
        mask = None
        if not lam_is_one:
            mask = torch.zeros(B, 1, 3 * N, 3 * N, device=q.device, dtype=qs.dtype)
            mask[:, :, :N, 2 * N :] = torch.log(lam.float()).view(B, 1, 1, 1).to(qs.dtype)
        o = F.scaled_dot_product_attention(qs, seq(k), seq(v), attn_mask=mask)
        return o.transpose(1, 2).reshape(B, 3, N, H * Dh).transpose(0, 1)

    # -- forward -----------------------------------------------------------------------------
    def forward(
        self, s: torch.Tensor, c: torch.Tensor, lam: torch.Tensor, lam_is_one: bool = False,
        agreement: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """s (3, B, N, D) stacked streams; c (B, D) SiLU'd conditioning; lam (B,) ref scale;
        agreement (B, N, 1) token LR-vs-Ref agreement for a PLW gate built with it, else None.

        Returns the new streams (3, B, N, D) and alpha_ref (B, N) (PLW only, else None).
        """
        S, B, _, D = s.shape
        mod = self.ada(c.unsqueeze(0).expand(S, B, D)).unsqueeze(2)  # (3, B, 1, 6D)
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)

        q, k, v = self._qkv(modulated_norm(s, shift1, scale1, self.eps))
        if self.attention == "siamese":
            out = self.proj(self._siamese(q, k, v, lam), with_bias=False)
            ones = torch.ones_like(lam)
            bias_mult = torch.stack([1 + lam, ones, ones]).view(S, B, 1, 1)  # P_x's bias: 1 + lambda
            out.add_(self.proj.bias.view(S, 1, 1, D) * bias_mult.to(self.proj.bias.dtype))
        else:
            out = self.proj(self._joint(q, k, v, lam, lam_is_one))
        s = torch.addcmul(s, gate1, out)

        h = modulated_norm(s, shift2, scale2, self.eps)
        h = self.fc2(F.gelu(self.fc1(h), approximate=self.approximate))
        s = torch.addcmul(s, gate2, h)

        if self.injector is None:
            return s, None
        x, alpha_ref = self.injector(s[X], s[L], s[R], agreement)
        return torch.cat([x.unsqueeze(0), s[L:]], dim=0), alpha_ref


class PatchLevelWeighting(nn.Module):
    """PLW: per-token gate MLP over concat(l, r, x) (3D -> 3D/8 -> 3D/64 -> 2, SiLU between,
    last layer zero-initialised), softmax -> alpha_lr, alpha_ref; ``x + Z(alpha_lr l + alpha_ref r)``
    with Z a zero-initialised D -> D linear. Inputs (B, N, D); returns x (B, N, D), alpha_ref (B, N).

    agreement=True: the gate's first layer also gets [a, sqrt(a)] of the token's classical
    LR-vs-Ref agreement a (B, N, 1) (`model.agreement`) through a zero-initialised 2 -> 3D/8
    linear, so a model without it loads unchanged and starts from the same gate."""

    def __init__(self, dim: int, agreement: bool = False) -> None:
        super().__init__()
        h1, h2 = max(1, 3 * dim // 8), max(1, 3 * dim // 64)
        self.gate = nn.Sequential(
            nn.Linear(3 * dim, h1), nn.SiLU(), nn.Linear(h1, h2), nn.SiLU(), nn.Linear(h2, 2)
        )
        self.inject = nn.Linear(dim, dim)
        self.gate_agreement = zero_module(nn.Linear(2, h1, bias=False)) if agreement else None
        zero_module(self.gate[-1])
        zero_module(self.inject)

    def forward(self, x: torch.Tensor, l: torch.Tensor, r: torch.Tensor,
                agreement: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.gate[0](torch.cat([l, r, x], dim=-1))
        if self.gate_agreement is not None:
            if agreement is None:
                raise ValueError("this PLW gate needs the token agreement (B, N, 1)")
            a = agreement.to(h.dtype)
            h = h + self.gate_agreement(torch.cat([a, a.clamp_min(0).sqrt()], dim=-1))
        alpha = self.gate[1:](h).float().softmax(dim=-1).to(x.dtype)
        a_lr, a_ref = alpha[..., :1], alpha[..., 1:]
        fused = torch.addcmul(a_lr * l, a_ref, r)
        return x + self.inject(fused), a_ref.squeeze(-1)


class SeparateInjection(nn.Module):
    """Variant A: ``x + Z_l(l) + Z_r(r)`` with zero-initialised Z_l, Z_r."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.inject_lr = zero_module(nn.Linear(dim, dim))
        self.inject_ref = zero_module(nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor, l: torch.Tensor, r: torch.Tensor,
                agreement: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        return x + self.inject_lr(l) + self.inject_ref(r), None


class SumInjection(nn.Module):
    """Variant B: ``x + Z(l + r)`` with a zero-initialised Z."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.inject = zero_module(nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor, l: torch.Tensor, r: torch.Tensor,
                agreement: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        return x + self.inject(l + r), None


def make_injector(injection: str, dim: int, gate_agreement: bool = False) -> nn.Module | None:
    """The injection module for a config value (``none`` -> None); gate_agreement: PLW only."""
    if injection not in INJECTION_MODES:
        raise ValueError(f"injection must be one of {INJECTION_MODES}, got {injection!r}")
    if gate_agreement and injection != "plw":
        raise ValueError(f"gate_agreement needs injection 'plw', got {injection!r}")
    if injection == "plw":
        return PatchLevelWeighting(dim, agreement=gate_agreement)
    return {"separate": SeparateInjection, "sum": SumInjection}.get(injection, lambda d: None)(dim)


def zero_module(module: nn.Module) -> nn.Module:
    """Zero every parameter of ``module`` in place and mark it so the model's weight init keeps it
    at zero; returns it."""
    for p in module.parameters():
        nn.init.zeros_(p)
    module._zero_init = True
    return module
