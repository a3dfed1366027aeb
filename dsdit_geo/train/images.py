"""Read training rasters into memory once: uint8 RGB arrays, valid masks, change labels.

The I/O half of the training data: everything else in `dsdit_geo.train` works on the arrays
this returns. Rasters are read with rasterio (GeoTIFF, PNG, JPEG, JP2 alike; the
NotGeoreferencedWarning of plain images is silenced). The whole shared set is about 200 MB as
uint8, so `ImageCache` simply keeps every image it has read.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.warp import reproject

from dsdit_geo.errors import InputError
from dsdit_geo.radiometry import scaling_for
from dsdit_geo.train.sources import SourceRecord

# Pairs whose sizes differ by at most this fraction are cut to their common top-left region.
_SAME_SIZE_TOLERANCE = 0.02


@dataclass(frozen=True)
class RasterImage:
    """pixels: (3, H, W) uint8 RGB; valid: (H, W) bool (False where nodata).
    crs / transform: georeferencing or None for plain images."""

    pixels: np.ndarray
    valid: np.ndarray
    crs: object | None
    transform: Affine | None


@dataclass(frozen=True)
class LoadedPair:
    """One record in memory, all on the GT's pixel grid.

    gt, ref: (3, H, W) uint8 (ref None for single-date records);
    valid:   (H, W) bool, valid in GT and Ref; change: (H, W) bool or None (no label).
    """

    gt: np.ndarray
    ref: np.ndarray | None
    valid: np.ndarray
    change: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.gt.shape[1]), int(self.gt.shape[2])


def read_rgb_uint8(path: Path, bands: tuple[int, ...] = (1, 2, 3), stretch: str = "uint8",
                   nodata: float | None = None) -> RasterImage:
    """Read `bands` of a raster as (len(bands), H, W) uint8.

    stretch "uint8": values are taken as 0..255 (clipped); "percentile": each band is mapped
    between its 0.5 and 99.5 percentiles over valid pixels (`radiometry.scaling_for`), then
    to 0..255. Pixels where every band of the file equals `nodata` (default: the file's
    nodata) are invalid. A one-band raster asked for three bands is replicated.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                indexes = [b if b <= src.count else 1 for b in bands] if src.count == 1 else list(bands)
                if max(indexes) > src.count:
                    raise InputError(f"{path}: has {src.count} bands, asked for {bands}")
                values = src.read(indexes)
                nodata = src.nodata if nodata is None else nodata
                georef = src.crs is not None and not src.transform.is_identity
                crs, transform = (src.crs, src.transform) if georef else (None, None)
    except RasterioIOError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    valid = np.ones(values.shape[1:], dtype=bool)
    if nodata is not None:
        valid = ~np.all(values == nodata, axis=0)
    if stretch == "percentile":
        samples = values[:, valid].astype(np.float64) if valid.any() else values.reshape(len(indexes), -1)
        model = scaling_for(values.dtype, samples).to_model(values)
        pixels = np.clip(np.rint(model * 255.0), 0, 255).astype(np.uint8)
    elif stretch == "uint8":
        pixels = np.clip(values, 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"unknown stretch {stretch!r}")
    return RasterImage(pixels=pixels, valid=valid, crs=crs, transform=transform)


