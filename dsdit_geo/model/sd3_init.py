"""Initialise DS-DiT from a local SD3 transformer checkpoint (never downloads).

The paper builds DS-DiT on SD3-Medium's MM-DiT blocks and initialises the noisy branch and both
siamese condition branches from SD3's *denoising-branch* block weights. Here block i of every
stream (x, l, r) gets SD3 block ``layers[i]``'s image-branch weights: adaLN (norm1; SD3.5's
extra attn2 modulation rows are dropped), Q/K/V (fused), QK RMS-norm, output projection and MLP;
the timestep MLP is copied too when its shape matches. Patch embeddings, PLW / injection and the
final layer keep their own initialisation (pixel space differs from SD3's latent space).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open

from dsdit_geo.errors import ModelError
from dsdit_geo.model.blocks import STREAMS
from dsdit_geo.model.transformer import DSDiTTransformer

_WEIGHTS = "diffusion_pytorch_model.safetensors"
_INDEX = "diffusion_pytorch_model.safetensors.index.json"


class _Checkpoint:
    """Lazy tensor access to a (possibly sharded) diffusers safetensors checkpoint."""

    def __init__(self, folder: Path) -> None:
        if (folder / _INDEX).is_file():
            index = json.loads((folder / _INDEX).read_text())["weight_map"]
            self.files = {k: folder / v for k, v in index.items()}
        elif (folder / _WEIGHTS).is_file():
            with safe_open(str(folder / _WEIGHTS), framework="pt") as f:
                self.files = {k: folder / _WEIGHTS for k in f.keys()}  # noqa: SIM118 (not a dict)
        else:
            raise ModelError(f"no {_WEIGHTS} (or sharded index) in SD3 folder {folder}")

    def __contains__(self, key: str) -> bool:
        return key in self.files

    def get(self, key: str) -> torch.Tensor:
        if key not in self.files:
            raise ModelError(f"SD3 checkpoint lacks tensor {key!r}")
        with safe_open(str(self.files[key]), framework="pt") as f:
            return f.get_tensor(key).float()


def _find_folder(sd3_dir: str | Path) -> Path:
    """The folder holding the transformer's config.json (the dir itself or its transformer/)."""
    root = Path(sd3_dir)
    for cand in (root, root / "transformer"):
        if (cand / "config.json").is_file():
            return cand
    raise ModelError(f"no SD3 transformer config.json in {root} (or {root / 'transformer'})")


def init_from_sd3(
    model: DSDiTTransformer,
    sd3_dir: str | Path,
    *,
    layers: Sequence[int] | None = None,
    copy_time_embedding: bool = True,
) -> dict[str, object]:
    """Copy SD3 denoising-branch block weights into every stream of ``model``, in place.

    sd3_dir: a local ``SD3Transformer2DModel`` folder (config.json + safetensors) or a pipeline
    folder with ``transformer/``. layers: which SD3 block feeds each DS-DiT block (default the
    first ``depth``). Raises ModelError on any geometry mismatch. Returns a short report.
    """
    folder = _find_folder(sd3_dir)
    sd3 = json.loads((folder / "config.json").read_text())
    cfg = model.config
    heads, head_dim = int(sd3.get("num_attention_heads", 0)), int(sd3.get("attention_head_dim", 0))
    d = heads * head_dim
    if d != cfg.hidden_dim or heads != cfg.num_heads:
        raise ModelError(
            f"SD3 width {d} ({heads} heads x {head_dim}) does not match the model's hidden_dim "
            f"{cfg.hidden_dim} with {cfg.num_heads} heads"
        )
    n_sd3 = int(sd3.get("num_layers", 0))
    layers = list(range(cfg.depth)) if layers is None else [int(i) for i in layers]
    if len(layers) != cfg.depth or any(not 0 <= i < n_sd3 for i in layers):
        raise ModelError(f"need {cfg.depth} SD3 layers within 0..{n_sd3 - 1}, got {layers}")
    sd3_qk = sd3.get("qk_norm")
    if bool(sd3_qk) != bool(cfg.qk_norm):
        raise ModelError(f"SD3 qk_norm={sd3_qk!r} but the model has qk_norm={cfg.qk_norm}: set them alike")
    if sd3_qk not in (None, "rms_norm"):
        raise ModelError(f"SD3 qk_norm {sd3_qk!r} is not supported (only rms_norm)")

    ckpt = _Checkpoint(folder)
    with torch.no_grad():
        for i, j in enumerate(layers):
            _copy_block(model, i, f"transformer_blocks.{j}.", ckpt, d)
        copied_time = False
        if copy_time_embedding:
            pre = "time_text_embed.timestep_embedder."
            w1 = ckpt.get(pre + "linear_1.weight") if pre + "linear_1.weight" in ckpt else None
            if w1 is not None and w1.shape == model.time_embed.linear_1.weight.shape:
                for name in ("linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias"):
                    dst = model.time_embed.get_parameter(name)
                    dst.copy_(ckpt.get(pre + name).to(dst.dtype))
                copied_time = True
    return {"sd3_dir": str(folder), "layers": layers, "time_embedding": copied_time}


