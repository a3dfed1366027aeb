"""Ref augmentation and synthesis, crop geometry."""

from __future__ import annotations

import numpy as np

from dsdit_geo.train.crops import choose_crop, dihedral, reflect_indices, take_region
from dsdit_geo.train.refaug import (
    IDENTITY_LOOK,
    RefAugConfig,
    augment_real_ref,
    draw_look,
    draw_shift_px,
    paste_changes,
    photometric_jitter,
    seasonal_shift,
    synthesize_ref,
    vegetation_weight,
)


def _image(seed: int = 0, size: int = 80) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 0.9, (3, size, size)).astype(np.float32)


def _donor(h: int, w: int) -> np.ndarray:
    return np.zeros((3, h, w), np.float32)


def test_photometric_and_seasonal_keep_range_and_shape() -> None:
    img = _image()
    rng = np.random.default_rng(0)
    for _ in range(20):
        for out in (photometric_jitter(img, rng), seasonal_shift(img, rng)):
            assert out.shape == img.shape and out.dtype == np.float32
            assert out.min() >= 0 and out.max() <= 1
    assert not np.allclose(photometric_jitter(img, rng), img)
    np.testing.assert_array_equal(IDENTITY_LOOK.apply(img), img)


def test_seasonal_shift_moves_vegetation_only() -> None:
    img = np.zeros((3, 10, 20), np.float32)
    img[:, :, :10] = np.array([0.2, 0.5, 0.2]).reshape(3, 1, 1)  # green
    img[:, :, 10:] = 0.5                                           # grey
    assert vegetation_weight(img)[:, :10].min() == 1 and vegetation_weight(img)[:, 10:].max() == 0
    look = draw_look(np.random.default_rng(3), None, 1.0)
    out = look.apply(img)
    veg_change = np.abs(out[:, :, :10] - img[:, :, :10]).max()
    grey_change = np.abs(out[:, :, 10:] - img[:, :, 10:]).max()
    assert veg_change > grey_change


def test_paste_changes_marks_changed_pixels() -> None:
    img = _image()
    rng = np.random.default_rng(1)
    out, changed = paste_changes(img, rng, _donor, focus=(20, 20, 40, 40), count=(3, 3))
    assert changed.any() and changed.dtype == bool
    diff = np.abs(out - img).max(axis=0)
    assert np.all(diff[~_dilate(changed)] == 0)
    assert np.median(diff[changed]) > 0.05


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3 x 3 dilation."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    rows = out.copy()
    out[:, 1:] |= rows[:, :-1]
    out[:, :-1] |= rows[:, 1:]
    return out


def test_synthesize_and_augment_return_masks_and_looks() -> None:
    img = _image()
    rng = np.random.default_rng(2)
    cfg = RefAugConfig(synth_p_paste=1.0, real_p_paste=1.0)
    syn = synthesize_ref(img, rng, _donor, None, cfg)
    assert syn.ref.shape == img.shape and syn.changed.any() and syn.look is not IDENTITY_LOOK
    real = augment_real_ref(img, rng, _donor, None, cfg)
    assert real.changed.any()
    off = RefAugConfig(real_p_photometric=0, real_p_seasonal=0, real_p_paste=0)
    same = augment_real_ref(img, rng, _donor, None, off)
    np.testing.assert_allclose(same.ref, img)
    assert not same.changed.any()


def test_shift_bounds() -> None:
    rng = np.random.default_rng(0)
    shifts = np.array([draw_shift_px(rng, 3) for _ in range(500)])
    assert shifts.min() == -3 and shifts.max() == 3
    assert draw_shift_px(rng, 0) == (0, 0)


def test_region_reflects_beyond_edges() -> None:
    img = np.arange(5)[None, None, :].repeat(3, axis=1)  # (1, 3, 5)
    np.testing.assert_array_equal(reflect_indices(-2, 9, 5), [1, 0, 0, 1, 2, 3, 4, 4, 3])
    region = take_region(img, -1, -2, 3, 9)
    np.testing.assert_array_equal(region[0, 0], [1, 0, 0, 1, 2, 3, 4, 4, 3])
    inside = take_region(img, 0, 1, 2, 3)
    inside[:] = -1
    assert img.min() == 0  # a copy


def test_dihedral_is_the_same_for_aligned_arrays() -> None:
    img = np.random.default_rng(0).random((3, 8, 8))
    mask = (img[:1] > 0.5)
    for turns in range(4):
        for flip in (False, True):
            out_img, out_mask = dihedral(img, turns, flip), dihedral(mask, turns, flip)
            np.testing.assert_array_equal(out_img[:1] > 0.5, out_mask)
    assert dihedral(img, 4, False).tobytes() == img.tobytes()


def test_choose_crop_prefers_valid_areas() -> None:
    valid = np.zeros((100, 100), bool)
    valid[:, 50:] = True
    rng = np.random.default_rng(0)
    for _ in range(20):
        top, left = choose_crop(rng, valid, 40, min_valid=0.98, tries=50)
        assert left >= 49
    assert choose_crop(rng, np.ones((10, 10), bool), 40) == (0, 0)
