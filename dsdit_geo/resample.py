"""In-memory resampling with the same GDAL kernels the pipeline's warped reads use.

Training degrades HR crops and puts the LR back onto the HR grid with these functions; the
pipeline reads the LR onto the HR grid through a WarpedVRT with `Resampling.cubic`. Both go
through GDAL's warper, so the model sees the same LR-on-HR-grid at training and at inference.
Arrays are (C, H, W) float32; `scale` is LR pixel size / HR pixel size (> 1).
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject

# Any projected CRS will do: source and destination share it, so nothing is reprojected.
# The grids sit well inside the zone (GDAL's warper returns nothing for grids at 0, 0).
_LOCAL_CRS = CRS.from_epsg(32631)
_X0, _Y0 = 500_000.0, 5_000_000.0


def _warp(src: np.ndarray, src_px: float, dst_shape: tuple[int, int], dst_px: float,
          resampling: Resampling) -> np.ndarray:
    """Warp (C, h, w) on a grid of `src_px` pixels to (C, *dst_shape) of `dst_px` pixels,
    both grids anchored at the same top-left corner."""
    src = np.ascontiguousarray(src, dtype=np.float32)
    dst = np.full((src.shape[0], *dst_shape), np.nan, dtype=np.float32)
    reproject(
        source=src,
        destination=dst,
        src_transform=Affine(src_px, 0, _X0, 0, -src_px, _Y0),
        src_crs=_LOCAL_CRS,
        src_nodata=np.nan,
        dst_transform=Affine(dst_px, 0, _X0, 0, -dst_px, _Y0),
        dst_crs=_LOCAL_CRS,
        dst_nodata=np.nan,
        resampling=resampling,
    )
    return dst


def upsample_cubic(lr: np.ndarray, scale: float, hr_shape: tuple[int, int]) -> np.ndarray:
    """(C, h, w) LR -> (C, *hr_shape) on the HR grid, GDAL cubic (Keys, a = -0.5).
    Pixels beyond the LR's extent come back NaN."""
    return _warp(lr, float(scale), hr_shape, 1.0, Resampling.cubic)


def downsample_average(hr: np.ndarray, scale: float) -> np.ndarray:
    """(C, H, W) HR -> (C, floor(H/scale), floor(W/scale)) by area averaging (GDAL average,
    fractional pixel weights when `scale` is not an integer)."""
    h_px = int(np.floor(hr.shape[1] / scale + 1e-9))
    w_px = int(np.floor(hr.shape[2] / scale + 1e-9))
    if h_px < 1 or w_px < 1:
        raise ValueError(f"image {hr.shape[1:]} too small for scale {scale}")
    return _warp(hr, 1.0, (h_px, w_px), float(scale), Resampling.average)
