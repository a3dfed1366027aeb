"""init_from_sd3 on a tiny randomly initialised SD3Transformer2DModel saved in tmp (no download)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from diffusers import SD3Transformer2DModel

from dsdit_geo.errors import ModelError
from dsdit_geo.model import build_model
from dsdit_geo.model.blocks import L, R, X
from dsdit_geo.model.sd3_init import init_from_sd3

HEADS, HEAD_DIM, LAYERS = 2, 16, 3


def _tiny_sd3(path, qk_norm="rms_norm", tie_context=True):
    torch.manual_seed(0)
    sd3 = SD3Transformer2DModel(
        sample_size=16, patch_size=2, in_channels=4, num_layers=LAYERS, attention_head_dim=HEAD_DIM,
        num_attention_heads=HEADS, joint_attention_dim=32, caption_projection_dim=HEADS * HEAD_DIM,
        pooled_projection_dim=32, out_channels=4, pos_embed_max_size=32, qk_norm=qk_norm,
    )
    with torch.no_grad():
        for p in sd3.parameters():  # random everywhere (SD3 zero-inits nothing we copy, but be sure)
            p.add_(torch.randn_like(p) * 0.1)
        if tie_context:  # context branch = image branch, so a block is a symmetric joint attention
            for blk in sd3.transformer_blocks[:-1]:
                blk.norm1_context.linear.load_state_dict(blk.norm1.linear.state_dict())
                for a, b in (("to_q", "add_q_proj"), ("to_k", "add_k_proj"), ("to_v", "add_v_proj")):
                    getattr(blk.attn, b).load_state_dict(getattr(blk.attn, a).state_dict())
                blk.attn.norm_added_q.load_state_dict(blk.attn.norm_q.state_dict())
                blk.attn.norm_added_k.load_state_dict(blk.attn.norm_k.state_dict())
    sd3.save_pretrained(path)
    return sd3


def _model(**kw):
    cfg = {"hidden_dim": HEADS * HEAD_DIM, "num_heads": HEADS, "depth": 2, "mlp_ratio": 4.0, "activation": "gelu_tanh"}
    return build_model("tiny", seed=0, **{**cfg, **kw})


def test_weights_copied_into_every_stream(tmp_path):
    sd3 = _tiny_sd3(tmp_path)
    model = _model()
    report = init_from_sd3(model, tmp_path, layers=[2, 0])
    assert report["layers"] == [2, 0] and report["time_embedding"]
    for i, j in enumerate([2, 0]):
        blk, ref = model.blocks[i], sd3.transformer_blocks[j]
        qkv = torch.cat([ref.attn.to_q.weight, ref.attn.to_k.weight, ref.attn.to_v.weight])
        for s in (X, L, R):
            assert torch.equal(blk.ada.weight[s], ref.norm1.linear.weight.T)
            assert torch.equal(blk.qkv.weight[s], qkv.T)
            assert torch.equal(blk.proj.bias[s], ref.attn.to_out[0].bias)
            assert torch.equal(blk.fc2.weight[s], ref.ff.net[2].weight.T)
            assert torch.equal(blk.qk_norm[s, 1], ref.attn.norm_k.weight)
    assert torch.equal(model.time_embed.linear_2.weight, sd3.time_text_embed.timestep_embedder.linear_2.weight)
    # zero-initialised parts stay zero: a fresh model still predicts zero velocity
    x = torch.randn(1, 3, 16, 16)
    assert model(x, x, x, torch.tensor([0.5]), scale=4.0).velocity.abs().max() == 0


def test_block_reproduces_sd3_image_branch(tmp_path):
    """With l = r = x tokens, lambda = 0 and no injection, block 0's x stream equals SD3 block 0's
    image output (its context branch tied to the image branch): the mapping is function-exact."""
    sd3 = _tiny_sd3(tmp_path)
    model = _model(injection="none")
    init_from_sd3(model, tmp_path)
    g = torch.Generator().manual_seed(1)
    tokens, temb = torch.randn(2, 10, HEADS * HEAD_DIM, generator=g), torch.randn(2, HEADS * HEAD_DIM, generator=g)
    with torch.no_grad():
        _, want = sd3.transformer_blocks[0](hidden_states=tokens, encoder_hidden_states=tokens, temb=temb)
        got, _ = model.blocks[0](torch.stack([tokens] * 3), F.silu(temb), torch.zeros(2))
    torch.testing.assert_close(got[X], want, atol=1e-5, rtol=1e-5)


def test_geometry_mismatch_is_a_model_error(tmp_path):
    _tiny_sd3(tmp_path, tie_context=False)
    with pytest.raises(ModelError, match="hidden_dim"):
        init_from_sd3(_model(hidden_dim=48, num_heads=2), tmp_path)
    with pytest.raises(ModelError, match="ff.net.0.proj"):
        init_from_sd3(_model(mlp_ratio=2.0), tmp_path)
    with pytest.raises(ModelError, match="layers"):
        init_from_sd3(_model(depth=4), tmp_path)
    with pytest.raises(ModelError, match="qk_norm"):
        init_from_sd3(_model(qk_norm=False), tmp_path)
    with pytest.raises(ModelError, match="config.json"):
        init_from_sd3(_model(), tmp_path / "missing")


def test_pipeline_folder_layout(tmp_path):
    _tiny_sd3(tmp_path / "transformer", tie_context=False)
    assert init_from_sd3(_model(), tmp_path)["sd3_dir"].endswith("transformer")
