"""Scene statistics read a bounded number of pixels, whatever the scene's size."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from dsdit_geo.geo.grid import target_grid
from dsdit_geo.raster import stats
from dsdit_geo.raster.read import geometry_of
from dsdit_geo.raster.synthetic import write_scene


def test_sample_windows_stay_inside_and_within_budget():
    whole = Window(5, 7, 100, 80)
    assert stats.sample_windows(whole, 8000) == [whole]
    for window, budget in [(Window(5, 7, 10_000, 8_000), 50_000), (Window(0, 0, 226_000, 3), 1000)]:
        windows = stats.sample_windows(window, budget)
        assert 1 < len(windows) <= stats.SAMPLE_CELLS**2
        assert sum(w.width * w.height for w in windows) <= budget
        for w in windows:
            assert window.col_off <= w.col_off and w.col_off + w.width <= window.col_off + window.width
            assert window.row_off <= w.row_off and w.row_off + w.height <= window.row_off + window.height
    spread = stats.sample_windows(Window(0, 0, 10_000, 8_000), 50_000)
    assert max(w.col_off for w in spread) > 8000 and max(w.row_off for w in spread) > 6000


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stats")
    lr = write_scene(
        str(folder / "lr.tif"), "EPSG:32611", Affine(10, 0, 500_000, 0, -10, 4_000_000),
        200, 200, 3, "uint16", lambda x: np.rint(1000 + 5000 * x), nodata=0, supersample=2,
    )  # fmt: skip
    ref = write_scene(
        str(folder / "ref.tif"), "EPSG:32611", Affine(1, 0, 500_000, 0, -1, 4_000_000),
        2000, 2000, 3, "uint8", lambda x: np.rint(255 * x),
    )  # fmt: skip
    return lr, ref


def test_a_large_overlap_is_sampled_not_read_whole(scene, monkeypatch):
    lr_path, ref_path = scene
    with rasterio.open(lr_path) as lr, rasterio.open(ref_path) as ref:
        grid = target_grid(geometry_of(lr), geometry_of(ref))
        full = stats.estimate_radiometry(lr, ref, [1, 2, 3], [1, 2, 3], grid)
        read_px = {"decimated": 0, "warped_ref": 0}
        real_decimated, real_warped = stats.read_decimated, stats.read_warped

        def decimated(ds, indexes, window, out_shape, resampling):
            read_px["decimated"] += window.width * window.height
            return real_decimated(ds, indexes, window, out_shape, resampling)

        def warped(ds, indexes, crs, transform, shape, resampling):
            read_px["warped_ref"] += shape[0] * shape[1] * 100  # Ref pixels under each LR pixel
            return real_warped(ds, indexes, crs, transform, shape, resampling)

        monkeypatch.setattr(stats, "read_decimated", decimated)
        monkeypatch.setattr(stats, "read_warped", warped)
        monkeypatch.setattr(stats, "MAX_STATS_PX", 20_000)
        sampled = stats.estimate_radiometry(lr, ref, [1, 2, 3], [1, 2, 3], grid)
    assert read_px["warped_ref"] <= 20_000 * 1.01  # the Ref under the fit windows
    assert read_px["decimated"] <= 3 * 20_000  # LR + Ref samples + the fit's LR pixels
    np.testing.assert_allclose(sampled.lr.lo, full.lr.lo, rtol=0.05)
    np.testing.assert_allclose(sampled.lr.hi, full.lr.hi, rtol=0.05)
    np.testing.assert_allclose(sampled.ref.hi, full.ref.hi, atol=10)
    np.testing.assert_allclose(sampled.ref_to_lr.gain, full.ref_to_lr.gain, rtol=0.15)
    np.testing.assert_allclose(sampled.lr_fill, full.lr_fill, atol=0.05)


def _texture(seed: int, size_px: int) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    return sum(ndimage.gaussian_filter(rng.normal(size=(size_px, size_px)), s) * s for s in (1, 2, 4, 8))


def _write(path, pixels: np.ndarray, pixel_m: float) -> str:
    profile = dict(driver="GTiff", width=pixels.shape[-1], height=pixels.shape[-2], count=3, dtype="float32",
                   crs="EPSG:32611", transform=Affine(pixel_m, 0, 500_000, 0, -pixel_m, 4_000_000))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.repeat(pixels[None].astype(np.float32), 3, axis=0))
    return str(path)


@pytest.mark.parametrize("blur_lr_px", [0.0, 0.4])
def test_the_lr_sharpness_is_measured_against_the_ref_averaged_onto_it(tmp_path, blur_lr_px):
    """An LR that area-samples the Ref's scene is sharp (~1); one blurred by a Gaussian of
    0.4 LR px first is not (< 0.8); a flat Ref gives no measurement."""
    from scipy import ndimage

    hr = _texture(0, 512) * 10 + 100
    lr = ndimage.gaussian_filter(hr, blur_lr_px * 8) if blur_lr_px else hr
    lr_path = _write(tmp_path / "lr.tif", lr.reshape(64, 8, 64, 8).mean(axis=(1, 3)), 8.0)
    ref_path = _write(tmp_path / "ref.tif", hr, 1.0)
    flat_path = _write(tmp_path / "flat.tif", np.full_like(hr, 100.0), 1.0)
    found = []
    for ref in (ref_path, flat_path):
        with rasterio.open(lr_path) as lr_ds, rasterio.open(ref) as ref_ds:
            grid = target_grid(geometry_of(lr_ds), geometry_of(ref_ds))
            radiometry = stats.estimate_radiometry(lr_ds, ref_ds, [1, 2, 3], [1, 2, 3], grid)
            found.append(stats.estimate_lr_sharpness(lr_ds, ref_ds, [1, 2, 3], [1, 2, 3], grid, radiometry))
    sharpness, flat = found
    assert (0.9 < sharpness < 1.1) if blur_lr_px == 0 else sharpness < 0.8
    assert flat is None


def test_the_pipeline_measures_the_lr_sharpness_only_for_a_method_that_uses_it(scene, tmp_path):
    """Every batch of a run carries the one scene-level value (None for the other methods)."""
    from dsdit_geo import UpscaleOptions, upscale_file
    from dsdit_geo.upscalers import make_upscaler

    lr_path, ref_path = scene
    seen: dict[bool, set] = {True: set(), False: set()}

    for wants in (True, False):
        def factory(options, scale, wants=wants):
            method = make_upscaler(options, scale=scale)
            inner = method.upscale

            def upscale(batch):
                seen[wants].add(batch.lr_sharpness)
                return inner(batch)

            method.upscale = upscale
            method.uses_lr_sharpness = wants
            return method

        upscale_file(lr_path, ref_path, tmp_path / f"out_{wants}.tif", UpscaleOptions(method="hpf", quiet=True),
                     upscaler_factory=factory, extent=(500_000, 3_999_360, 500_640, 4_000_000))
    assert len(seen[True]) == 1 and isinstance(next(iter(seen[True])), float)
    assert seen[False] == {None}
