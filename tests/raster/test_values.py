import numpy as np

from dsdit_geo.radiometry import BandScaling, GainOffset
from dsdit_geo.raster.values import Radiometry


def radiometry(bands=2):
    return Radiometry(
        lr=BandScaling(lo=np.full(bands, 1000.0), hi=np.full(bands, 2000.0)),
        ref=BandScaling(lo=np.zeros(bands), hi=np.full(bands, 255.0)),
        ref_to_lr=GainOffset(gain=np.full(bands, 2.0), offset=np.full(bands, -0.5)),
        lr_fill=np.full(bands, 0.25),
    )


def test_prepare_tile_fills_invalid_pixels():
    lr = np.full((2, 4, 4), 1500.0, np.float32)
    lr[:, 0, 0] = np.nan
    ref = np.full((2, 4, 4), 127.5, np.float32)
    ref[1, 3, 3] = np.nan
    lr_model, ref_model, lr_valid, ref_valid = radiometry().prepare_tile(lr, ref)
    assert lr_model.dtype == np.float32 and lr_valid.shape == (1, 4, 4)
    assert lr_model[0, 0, 0] == np.float32(0.25) and lr_model[0, 1, 1] == np.float32(0.5)
    assert not lr_valid[0, 0, 0] and lr_valid.sum() == 15
    np.testing.assert_allclose(ref_model[:, 1, 1], 0.5, atol=1e-6)  # 2 * 0.5 - 0.5
    assert not ref_valid[0, 3, 3] and ref_model[1, 3, 3] == lr_model[1, 3, 3]


def test_to_output_keeps_nodata_and_nudges_clashes():
    model = np.array([[[0.0, -0.0001, 0.5]]], np.float32)  # -> 0, 0, 500 raster units
    r = Radiometry(
        lr=BandScaling(lo=np.array([0.0]), hi=np.array([1000.0])),
        ref=None,
        ref_to_lr=None,
        lr_fill=np.zeros(1),
    )
    values, _ = r.to_output(model, np.array([[True, False, True]]), "uint16", 0)
    assert values.dtype == np.uint16
    assert values.tolist() == [[[1, 0, 500]]]  # valid 0 nudged to 1; invalid pixel is nodata
    values, _ = r.to_output(np.array([[[1.0]]], np.float32), np.array([[True]]), "uint16", 1000)
    assert values.tolist() == [[[1001]]]
    values, _ = r.to_output(np.array([[[70.0]]], np.float32), np.array([[True]]), "uint16", 65535)
    assert values.tolist() == [[[65534]]]


def test_tags_name_every_quantity():
    tags = radiometry().to_tags()
    assert {"lr_model_range_lo", "lr_model_range_hi", "ref_model_range_lo", "ref_gain", "ref_offset"} <= set(
        tags
    )


def test_to_output_clamps_to_the_lrs_range():
    r = Radiometry(
        lr=BandScaling(lo=np.array([0.0]), hi=np.array([4000.0])),
        ref=None,
        ref_to_lr=None,
        lr_fill=np.zeros(1),
        lr_range=(np.array([12.0]), np.array([4095.0])),
    )
    model = np.array([[[-0.5, 0.5, 1.05, 1.2]]], np.float32)  # -> -2000, 2000, 4200, 4800
    values, _ = r.to_output(model, np.ones((1, 4), bool), "uint16", None)
    assert values.tolist() == [[[12, 2000, 4095, 4095]]]