def read_label(path: Path) -> np.ndarray:
    """A change label as (H, W) bool (any non-zero value of band 1 is change)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            return src.read(1) > 0


def _fit_to(arr: np.ndarray, shape: tuple[int, int], fill: int = 0) -> np.ndarray:
    """(C, h, w) -> (C, *shape): cut or pad with `fill` at the bottom/right."""
    out = np.full((arr.shape[0], *shape), fill, dtype=arr.dtype)
    h, w = min(shape[0], arr.shape[1]), min(shape[1], arr.shape[2])
    out[:, :h, :w] = arr[:, :h, :w]
    return out


def align_to_gt(ref: RasterImage, gt: RasterImage) -> RasterImage:
    """Put the Ref on the GT's pixel grid.

    Same shape: as is. Both georeferenced: reprojected onto the GT grid (cubic; pixels the Ref
    does not cover become invalid). Otherwise sizes within 2 %: the common top-left region
    (the rest is invalid); else the Ref is resampled to the GT's size (same footprint assumed).
    """
    shape = gt.pixels.shape[1:]
    if ref.pixels.shape[1:] == shape:
        return ref
    if ref.crs is not None and gt.crs is not None:
        src_transform, dst_transform, src_crs, dst_crs = ref.transform, gt.transform, ref.crs, gt.crs
    else:
        dh = abs(ref.pixels.shape[1] - shape[0]) / shape[0]
        dw = abs(ref.pixels.shape[2] - shape[1]) / shape[1]
        if max(dh, dw) <= _SAME_SIZE_TOLERANCE:
            valid = _fit_to(ref.valid[None], shape, fill=0)[0]
            return RasterImage(_fit_to(ref.pixels, shape), valid, None, None)
        src_crs = dst_crs = CRS.from_epsg(32631)
        dst_transform = Affine(1, 0, 500_000, 0, -1, 5_000_000)
        src_transform = Affine(shape[1] / ref.pixels.shape[2], 0, 500_000,
                               0, -shape[0] / ref.pixels.shape[1], 5_000_000)
    src = np.concatenate([ref.pixels, ref.valid[None].astype(np.uint8)]).astype(np.float32)
    dst = np.full((src.shape[0], *shape), np.nan, dtype=np.float32)
    reproject(src, dst, src_transform=src_transform, src_crs=src_crs, src_nodata=np.nan,
              dst_transform=dst_transform, dst_crs=dst_crs, dst_nodata=np.nan,
              resampling=Resampling.cubic)
    valid = np.isfinite(dst).all(axis=0) & (np.nan_to_num(dst[-1]) > 0.5)
    pixels = np.clip(np.rint(np.nan_to_num(dst[:-1])), 0, 255).astype(np.uint8)
    return RasterImage(pixels, valid, gt.crs, gt.transform)


class ImageCache:
    """Reads each raster once and keeps it (uint8) for the life of the process.

    Call `preload(records)` before forking DataLoader workers so they share the pages.
    """

    def __init__(self) -> None:
        self._rasters: dict[tuple, RasterImage] = {}
        self._pairs: dict[str, LoadedPair] = {}

    def raster(self, path: Path, bands: tuple[int, ...], stretch: str,
               nodata: float | None) -> RasterImage:
        key = (str(path), bands, stretch, nodata)
        if key not in self._rasters:
            self._rasters[key] = read_rgb_uint8(path, bands, stretch, nodata)
        return self._rasters[key]

    def pair(self, record: SourceRecord) -> LoadedPair:
        """The record's GT, Ref (aligned to the GT grid), joint valid mask and change label."""
        if record.item_id in self._pairs:
            return self._pairs[record.item_id]
        gt = self.raster(record.gt_path, record.bands, record.stretch, record.nodata)
        ref_pixels, valid = None, gt.valid
        if record.ref_path is not None:
            ref = align_to_gt(self.raster(record.ref_path, record.bands, record.stretch,
                                          record.nodata), gt)
            ref_pixels, valid = ref.pixels, gt.valid & ref.valid
        change = None
        if record.change_path is not None:
            change = _fit_to(read_label(record.change_path)[None], gt.pixels.shape[1:])[0]
        pair = LoadedPair(gt=gt.pixels, ref=ref_pixels, valid=valid, change=change)
        self._pairs[record.item_id] = pair
        return pair

    def preload(self, records: list[SourceRecord]) -> None:
        for record in records:
            self.pair(record)

    def nbytes(self) -> int:
        return sum(r.pixels.nbytes + r.valid.nbytes for r in self._rasters.values())