def _copy_block(model: DSDiTTransformer, i: int, pre: str, ckpt: _Checkpoint, d: int) -> None:
    """Fill every stream of model.blocks[i] from the SD3 image-branch tensors under ``pre``."""
    blk = model.blocks[i]

    def put(param: torch.nn.Parameter, src: torch.Tensor, what: str, transpose: bool = False) -> None:
        """Copy ``src`` (SD3 layout) into every stream; StreamLinear weights are stored (in, out)."""
        want = tuple(param.shape[1:])
        if transpose:
            want_sd3, src = want[::-1], src.T
        if tuple(src.shape) != want:
            got = tuple(src.T.shape) if transpose else tuple(src.shape)
            raise ModelError(f"SD3 {pre}{what} has shape {got}, block {i} needs {want_sd3 if transpose else want}")
        param.copy_(src.to(param.dtype).unsqueeze(0).expand(STREAMS, *want))

    ada_w, ada_b = ckpt.get(pre + "norm1.linear.weight"), ckpt.get(pre + "norm1.linear.bias")
    if ada_w.shape[0] not in (6 * d, 9 * d):
        raise ModelError(f"SD3 {pre}norm1.linear has {ada_w.shape[0]} rows, expected {6 * d} (or {9 * d})")
    # SD3.5 dual-attention layers carry 3 more (attn2) rows: dropped
    put(blk.ada.weight, ada_w[: 6 * d], "norm1.linear.weight", transpose=True)
    put(blk.ada.bias, ada_b[: 6 * d], "norm1.linear.bias")
    qkv = [ckpt.get(f"{pre}attn.to_{n}.weight") for n in "qkv"]
    put(blk.qkv.weight, torch.cat(qkv), "attn.to_{q,k,v}.weight", transpose=True)
    put(blk.qkv.bias, torch.cat([ckpt.get(f"{pre}attn.to_{n}.bias") for n in "qkv"]), "attn.to_{q,k,v}.bias")
    if blk.qk_norm is not None:
        qk = torch.stack([ckpt.get(pre + "attn.norm_q.weight"), ckpt.get(pre + "attn.norm_k.weight")])
        put(blk.qk_norm, qk, "attn.norm_{q,k}.weight")
    put(blk.proj.weight, ckpt.get(pre + "attn.to_out.0.weight"), "attn.to_out.0.weight", transpose=True)
    put(blk.proj.bias, ckpt.get(pre + "attn.to_out.0.bias"), "attn.to_out.0.bias")
    put(blk.fc1.weight, ckpt.get(pre + "ff.net.0.proj.weight"), "ff.net.0.proj.weight", transpose=True)
    put(blk.fc1.bias, ckpt.get(pre + "ff.net.0.proj.bias"), "ff.net.0.proj.bias")
    put(blk.fc2.weight, ckpt.get(pre + "ff.net.2.weight"), "ff.net.2.weight", transpose=True)
    put(blk.fc2.bias, ckpt.get(pre + "ff.net.2.bias"), "ff.net.2.bias")
