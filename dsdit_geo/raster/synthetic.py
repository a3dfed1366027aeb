"""Synthetic georeferenced scenes for tests and benchmarks (deterministic, streamed by rows).

`pattern(x, y, bands)` is a pure function of map coordinates (metres): hashed fields, a road
grid and fine texture, per band in 0..1. Rasters sample it at pixel centres (the LR averages
`supersample`² samples per pixel), block row by block row, so scenes of any size are written
in bounded memory. Not realistic imagery: only for checking the pipeline's plumbing.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp

FIELD_M = 37.0
ROAD_PERIOD_M = 150.0
ROAD_HALF_WIDTH_M = 2.5
RGBN = (ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined)


def _hash01(i: np.ndarray, j: np.ndarray, band: int) -> np.ndarray:
    """Deterministic pseudo-random values in [0, 1) of integer cells (i, j) and a band."""
    h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663) ^ ((band + 1) * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65536.0


def pattern(x: np.ndarray, y: np.ndarray, bands: int, change: bool = False) -> np.ndarray:
    """(bands, *x.shape) float32 in [0, 1] at map coordinates x, y (metres). `change` alters
    some fields (land-cover change between dates)."""
    i, j = np.floor(x / FIELD_M), np.floor(y / FIELD_M)
    road = np.abs(np.mod(x + 0.3 * y, ROAD_PERIOD_M) - ROAD_PERIOD_M / 2) < ROAD_HALF_WIDTH_M
    out = np.empty((bands, *x.shape), np.float32)
    for b in range(bands):
        field = 0.2 + 0.6 * _hash01(i, j, b)
        if change:
            flip = _hash01(i, j, 99) < 0.2
            field = np.where(flip, 0.2 + 0.6 * _hash01(i, j, b + 50), field)
        texture = 0.08 * np.sin(x * (0.9 + 0.2 * b)) * np.sin(y * 1.3)
        out[b] = np.clip(np.where(road, 0.1, field + texture), 0, 1)
    return out


def write_scene(
    path: str,
    crs: str,
    transform: Affine,
    width: int,
    height: int,
    bands: int,
    dtype: str,
    to_units: Callable[[np.ndarray], np.ndarray],
    nodata: float | None = None,
    supersample: int = 1,
    change: bool = False,
    nodata_box: tuple[int, int, int, int] | None = None,
    block_rows: int = 256,
    colorinterp: tuple[ColorInterp, ...] | None = None,
) -> str:
    """Write a tiled GeoTIFF sampling `pattern` (averaged over supersample² points per pixel).
    to_units maps 0..1 to raster values; nodata_box (row0, col0, row1, col1) is set to nodata."""
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=bands,
        dtype=dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        zlevel=1,
    )
    offsets = (np.arange(supersample) + 0.5) / supersample
    if colorinterp and colorinterp[:3] == (ColorInterp.red, ColorInterp.green, ColorInterp.blue):
        profile["photometric"] = "RGB"
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path, "w", **profile) as dst:
        if colorinterp:
            dst.colorinterp = colorinterp
        for row0 in range(0, height, block_rows):
            rows = np.arange(row0, min(height, row0 + block_rows))
            acc = np.zeros((bands, len(rows), width), np.float32)
            for dr in offsets:
                for dc in offsets:
                    cols_grid, rows_grid = np.meshgrid(np.arange(width) + dc, rows + dr)
                    x, y = transform @ (cols_grid, rows_grid)
                    acc += pattern(np.asarray(x), np.asarray(y), bands, change)
            values = to_units(acc / supersample**2).astype(dtype)
            if nodata_box is not None:
                r0, c0, r1, c1 = nodata_box
                rs = slice(max(r0 - row0, 0), max(min(r1 - row0, len(rows)), 0))
                values[:, rs, c0:c1] = nodata
            dst.write(values, window=rasterio.windows.Window(0, row0, width, len(rows)))
    return path


def s2_like(x: np.ndarray) -> np.ndarray:
    """0..1 -> uint16 reflectance-like values 1000..6000 (never 0, the nodata)."""
    return np.rint(1000 + 5000 * x)


def naip_like(x: np.ndarray) -> np.ndarray:
    """0..1 -> uint8 0..255."""
    return np.rint(255 * x)


def write_pair(
    folder: str,
    lr_px: int = 40,
    ref_px: int = 380,
    scale: int = 10,
    bands: int = 4,
    x0: float = 500_000.0,
    y0: float = 4_000_000.0,
    nodata_box: tuple | None = (0, 0, 6, 6),
    change: bool = True,
) -> tuple[str, str]:
    """An S2-like LR (EPSG:32611, uint16, nodata 0, `scale` m pixels) and a NAIP-like Ref
    (EPSG:26911, uint8, 1 m, offset by 15.5 m) of the same synthetic place; returns paths."""
    lr_path = os.path.join(folder, "lr.tif")
    ref_path = os.path.join(folder, "ref.tif")
    write_scene(
        lr_path,
        "EPSG:32611",
        Affine(scale, 0, x0, 0, -scale, y0),
        lr_px,
        lr_px,
        bands,
        "uint16",
        s2_like,
        nodata=0,
        supersample=scale,
        nodata_box=nodata_box,
    )
    write_scene(
        ref_path,
        "EPSG:26911",
        Affine(1.0, 0, x0 + 15.5, 0, -1.0, y0 - 15.5),
        ref_px,
        ref_px,
        bands,
        "uint8",
        naip_like,
        change=change,
        colorinterp=RGBN[:bands],
    )
    return lr_path, ref_path


def write_array(
    path: str,
    array: np.ndarray,
    crs: str | None,
    transform: Affine | None,
    nodata: float | None = None,
    **profile,
) -> str:
    """Write (C, H, W) `array` as a GeoTIFF (crs / transform None: left out); returns path."""
    options = dict(
        driver="GTiff",
        width=array.shape[2],
        height=array.shape[1],
        count=array.shape[0],
        dtype=array.dtype.name,
        nodata=nodata,
    )
    if crs is not None:
        options["crs"] = crs
    if transform is not None:
        options["transform"] = transform
    options.update(profile)
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path, "w", **options) as dst:
        dst.write(array)
    return path
