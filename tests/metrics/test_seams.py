"""Seam measures: pure-function checks, and no visible tile seams in the pipeline's output."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from dsdit_geo.config import UpscaleOptions
from dsdit_geo import pipeline
from dsdit_geo.geo import blend
from dsdit_geo.metrics.seams import line_gradient_ratio, patch_grid_ratio, tile_edges, tile_seam_ratio
from dsdit_geo.pipeline import upscale_file
from dsdit_geo.raster.synthetic import write_array

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "upscalers"))
from test_dsdit import save_model  # noqa: E402  (a tiny random DS-DiT, not the bundled model)

HR_PX, SCALE, TILE, OVERLAP = 256, 8, 64, 16


def texture(shape, seed=0, sigma=2.0):
    """Isotropic smooth noise in 0..1: no content lines up with any grid."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape), (0, sigma, sigma))
    return (field - field.min()) / (field.max() - field.min())


def test_tile_edges_are_tile_starts_and_ends_inside_the_grid():
    assert tile_edges((0, 48, 96, 128), 64, 192) == [48, 64, 96, 112, 128, 160]


def test_a_clean_image_scores_one_and_a_seam_does_not():
    image = texture((3, HR_PX, HR_PX))
    assert 0.9 < tile_seam_ratio(image, TILE, OVERLAP) < 1.1
    seamed = image.copy()
    for edge in tile_edges((0, 48, 96, 144, 192), TILE, HR_PX):
        seamed[:, edge:, :] += 0.05  # a step at each tile edge (the texture: ~0.03 px⁻¹)
        seamed[:, :, edge:] += 0.05
    assert tile_seam_ratio(seamed, TILE, OVERLAP) > 1.3
    seamed[:, 100:110, :] = np.nan  # nodata is left out
    assert np.isfinite(tile_seam_ratio(seamed, TILE, OVERLAP))


def test_patch_grid_ratio_sees_a_period():
    image = texture((1, 128, 128))
    assert 0.9 < patch_grid_ratio(image, 8) < 1.1
    blocks = np.arange(128) // 8
    grid = image + 0.05 * ((blocks[:, None] + blocks[None, :]) % 2)  # an 8 px checkerboard
    assert patch_grid_ratio(grid, 8) > 1.3 and patch_grid_ratio(grid, 8, offset_px=4) < 1.0
    assert line_gradient_ratio(image, [], []) != line_gradient_ratio(image, [], [])  # NaN


@pytest.fixture(scope="module")
def textured_pair(tmp_path_factory):
    """A uint8 Ref (1 m) of smooth isotropic texture and a uint16 LR (8 m) averaged from it."""
    folder = tmp_path_factory.mktemp("seams")
    ref = np.rint(255 * texture((3, HR_PX, HR_PX), sigma=3.0)).astype(np.uint8)
    lr = ref.reshape(3, HR_PX // SCALE, SCALE, HR_PX // SCALE, SCALE).mean(axis=(2, 4))
    crs, x0, y0 = "EPSG:32611", 500_000.0, 4_000_000.0
    ref_path = write_array(str(folder / "ref.tif"), ref, crs, Affine(1, 0, x0, 0, -1, y0))
    lr_values = np.rint(1000 + 20 * lr).astype(np.uint16)
    lr_path = write_array(str(folder / "lr.tif"), lr_values, crs, Affine(SCALE, 0, x0, 0, -SCALE, y0))
    return lr_path, ref_path, save_model(folder / "model")


def _seam_ratio(pair, out, method):
    """The tile-edge ratio of a pipeline run (baseline at the same phase of the 8 px LR grid)."""
    lr, ref, model = pair
    extra = {"weights": model, "steps": 2} if method == "dsdit" else {}
    options = UpscaleOptions(method=method, tile_px=TILE, overlap_px=OVERLAP, quiet=True, **extra)
    upscale_file(lr, ref, str(out), options)
    with rasterio.open(out) as ds:
        return tile_seam_ratio(ds.read().astype(np.float64), TILE, OVERLAP, lr_period_px=SCALE)


@pytest.mark.parametrize("method", ["hpf", "dsdit"])  # dsdit: a tiny random model
def test_no_visible_tile_seams(textured_pair, tmp_path, method):
    assert _seam_ratio(textured_pair, tmp_path / "out.tif", method) <= 1.1


def test_tiles_that_disagree_are_blended_without_seams(textured_pair, tmp_path, monkeypatch):
    """Neighbouring tiles offset by 0.1 (model range) from each other: the cosine ramps hide
    it; plain averages over the overlaps (ramps replaced by constants) leave seams."""
    real = pipeline._Methods.upscale

    def disagreeing(self, batch):
        hr, trust = real(self, batch)
        parity = (batch.origin_px.sum(dim=1) // (TILE - OVERLAP)) % 2  # a checkerboard of tiles
        return hr + 0.1 * parity.to(hr.dtype)[:, None, None, None], trust

    monkeypatch.setattr(pipeline._Methods, "upscale", disagreeing)
    assert _seam_ratio(textured_pair, tmp_path / "soft.tif", "hpf") <= 1.1
    monkeypatch.setattr(blend, "rising_taper", lambda n: np.full(n, 1e-3))
    assert _seam_ratio(textured_pair, tmp_path / "hard.tif", "hpf") > 1.1
