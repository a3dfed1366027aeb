"""Hostile values through the pipeline: NaN / ±inf, float64 beyond float32, 12-bit LRs."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.pipeline import upscale_file
from dsdit_geo.raster.synthetic import write_array, write_scene

SCALE = 10
LR_TRANSFORM = Affine(SCALE, 0, 500_000, 0, -SCALE, 4_000_000)
REACH_LR_PX = 2  # Keys cubic: 2 LR pixels either side of a pixel centre


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 1 m uint8 Ref (400 px) and a float64 LR (40 px, 10 m) of the same place, same CRS."""
    folder = tmp_path_factory.mktemp("values")
    ref = write_scene(
        str(folder / "ref.tif"), "EPSG:32611", Affine(1, 0, 500_000, 0, -1, 4_000_000),
        400, 400, 3, "uint8", lambda x: np.rint(255 * x),
    )  # fmt: skip
    lr = write_scene(
        str(folder / "lr.tif"), "EPSG:32611", LR_TRANSFORM, 40, 40, 3, "float64",
        lambda x: 1000 + 5000 * x, supersample=SCALE,
    )  # fmt: skip
    with rasterio.open(lr) as ds:
        return folder, ref, ds.read()


def run(lr, ref, out, **kwargs):
    upscale_file(str(lr), str(ref), str(out), UpscaleOptions(method="hpf", quiet=True, **kwargs))
    with rasterio.open(out) as ds:
        data = ds.read()
        invalid = ds.read_masks(1) == 0
        if ds.nodata is not None:
            invalid |= np.isnan(data[0]) if np.isnan(ds.nodata) else data[0] == ds.nodata
    return data, invalid


def reach(lr_pixels: list[tuple[int, int]], shape) -> np.ndarray:
    """HR pixels whose centre is within the cubic kernel's reach of one of `lr_pixels`."""
    seeds = np.zeros(shape, bool)
    for r, c in lr_pixels:
        seeds[r * SCALE : (r + 1) * SCALE, c * SCALE : (c + 1) * SCALE] = True
    margin = int((REACH_LR_PX - 0.5) * SCALE)
    return ndimage.binary_dilation(seeds, np.ones((2 * margin + 1, 2 * margin + 1), bool))


@pytest.mark.parametrize("nodata", [None, float("nan")])
def test_nan_and_inf_stay_where_they_are(scene, tmp_path, nodata):
    folder, ref, base = scene
    data = base.astype(np.float32)
    bad = {(10, 10): np.nan, (10, 28): np.inf, (28, 10): -np.inf}
    for (r, c), value in bad.items():
        data[:, r, c] = value
    data[1, 28, 28] = np.nan  # one band only: the pixel is still invalid
    lr = write_array(str(tmp_path / "lr.tif"), data, "EPSG:32611", LR_TRANSFORM, nodata=nodata)
    out, invalid = run(lr, ref, tmp_path / "out.tif")
    assert not (invalid & ~reach([*bad, (28, 28)], invalid.shape)).any()  # nothing beyond the kernel
    assert invalid[280:290, 280:290].all()
    for r, c in bad:  # NaN or inf in every band: the pixel itself, no more
        around = invalid[r * SCALE - 20 : r * SCALE + 30, c * SCALE - 20 : c * SCALE + 30]
        pixel = invalid[r * SCALE : (r + 1) * SCALE, c * SCALE : (c + 1) * SCALE]
        assert around.sum() == SCALE * SCALE and pixel.all()
    assert np.isfinite(out[:, ~invalid]).all()


def test_float64_beyond_float32_keeps_its_valid_pixels(scene, tmp_path):
    folder, ref, base = scene
    lr = write_array(str(tmp_path / "lr.tif"), base * 1e296, "EPSG:32611", LR_TRANSFORM)
    out, invalid = run(lr, ref, tmp_path / "out.tif")
    assert out.dtype == np.float64 and not invalid.any() and np.isfinite(out).all()
    plain_lr = write_array(str(tmp_path / "lr1.tif"), base, "EPSG:32611", LR_TRANSFORM)
    plain, _ = run(plain_lr, ref, tmp_path / "plain.tif")
    np.testing.assert_allclose(out / 1e296, plain, rtol=1e-4)


@pytest.mark.parametrize("declared", [False, True])
def test_output_stays_in_the_lrs_range(scene, tmp_path, declared):
    """A 12-bit LR saturating at 4095 (clouds): the Ref's detail must not push values past it,
    whether the file declares NBITS=12 or not (then the sample's max implies 12 bits)."""
    folder, ref, base = scene
    data = np.clip(np.rint((base - 1000) * 2), 0, 4095).astype(np.uint16)  # much of it saturated
    assert (data == 4095).mean() > 0.2
    if declared:
        data = np.minimum(data, 3000)  # the file says 12 bits; the sample alone would too
    profile = {"nbits": 12} if declared else {}
    lr = write_array(str(tmp_path / "lr.tif"), data, "EPSG:32611", LR_TRANSFORM, **profile)
    out, invalid = run(lr, ref, tmp_path / "out.tif")
    assert out.max() <= 4095 and not invalid.any()
    if declared:
        assert out.max() > 3000  # detail above the sampled max is kept within the declared range
