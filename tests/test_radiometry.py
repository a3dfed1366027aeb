import numpy as np
import pytest

from dsdit_geo.radiometry import BandScaling, cast_to_dtype, fit_gain_offset, scaling_for
from dsdit_geo.resample import downsample_average, upsample_cubic


def test_uint8_scaling_is_fixed():
    s = scaling_for("uint8", np.array([[3.0, 9.0]]))
    assert s.lo[0] == 0 and s.hi[0] == 255


def test_round_trip_uint16():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 10000, size=(4, 16, 16)).astype(np.uint16)
    s = scaling_for("uint16", values.reshape(4, -1).astype(float))
    back = s.from_model(s.to_model(values), "uint16")
    np.testing.assert_array_equal(back, values)


def test_flat_band_stays_invertible():
    s = scaling_for("int16", np.full((1, 10), 7.0))
    assert s.hi[0] > s.lo[0]


def test_cast_clips_and_rounds():
    out = cast_to_dtype(np.array([-3.2, 2.5001, 300.0]), "uint8")
    np.testing.assert_array_equal(out, [0, 3, 255])


def test_gain_offset_recovers_affine_map():
    rng = np.random.default_rng(1)
    lr = rng.random((3, 500))
    ref = (lr - 0.1) / 2.0
    go = fit_gain_offset(ref, lr)
    np.testing.assert_allclose(go.gain, 2.0, rtol=1e-9)
    np.testing.assert_allclose(go.apply(ref.reshape(3, 500, 1)).reshape(3, 500), lr, atol=1e-6)


def test_average_then_cubic_keeps_constant():
    hr = np.full((2, 64, 64), 0.3, np.float32)
    lr = downsample_average(hr, 4.0)
    assert lr.shape == (2, 16, 16)
    up = upsample_cubic(lr, 4.0, (64, 64))
    np.testing.assert_allclose(up, 0.3, atol=1e-6)


def test_downsample_rejects_tiny():
    with pytest.raises(ValueError):
        downsample_average(np.zeros((1, 3, 3), np.float32), 8.0)


def test_valid_range_of_integer_bands():
    from dsdit_geo.radiometry import valid_range

    lo, hi = valid_range("uint16", np.array([4095.0, 3000.0, 2048.0, 60000.0]), [None, None, None, None])
    assert lo.tolist() == [0, 0, 0, 0] and hi.tolist() == [4095, 4095, 4095, 65535]
    assert valid_range("uint16", np.array([100.0]), [12])[1].tolist() == [4095]  # declared NBITS
    assert valid_range("int16", np.array([-5.0]), [None])[1].tolist() == [32767]
    assert valid_range("float32", np.array([1.0]), [None]) is None
