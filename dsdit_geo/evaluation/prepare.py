"""Turn one case at one scale into the three GeoTIFFs the pipeline reads.

For scale s (whole number): the GT is cut at the bottom / right to a multiple of s pixels; the
LR is `train.degrade.degrade_to_lr` of the GT in deterministic mode with one sensor model
(`kernel`: gauss_area = blur b = 0.4 and area average, the default; bicubic_aa = antialiased
bicubic as PIL / Matlab imresize; s2_mtf = a Sentinel-2-like Gaussian MTF, point-sampled), no
noise, quantised to uint8. All three get one
synthetic projected georeference (EPSG:32631, same top-left corner; HR pixel 1 m, LR pixel
s m), so the pipeline's default target grid (Ref resolution over LR ∩ Ref) is exactly the GT's
grid; `check_default_grid` verifies it before any method runs.

    folder/gt.tif   (3, H, W)        uint8 RGB, 1 m   (GT nodata, if any, as an internal mask)
    folder/lr.tif   (3, H/s, W/s)    uint8 RGB, s m
    folder/ref.tif  (3, H, W)        uint8 RGB, 1 m   (Ref gaps as an internal mask)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from dsdit_geo.evaluation.cases import CaseImages
from dsdit_geo.train.degrade import degrade_to_lr

EVAL_CRS = "EPSG:32631"
ORIGIN_XY = (500_000.0, 5_000_000.0)  # top-left corner, metres
HR_PIXEL_M = 1.0


@dataclass(frozen=True)
class PreparedCase:
    """A case written for one scale. gt: (3, H, W) uint8 truth; metric_mask: (H, W) bool of
    pixels to score (None: all); label / label_valid: (H, W) bool or None."""

    folder: Path
    scale: int
    gt_path: Path
    lr_path: Path
    ref_path: Path
    gt: np.ndarray
    metric_mask: np.ndarray | None
    label: np.ndarray | None
    label_valid: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.gt.shape[1]), int(self.gt.shape[2])

    @property
    def hr_transform(self) -> Affine:
        return hr_transform()


def hr_transform() -> Affine:
    """The GT / Ref grid: 1 m pixels from ORIGIN_XY."""
    return Affine(HR_PIXEL_M, 0.0, ORIGIN_XY[0], 0.0, -HR_PIXEL_M, ORIGIN_XY[1])


def lr_transform(scale: int) -> Affine:
    """The LR grid at `scale`: scale-metre pixels from the same corner."""
    return Affine(HR_PIXEL_M * scale, 0.0, ORIGIN_XY[0], 0.0, -HR_PIXEL_M * scale, ORIGIN_XY[1])


def crop_to_multiple(array: np.ndarray, scale: int) -> np.ndarray:
    """(..., H, W) -> (..., H - H % s, W - W % s): the top-left part, whole LR pixels only."""
    h, w = array.shape[-2:]
    return array[..., : h - h % scale, : w - w % scale]


def make_lr(gt: np.ndarray, scale: int, kernel: str = "gauss_area") -> np.ndarray:
    """(3, H, W) uint8 GT (H, W multiples of scale) -> (3, H/s, W/s) uint8 LR: deterministic
    `degrade_to_lr` with sensor model `kernel` in the model range (/255), rounded to 8 bits."""
    lr = degrade_to_lr(gt.astype(np.float32) / 255.0, float(scale), kernel=kernel)
    return np.clip(np.rint(lr * 255.0), 0, 255).astype(np.uint8)


def write_rgb(path: Path, pixels: np.ndarray, transform: Affine, valid: np.ndarray | None = None) -> Path:
    """Write (3, H, W) uint8 as an RGB GeoTIFF on `transform` in EVAL_CRS; `valid` (H, W) bool,
    when given and not all True, becomes an internal mask."""
    profile = dict(driver="GTiff", width=pixels.shape[2], height=pixels.shape[1], count=pixels.shape[0],
                   dtype="uint8", crs=EVAL_CRS, transform=transform, photometric="RGB",
                   compress="deflate", zlevel=1)
    with rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(pixels)
            if valid is not None and not valid.all():
                dst.write_mask(valid.astype(np.uint8) * 255)
    return path


def prepare_case(images: CaseImages, scale: int, folder: Path, kernel: str = "gauss_area") -> PreparedCase:
    """Write gt.tif, lr.tif (sensor model `kernel`) and ref.tif of `images` at `scale` into
    `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    gt = np.ascontiguousarray(crop_to_multiple(images.gt, scale))
    if min(gt.shape[1:]) < scale:
        raise ValueError(f"image {images.shape} is smaller than one LR pixel at x{scale}")
    ref = np.ascontiguousarray(crop_to_multiple(images.ref, scale))
    gt_valid = crop_to_multiple(images.gt_valid, scale)
    ref_valid = crop_to_multiple(images.ref_valid, scale)
    paths = (folder / "gt.tif", folder / "lr.tif", folder / "ref.tif")
    write_rgb(paths[0], gt, hr_transform(), gt_valid)
    write_rgb(paths[1], make_lr(gt, scale, kernel), lr_transform(scale))
    write_rgb(paths[2], ref, hr_transform(), ref_valid)
    label = label_valid = None
    if images.label is not None:
        label = crop_to_multiple(images.label, scale)
        label_valid = crop_to_multiple(images.label_valid, scale)
    return PreparedCase(folder=folder, scale=scale, gt_path=paths[0], lr_path=paths[1], ref_path=paths[2],
                        gt=gt, metric_mask=None if gt_valid.all() else gt_valid.copy(),
                        label=label, label_valid=label_valid)


def check_default_grid(case: PreparedCase) -> None:
    """RuntimeError unless the pipeline's default target grid for (lr.tif, ref.tif) is exactly
    the GT's grid (same CRS, transform, size; scale equal to the case's)."""
    from dsdit_geo.geo.grid import target_grid
    from dsdit_geo.raster.read import geometry_of, open_raster

    with open_raster(str(case.lr_path), "LR") as lr, open_raster(str(case.ref_path), "Ref") as ref:
        grid = target_grid(geometry_of(lr), geometry_of(ref))
    expected = hr_transform()
    same = (
        grid.shape == case.shape
        and grid.crs == rasterio.crs.CRS.from_user_input(EVAL_CRS)
        and all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(grid.transform, expected))
        and math.isclose(grid.scale, case.scale, rel_tol=1e-6)
    )
    if not same:
        raise RuntimeError(
            f"evaluation grid mismatch in {case.folder}: the pipeline's target grid is "
            f"{grid.width}x{grid.height} {tuple(grid.transform)[:6]} at x{grid.scale:.6g}, the GT's "
            f"{case.shape[1]}x{case.shape[0]} {tuple(expected)[:6]} at x{case.scale}"
        )


def check_output_grid(out_path: Path, case: PreparedCase) -> None:
    """RuntimeError unless a pipeline output lies exactly on the GT's grid."""
    with rasterio.open(out_path) as ds:
        shape, transform = (ds.height, ds.width), ds.transform
    if shape != case.shape or not all(
        math.isclose(a, b, abs_tol=1e-6) for a, b in zip(transform, hr_transform())
    ):
        raise RuntimeError(f"{out_path} is {shape} on {tuple(transform)[:6]}, not on the GT's grid {case.shape}")
