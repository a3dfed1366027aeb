"""The token-level LR-vs-Ref agreement that a PLW gate may see (`model.agreement`)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dsdit_geo.model.agreement import token_agreement
from dsdit_geo.model.presets import build_model


def _scene(seed: int, size_px: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size_px // 8, size_px // 8, generator=g) * 1.6 - 0.8
    return F.interpolate(coarse, size=(size_px, size_px), mode="bicubic", align_corners=False)


@pytest.mark.parametrize("scale", [4.0, 8.0])
def test_agreement_is_high_for_the_same_scene_and_low_for_another(scale: float) -> None:
    hr, other = _scene(0), _scene(1)
    lr_hr = F.interpolate(F.avg_pool2d(hr, int(scale)), scale_factor=scale, mode="bicubic",
                          align_corners=False)
    both = token_agreement(torch.cat([lr_hr, lr_hr]), torch.cat([hr, other]),
                           torch.tensor([scale, scale]), 8)
    assert both.shape == (2, 64, 1) and bool(((both >= 0) & (both <= 1)).all())
    same, unrelated = both[0].mean(), both[1].mean()
    assert same > 0.8 and unrelated < 0.3


def test_agreement_changes_only_where_the_ref_changes() -> None:
    hr = _scene(2)
    changed = hr.clone()
    changed[..., :24, :24] = -hr[..., :24, :24]  # the top-left corner differs
    a = token_agreement(torch.cat([hr, hr]), torch.cat([hr, changed]), torch.tensor([4.0, 4.0]), 8)
    grid = a[:, :, 0].view(2, 8, 8)
    assert grid[1, :2, :2].mean() < 0.3 < 0.9 < grid[1, 5:, 5:].min()
    assert torch.allclose(grid[0], torch.ones_like(grid[0]))


def test_a_gated_model_needs_the_scale_and_starts_as_the_plain_model() -> None:
    plain = build_model("tiny", seed=0, scale_conditioning=True)
    gated = build_model("tiny", seed=0, scale_conditioning=True, gate_agreement=True)
    gated.load_state_dict(plain.state_dict(), strict=False)
    g = torch.Generator().manual_seed(3)
    x, lr, ref = (torch.randn(2, 3, 32, 32, generator=g) for _ in range(3))
    a = plain(x, lr, ref, 0.5, scale=4.0, return_trust=True)
    b = gated(x, lr, ref, 0.5, scale=4.0, return_trust=True)
    assert torch.equal(a.velocity, b.velocity) and torch.equal(a.trust, b.trust)
    unconditioned = build_model("tiny", seed=0, scale_conditioning=False, gate_agreement=True)
    with pytest.raises(ValueError, match="needs the scale"):
        unconditioned(x, lr, ref, 0.5)
    with pytest.raises(ValueError, match="needs injection 'plw'"):
        build_model("tiny", seed=0, injection="sum", gate_agreement=True)
