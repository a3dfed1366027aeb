"""The core property of the shipped model: it uses the Ref. With the ground truth as the Ref
it must score far higher than with a flat Ref (issue 11); with a flat Ref it must not fall
below bicubic. Runs the real `upscale` pipeline on a dev-like crop of the bundled sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.evaluation.cases import CaseImages, with_ref_mode
from dsdit_geo.evaluation.prepare import prepare_case
from dsdit_geo.metrics.psnr_ssim import psnr
from dsdit_geo.pipeline import upscale_file

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
CROP = np.s_[:, 100:292, 120:312]  # 192 x 192 px of the NAIP-like Ref's RGB


@pytest.fixture(scope="module")
def crop() -> CaseImages:
    with rasterio.open(SAMPLE / "ref.tif") as ds:
        gt = np.ascontiguousarray(ds.read((1, 2, 3))[CROP])
    valid = np.ones(gt.shape[1:], bool)
    return CaseImages(gt=gt, ref=gt.copy(), gt_valid=valid, ref_valid=valid.copy())


def _score(images: CaseImages, mode: str, method: str, folder: Path) -> float:
    prepared = prepare_case(with_ref_mode(images, mode), 4, folder)
    out = folder / f"{method}.tif"
    upscale_file(str(prepared.lr_path), str(prepared.ref_path), str(out),
                 UpscaleOptions(method=method, device="cpu", quiet=True, progress=False, overwrite=True))
    with rasterio.open(out) as ds:
        return float(psnr(ds.read(), prepared.gt))


def test_shipped_model_uses_a_perfect_ref_and_survives_a_flat_one(crop, tmp_path):
    with_gt = _score(crop, "gt", "dsdit", tmp_path / "gt")
    with_flat = _score(crop, "flat", "dsdit", tmp_path / "flat")
    bicubic = _score(crop, "flat", "bicubic", tmp_path / "bicubic")
    assert with_gt >= with_flat + 4.0, (with_gt, with_flat)
    assert with_flat >= bicubic - 0.5, (with_flat, bicubic)
