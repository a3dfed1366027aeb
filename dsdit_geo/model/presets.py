"""Named model sizes and an analytic FLOP count.

tiny   tests only (fast).
small  the CPU default: trained on 2 CPU cores, shipped; 38.7 MB fp32, 5.1 GFLOP per 128^2 tile.
base   GPU, patch 8.
large  GPU, SD3-Medium block geometry (D 1536, 24 heads, 24 blocks, GELU-tanh MLP x4), so
       ``init_from_sd3`` maps an SD3-Medium transformer onto it block for block (as the paper).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from dsdit_geo.model.transformer import DSDiTTransformer

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"patch_size": 4, "hidden_dim": 32, "depth": 2, "num_heads": 2, "mlp_ratio": 2.0},
    "small": {"patch_size": 8, "hidden_dim": 192, "depth": 5, "num_heads": 3, "mlp_ratio": 3.0},
    "base": {"patch_size": 8, "hidden_dim": 512, "depth": 12, "num_heads": 8, "mlp_ratio": 4.0},
    "large": {
        "patch_size": 16, "hidden_dim": 1536, "depth": 24, "num_heads": 24, "mlp_ratio": 4.0,
        "activation": "gelu_tanh",
    },
}


def preset_config(name: str, **overrides: Any) -> dict[str, Any]:
    """The config dict of preset ``name`` with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose from {sorted(PRESETS)}")
    return {**PRESETS[name], **overrides}


def build_model(name: str, *, seed: int | None = None, **overrides: Any) -> DSDiTTransformer:
    """A freshly initialised model of preset ``name``; ``seed`` makes the init reproducible
    without touching the global RNG state."""
    cfg = preset_config(name, **overrides)
    if seed is None:
        return DSDiTTransformer(**cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DSDiTTransformer(**cfg)


def forward_flops(config: Any, height: int, width: int, batch: int = 1) -> int:
    """Analytic FLOPs (2 per multiply-add) of one forward on (batch, C, height, width) tiles:
    every matmul and both attention products; elementwise ops are not counted."""
    cfg = {k: v.default for k, v in inspect.signature(DSDiTTransformer.__init__).parameters.items()}
    cfg.pop("self")
    cfg.update({k: v for k, v in dict(config).items() if k in cfg})
    p, c, d, depth = cfg["patch_size"], cfg["in_channels"], cfg["hidden_dim"], cfg["depth"]
    n = (height // p) * (width // p)
    hid = round(d * cfg["mlp_ratio"])
    pc = p * p * c
    per_token_stream = 3 * d * d + d * d + 2 * d * hid  # qkv, proj, mlp (MACs)
    block = 3 * n * per_token_stream
    # QK^T and AV: siamese = two attentions over 2N tokens, joint = one over 3N tokens
    block += 2 * (2 * n) ** 2 * d * 2 if cfg["attention"] == "siamese" else 2 * (3 * n) ** 2 * d
    h1, h2 = max(1, 3 * d // 8), max(1, 3 * d // 64)
    block += {
        "plw": n * (3 * d * h1 + h1 * h2 + 2 * h2 + d * d),
        "separate": 2 * n * d * d,
        "sum": n * d * d,
        "none": 0,
    }[cfg["injection"]]
    block += 3 * 6 * d * d  # adaLN (per sample)
    cond = (cfg["freq_channels"] * d + d * d) * (2 if cfg["scale_conditioning"] else 1)
    macs = 3 * n * pc * d + depth * block + 2 * d * d + n * d * pc + cond
    return 2 * batch * macs
