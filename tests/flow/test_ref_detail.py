"""Trust-gated Ref detail (dsdit_geo.flow.ref_detail): the gain schedule and the injection."""

import pytest
import torch

from dsdit_geo.flow.ref_detail import gain_at_scale, inject_ref_detail, ref_detail_context_px
from dsdit_geo.upscalers.classical import gaussian_blur, gaussian_kernel


@pytest.mark.parametrize(
    ("scale", "gain"), [(2.0, 0.0), (4.0, 0.0), (6.0, 0.25), (8.0, 0.5), (10.0, 0.5)]
)
def test_gain_is_linear_between_the_points_and_held_beyond_them(scale, gain):
    assert gain_at_scale(((8.0, 0.5), (4.0, 0.0)), scale) == pytest.approx(gain)


def test_one_point_is_the_same_gain_everywhere_and_none_is_off():
    assert gain_at_scale(((1.0, 0.3),), 2.0) == gain_at_scale(((1.0, 0.3),), 16.0) == pytest.approx(0.3)
    assert gain_at_scale((), 8.0) == 0.0


def _images(seed=0):
    g = torch.Generator().manual_seed(seed)
    hr, ref = torch.rand(2, 3, 40, 40, generator=g), torch.rand(2, 3, 40, 40, generator=g)
    return hr, ref


def test_full_trust_and_gain_one_swap_the_outputs_high_pass_for_the_refs():
    hr, ref = _images()
    trust = torch.ones(2, 1, 40, 40)
    kernel = gaussian_kernel(2.0)
    out = inject_ref_detail(hr, ref, trust, 1.0, 2.0)
    torch.testing.assert_close(out, gaussian_blur(hr, kernel) + ref - gaussian_blur(ref, kernel))


def test_no_trust_no_gain_or_the_output_as_ref_change_nothing():
    hr, ref = _images(1)
    trust = torch.rand(2, 1, 40, 40, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(inject_ref_detail(hr, ref, torch.zeros_like(trust), 0.7, 2.0), hr)
    assert inject_ref_detail(hr, ref, trust, 0.0, 2.0) is hr
    torch.testing.assert_close(inject_ref_detail(hr, hr.clone(), trust, 0.7, 2.0), hr)


def test_the_change_is_proportional_to_gain_times_trust():
    hr, ref = _images(3)
    trust = torch.zeros(2, 1, 40, 40)
    trust[..., :20] = 1.0
    half = inject_ref_detail(hr, ref, trust * 0.5, 1.0, 1.5) - hr
    torch.testing.assert_close(inject_ref_detail(hr, ref, trust, 0.5, 1.5) - hr, half)
    assert float(half[..., 20:].abs().max()) == 0.0 and float(half[..., :20].abs().mean()) > 1e-3


def test_context_is_the_kernel_radius_in_hr_px():
    assert ref_detail_context_px(0.25, 8.0) == 6
    assert ref_detail_context_px(0.125, 10.0) == 4


def test_a_blurry_lr_blends_in_the_blurry_schedule():
    from dsdit_geo.flow.ref_detail import gain_for_lr

    plain, blurry = ((4.0, 0.0), (8.0, 0.4)), ((4.0, 0.0), (8.0, 0.6))
    assert gain_for_lr(plain, blurry, 8.0, 0.0) == pytest.approx(0.4)
    assert gain_for_lr(plain, blurry, 8.0, 1.0) == pytest.approx(0.6)
    assert gain_for_lr(plain, blurry, 8.0, 0.5) == pytest.approx(0.5)
    assert gain_for_lr(plain, blurry, 4.0, 1.0) == 0.0  # both schedules give 0 at x4
    assert gain_for_lr(plain, (), 8.0, 1.0) == pytest.approx(0.4)  # no blurry schedule: off
