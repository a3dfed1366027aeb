"""The LR's sharpness relative to the Ref tells a sharp LR from a blurry one of the same scene,
whatever the scene, and says nothing when it cannot (a flat Ref, too few pixels)."""

import numpy as np
import pytest
from scipy import ndimage

from dsdit_geo.lr_sharpness import MIN_PIXELS, blurry_weight, relative_sharpness, usable_pixels


def _scene(seed: int, size_px: int = 512) -> np.ndarray:
    """(H, W) a textured HR scene: noise with a natural-image-like falling spectrum."""
    rng = np.random.default_rng(seed)
    return sum(ndimage.gaussian_filter(rng.normal(size=(size_px, size_px)), s) * s for s in (1, 2, 4, 8))


def _area(hr: np.ndarray, scale: int) -> np.ndarray:
    h, w = hr.shape
    return hr.reshape(h // scale, scale, w // scale, scale).mean(axis=(1, 3))


def _m(lr: np.ndarray, ref_on_lr: np.ndarray) -> float | None:
    return relative_sharpness([(lr, ref_on_lr, np.ones(lr.shape, bool))])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_area_sampled_lr_is_sharp_and_a_blurred_one_is_not(seed):
    hr = _scene(seed)
    ref_on_lr = _area(_scene(seed + 10) * 0.2 + hr, 8)  # another date: mostly the same scene
    sharp = _m(_area(hr, 8), ref_on_lr)
    blurry = _m(_area(ndimage.gaussian_filter(hr, 0.4 * 8), 8), ref_on_lr)
    assert 0.9 < sharp < 1.1
    assert blurry < 0.8
    assert blurry_weight(sharp, (0.8, 0.9)) == 0.0 and blurry_weight(blurry, (0.8, 0.9)) == 1.0


def test_the_measure_ignores_brightness_and_contrast():
    hr = _scene(3)
    lr, ref = _area(ndimage.gaussian_filter(hr, 2.0), 8), _area(hr, 8)
    assert _m(lr, ref) == pytest.approx(_m(3.0 * lr + 7.0, 0.5 * ref - 1.0), rel=1e-6)


def test_no_measure_without_ref_detail_or_pixels():
    lr = _area(_scene(4), 8)
    assert _m(lr, np.full_like(lr, 0.5)) is None  # a flat Ref
    small = lr[:12, :12]  # after the filter support is taken off, too few pixels
    assert usable_pixels(np.ones(small.shape, bool)).sum() < MIN_PIXELS
    assert _m(small, small) is None
    assert relative_sharpness([]) is None


def test_invalid_pixels_are_never_counted():
    hr = _scene(5)
    lr, ref = _area(ndimage.gaussian_filter(hr, 2.0), 8), _area(hr, 8)
    valid = np.ones(lr.shape, bool)
    valid[:, 40:] = False
    holed_lr = lr.copy()
    holed_lr[:, 40:] = np.nan
    holed_ref = ref.copy()
    holed_ref[:, 40:] = 1e6  # garbage where invalid
    got = relative_sharpness([(holed_lr, holed_ref, valid)])
    assert got == pytest.approx(_m(lr[:, :40], ref[:, :40]), rel=1e-9)


def test_windows_pool_their_energies():
    hr = _scene(6)
    lr, ref = _area(ndimage.gaussian_filter(hr, 1.5), 8), _area(hr, 8)
    ones = np.ones((32, 64), bool)
    pooled = relative_sharpness([(lr[:32], ref[:32], ones), (lr[32:], ref[32:], ones)])
    assert min(_m(lr[:32], ref[:32]), _m(lr[32:], ref[32:])) <= pooled
    assert pooled <= max(_m(lr[:32], ref[:32]), _m(lr[32:], ref[32:]))


def test_the_blurry_weight_is_a_clipped_ramp():
    ramp = (0.8, 0.9)
    assert [blurry_weight(m, ramp) for m in (0.5, 0.8, 0.85, 0.9, 1.2)] == pytest.approx([1, 1, 0.5, 0, 0])
    assert blurry_weight(None, ramp) == 0.0
    with pytest.raises(ValueError, match="0 < blurry < sharp"):
        blurry_weight(0.85, (0.9, 0.8))
