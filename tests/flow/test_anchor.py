"""The fusion anchor (hpf of LR and Ref) and the training trust target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dsdit_geo.flow.anchor import anchor_context_px, fusion_anchor
from dsdit_geo.train.degrade import degrade_to_lr, lr_on_hr_grid
from dsdit_geo.train.trust import (
    change_aware_patch_target,
    change_ranking_loss,
    patch_target,
    trust_loss,
    trust_target,
)


def _scene(seed: int, size: int = 96) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    img = gaussian_filter(rng.random((3, size, size)), (0, 1.5, 1.5))
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).square().mean()))


def test_anchor_uses_a_perfect_ref_and_ignores_a_flat_or_unrelated_one():
    scale = 4.0
    hr = _scene(0)
    lr_hr = torch.from_numpy(lr_on_hr_grid(degrade_to_lr(hr, scale), scale, hr.shape[1:]))[None]
    hr_t = torch.from_numpy(hr)[None]
    anchor, weight = fusion_anchor(lr_hr, hr_t, scale)
    assert _psnr(anchor, hr_t) > _psnr(lr_hr, hr_t) + 3
    assert float(weight.mean()) > 0.5
    flat, w_flat = fusion_anchor(lr_hr, torch.full_like(hr_t, 0.5), scale)
    assert torch.allclose(flat, lr_hr, atol=1e-6)
    other, w_other = fusion_anchor(lr_hr, torch.from_numpy(_scene(7))[None], scale)
    assert float(w_other.mean()) < 0.1 and _psnr(other, hr_t) > _psnr(lr_hr, hr_t) - 0.3
    assert anchor_context_px(10.0) > anchor_context_px(4.0) > 0


def test_anchor_per_sample_scales_match_single_calls():
    hr = torch.from_numpy(np.stack([_scene(1), _scene(2)]))
    lr = hr.flip(-1)
    both, _ = fusion_anchor(lr, hr, torch.tensor([4.0, 8.0]))
    one, _ = fusion_anchor(lr[1:], hr[1:], 8.0)
    assert torch.equal(both[1:], one)


def test_trust_target_is_high_for_the_truth_and_low_for_another_place():
    hr = torch.from_numpy(_scene(3))[None]
    same = trust_target(hr, hr, 4.0)
    other = trust_target(hr, torch.from_numpy(_scene(4))[None], 4.0)
    assert same.shape == (1, 1, 96, 96)
    assert float(same.min()) > 0.99 and float(other.mean()) < 0.3
    assert patch_target(same, 8).shape == (1, 1, 12, 12)


def test_change_aware_target_is_zero_on_changed_pixels_and_weighs_changed_patches_more():
    target = torch.full((1, 1, 16, 16), 0.8)
    change = torch.zeros(1, 1, 16, 16)
    change[..., :8, :8] = 1.0  # one patch wholly changed
    change[..., 8:, 8:12] = 1.0  # one half changed
    patch, weight = change_aware_patch_target(target, change, 8, change_weight=3.0)
    assert patch.shape == weight.shape == (1, 1, 2, 2)
    assert torch.allclose(patch[0, 0], torch.tensor([[0.0, 0.8], [0.8, 0.4]]))
    assert torch.allclose(weight[0, 0], torch.tensor([[4.0, 1.0], [1.0, 2.5]]))
    unchanged, ones = change_aware_patch_target(target, torch.zeros_like(change), 8, 3.0)
    assert torch.equal(unchanged, patch_target(target, 8)) and torch.equal(ones, torch.ones_like(ones))


def test_change_ranking_loss_asks_for_a_margin_between_unchanged_and_changed_patches():
    change = torch.zeros(2, 1, 16, 16)
    change[0, :, :8, :8] = 1.0  # sample 0: one changed patch, three unchanged
    change[1] = 1.0  # sample 1: changed everywhere (an unrelated Ref): left out
    trust = torch.full((2, 1, 2, 2), 0.5)
    assert float(change_ranking_loss(trust, change, 8, margin=0.2)) == pytest.approx(0.2)
    trust[0, 0, 0, 0] = 0.2  # changed patch 0.3 below the others: margin met
    assert float(change_ranking_loss(trust, change, 8, margin=0.2)) == 0.0
    assert float(change_ranking_loss(trust, torch.zeros_like(change), 8, 0.2)) == 0.0
    level = torch.full((2, 1, 2, 2), 0.5, requires_grad=True)
    change_ranking_loss(level, change, 8, 0.2).backward()
    assert float(level.grad[0, 0, 0, 0]) > 0 and float(level.grad[0, 0, 1, 1]) < 0
    assert float(level.grad[1].abs().sum()) == 0.0


def test_trust_loss_is_the_patch_mse_against_the_powered_and_change_aware_target():
    hr = torch.from_numpy(_scene(3))[None]
    ref = torch.from_numpy(_scene(4))[None]
    trust = torch.full((1, 1, 12, 12), 0.5)
    target_px = trust_target(hr, ref, 4.0)
    plain = (trust - patch_target(target_px, 8)).square().mean()
    assert torch.allclose(trust_loss(trust, hr, ref, 4.0, 8), plain)
    rooted = (trust - patch_target(target_px.sqrt(), 8)).square().mean()
    assert torch.allclose(trust_loss(trust, hr, ref, 4.0, 8, power=0.5), rooted)
    change = torch.zeros(1, 1, 96, 96)
    assert torch.allclose(trust_loss(trust, hr, ref, 4.0, 8, change=change, change_weight=2.0), plain)
    change[..., :48, :] = 1.0  # half changed: target 0 there, and those patches weigh 3
    weighted = torch.cat([torch.full((6, 12), 3.0), torch.ones(6, 12)])[None, None]
    masked = patch_target(target_px * (1 - change), 8)
    expected = (weighted * (trust - masked).square()).mean()
    assert torch.allclose(trust_loss(trust, hr, ref, 4.0, 8, change=change, change_weight=2.0), expected)
