"""Content checksums of an output's pixels, and the check a COG passes before it is published.

Checksum: SHA-256 of each band's full-resolution pixel bytes (native byte order, row-major),
comma-separated in band order in the tag `PIXELS_TAG`; with an internal mask, SHA-256 of the mask
bytes (0 / 255) in `MASK_TAG`. The writer hashes the rows it writes; a reader recomputes them a
block row at a time (memory: one block row), so flipped bytes inside a compressed block that
still decodes are caught too.

`verify_written(path, ...)`: fsync, every block lies inside the file (TIFF headers alone), then
every block of every band decodes at full resolution (checksums compared) and on every overview
level. Any failure raises `VerifyError` with a one-line reason.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

PIXELS_TAG = "DSDIT_GEO_PIXELS_SHA256"
MASK_TAG = "DSDIT_GEO_MASK_SHA256"


class VerifyError(ValueError):
    """A written file is incomplete, undecodable or differs from what was written (one line)."""


class PixelHasher:
    """Running SHA-256 per band (and of the mask) over rows fed in order."""

    def __init__(self, count: int, with_mask: bool) -> None:
        self._bands = [hashlib.sha256() for _ in range(count)]
        self._mask = hashlib.sha256() if with_mask else None

    def update(self, values: np.ndarray, mask: np.ndarray | None = None) -> None:
        """values (count, rows, width); mask (rows, width) uint8 0/255 when hashing a mask."""
        for band, hasher in zip(values, self._bands):
            hasher.update(np.ascontiguousarray(band).tobytes())
        if self._mask is not None and mask is not None:
            self._mask.update(np.ascontiguousarray(mask, dtype=np.uint8).tobytes())

    def tags(self) -> dict[str, str]:
        tags = {PIXELS_TAG: ",".join(h.hexdigest() for h in self._bands)}
        if self._mask is not None:
            tags[MASK_TAG] = self._mask.hexdigest()
        return tags


def has_dataset_mask(ds) -> bool:
    """True when every band's validity comes from one per-dataset (internal) mask."""
    from rasterio.enums import MaskFlags

    return all(MaskFlags.per_dataset in flags for flags in ds.mask_flag_enums)


def content_checksums(ds) -> dict[str, str]:
    """The checksum tags of open dataset `ds`, recomputed from its full-resolution pixels."""
    from rasterio.windows import Window

    with_mask = has_dataset_mask(ds)
    hasher = PixelHasher(ds.count, with_mask)
    step = max(1, ds.block_shapes[0][0])
    for row in range(0, ds.height, step):
        window = Window(0, row, ds.width, min(step, ds.height - row))
        hasher.update(ds.read(window=window), ds.read_masks(1, window=window) if with_mask else None)
    return hasher.tags()


def checksum_mismatch(ds) -> str | None:
    """None when `ds`'s pixels match its checksum tags, else a one-line reason."""
    tags = ds.tags()
    if PIXELS_TAG not in tags:
        return "it has no content checksum"
    actual = content_checksums(ds)
    for key, value in actual.items():
        if tags.get(key) != value:
            return "its pixels do not match their checksum (the file was changed or damaged)"
    return None


def fsync_path(path: str) -> None:
    """Flush `path`'s data to the disk (OSError on an I/O error, e.g. a full disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_written(path: str, width: int, height: int, count: int, checksums: bool = True) -> None:
    """VerifyError unless the file at `path` is complete and decodes (and, with `checksums`,
    its full-resolution pixels match their checksum tags)."""
    import rasterio
    from rasterio.errors import RasterioError

    from dsdit_geo.batch.tiff_layout import LayoutError, check_layout
    from dsdit_geo.raster.gdal_errors import gdal_errors

    try:
        fsync_path(path)
        check_layout(path)
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path) as ds:
            if (ds.width, ds.height, ds.count) != (width, height, count):
                raise VerifyError(f"it is {ds.width}×{ds.height}×{ds.count}, not {width}×{height}×{count}")
            reason = checksum_mismatch(ds) if checksums else None
            if reason:
                raise VerifyError(reason)
            if not checksums:
                _read_every_block(ds)
            levels = len(ds.overviews(1))
        for level in range(levels):
            with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path, overview_level=level) as ov:
                _read_every_block(ov)
    except (LayoutError, OSError, RasterioError, *gdal_errors()) as exc:
        raise VerifyError(" ".join(str(exc).split()) or type(exc).__name__) from None


def _read_every_block(ds) -> None:
    from rasterio.windows import Window

    with_mask = has_dataset_mask(ds)
    block_h, block_w = ds.block_shapes[0]
    for row in range(0, ds.height, block_h):
        for col in range(0, ds.width, block_w):
            window = Window(col, row, min(block_w, ds.width - col), min(block_h, ds.height - row))
            ds.read(window=window)
            if with_mask:
                ds.read_masks(1, window=window)
