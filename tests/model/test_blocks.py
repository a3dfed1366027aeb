"""Building blocks: the stacked per-stream linear (and its CPU thread-balancing path), injectors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dsdit_geo.model.blocks import (
    PatchLevelWeighting,
    SeparateInjection,
    StreamLinear,
    SumInjection,
    _row_split,
)


def _per_stream(lin: StreamLinear, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([F.linear(x[s], lin.weight[s].T, lin.bias[s]) for s in range(lin.streams)])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_stream_linear_equals_one_linear_per_stream(threads):
    torch.set_num_threads(threads)  # the autouse fixture restores the count
    g = torch.Generator().manual_seed(0)
    lin = StreamLinear(3, 24, 40)
    with torch.no_grad():
        lin.bias.normal_(generator=g)
    x = torch.randn(3, 2, 128, 24, generator=g)
    assert _row_split(x.reshape(3, -1, 24)) == {1: 1, 2: 2, 3: 1}[threads]  # 3 streams x k chunks over threads
    with torch.no_grad():
        torch.testing.assert_close(lin(x), _per_stream(lin, x), atol=1e-5, rtol=1e-5)
        lin.weight.mul_(2)  # in-place change must invalidate the cached split weight
        torch.testing.assert_close(lin(x), _per_stream(lin, x), atol=1e-5, rtol=1e-5)
    x.requires_grad_(True)
    y = lin(x)
    y.square().sum().backward()
    gw = lin.weight.grad.clone()
    lin.weight.grad = None
    _per_stream(lin, x).square().sum().backward()
    torch.testing.assert_close(gw, lin.weight.grad, atol=1e-3, rtol=1e-5)


def test_zero_init_survives_reset():
    lin = StreamLinear(3, 8, 8).zero_()
    lin.reset_parameters()
    assert lin.weight.abs().max() == 0 and lin.bias.abs().max() == 0


@pytest.mark.parametrize("cls", [PatchLevelWeighting, SeparateInjection, SumInjection])
def test_fresh_injectors_are_identity_on_x(cls):
    g = torch.Generator().manual_seed(0)
    x, l, r = (torch.randn(2, 5, 16, generator=g) for _ in range(3))
    out, alpha = cls(16)(x, l, r)
    assert torch.equal(out, x)
    if cls is PatchLevelWeighting:
        assert alpha.shape == (2, 5) and torch.equal(alpha, torch.full_like(alpha, 0.5))
    else:
        assert alpha is None


def test_plw_weights_are_a_softmax_over_the_two_sources():
    g = torch.Generator().manual_seed(0)
    plw = PatchLevelWeighting(64)
    with torch.no_grad():
        for p in plw.parameters():
            p.normal_(generator=g).mul_(0.1)
    x, l, r = (torch.randn(2, 7, 64, generator=g) for _ in range(3))
    out, a_ref = plw(x, l, r)
    assert a_ref.shape == (2, 7) and bool(((a_ref > 0) & (a_ref < 1)).all())
    expected = x + plw.inject((1 - a_ref[..., None]) * l + a_ref[..., None] * r)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    # the gate is 3D -> 3D/8 -> 3D/64 -> 2
    assert [m.out_features for m in plw.gate if isinstance(m, torch.nn.Linear)] == [24, 3, 2]


def test_plw_agreement_input_starts_at_zero_and_then_moves_the_gate():
    g = torch.Generator().manual_seed(0)
    plain, gated = PatchLevelWeighting(64), PatchLevelWeighting(64, agreement=True)
    with torch.no_grad():
        for p in plain.parameters():
            p.normal_(generator=g).mul_(0.1)
    gated.load_state_dict(plain.state_dict(), strict=False)
    x, l, r = (torch.randn(2, 7, 64, generator=g) for _ in range(3))
    low, high = torch.zeros(2, 7, 1), torch.ones(2, 7, 1)
    _, a_plain = plain(x, l, r)
    _, a_low = gated(x, l, r, low)
    assert torch.equal(a_low, a_plain)  # zero-initialised: the same gate as without it
    with torch.no_grad():
        gated.gate_agreement.weight.normal_(generator=g)
    assert not torch.allclose(gated(x, l, r, low)[1], gated(x, l, r, high)[1])
    with pytest.raises(ValueError, match="needs the token agreement"):
        gated(x, l, r)


def _reference_block(blk, s, c, lam):
    """The block's equations written out plainly, stream by stream (paper eqs. 3-7, DESIGN.md §2)."""
    S, B, N, D = s.shape
    H, Dh = blk.num_heads, D // blk.num_heads

    def lin(layer, x, i):
        return x @ layer.weight[i] + layer.bias[i]

    def mod_ln(x, shift, scale):
        return F.layer_norm(x, (D,), eps=1e-6) * (1 + scale[:, None]) + shift[:, None]

    def rms(t, w):
        return t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6) * w

    def attend(idx, bias=None):  # joint attention over the streams in idx, concatenated
        q = torch.cat([qs[i] for i in idx], 1).transpose(1, 2)
        k = torch.cat([ks[i] for i in idx], 1).transpose(1, 2)
        v = torch.cat([vs[i] for i in idx], 1).transpose(1, 2)
        logits = q @ k.transpose(-1, -2) / Dh**0.5
        if bias is not None:
            logits = logits + bias
        o = logits.softmax(-1) @ v
        return o.transpose(1, 2).reshape(B, len(idx) * N, D)

    mods = [lin(blk.ada, c, i).chunk(6, -1) for i in range(S)]
    qkv = [lin(blk.qkv, mod_ln(s[i], mods[i][0], mods[i][1]), i).view(B, N, 3, H, Dh) for i in range(S)]
    qs = [rms(qkv[i][:, :, 0], blk.qk_norm[i, 0]) for i in range(S)]
    ks = [rms(qkv[i][:, :, 1], blk.qk_norm[i, 1]) for i in range(S)]
    vs = [qkv[i][:, :, 2] for i in range(S)]
    lam3 = lam.view(B, 1, 1)
    if blk.attention == "siamese":
        o_lr, o_ref = attend([0, 1]), attend([0, 2])
        upd = [
            lin(blk.proj, o_lr[:, :N], 0) + lam3 * lin(blk.proj, o_ref[:, :N], 0),
            lin(blk.proj, o_lr[:, N:], 1),
            lin(blk.proj, o_ref[:, N:], 2),
        ]
    else:
        bias = torch.zeros(B, 1, 3 * N, 3 * N)
        bias[:, :, :N, 2 * N :] = torch.log(lam).view(B, 1, 1, 1)
        o = attend([0, 1, 2], bias)
        upd = [lin(blk.proj, o[:, i * N : (i + 1) * N], i) for i in range(S)]
    out = []
    for i in range(S):
        t = s[i] + mods[i][2][:, None] * upd[i]
        h = lin(blk.fc2, F.gelu(lin(blk.fc1, mod_ln(t, mods[i][3], mods[i][4]), i)), i)
        out.append(t + mods[i][5][:, None] * h)
    x, l, r = out
    alpha = blk.injector.gate(torch.cat([l, r, x], -1)).softmax(-1)
    x = x + blk.injector.inject(alpha[..., :1] * l + alpha[..., 1:] * r)
    return torch.stack([x, l, r]), alpha[..., 1]


@pytest.mark.parametrize("attention", ["siamese", "joint"])
def test_block_matches_plain_reference(attention):
    from dsdit_geo.model.blocks import DSDiTBlock

    torch.manual_seed(0)
    blk = DSDiTBlock(32, 2, mlp_ratio=2.0, attention=attention, injection="plw")
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in blk.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        s, c = torch.randn(3, 2, 12, 32, generator=g), torch.randn(2, 32, generator=g)
        lam = torch.tensor([1.0, 0.3])
        got, a_got = blk(s, c, lam)
        want, a_want = _reference_block(blk, s, c, lam)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a_got, a_want, atol=1e-5, rtol=1e-4)
