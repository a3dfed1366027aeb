"""Content checksums of an output's pixels, and the check a COG passes before it is published.

Checksum: SHA-256 of each band's full-resolution pixel bytes (native byte order, row-major),
comma-separated in band order in the tag `PIXELS_TAG`; with an internal mask, SHA-256 of the mask
bytes (0 / 255) in `MASK_TAG`. The writer hashes the rows it writes; a reader recomputes them a
block row at a time (memory: one block row), so flipped bytes inside a compressed block that
still decodes are caught too.

An output written in column blocks (a grid too wide for whole rows in memory) gets the block
checksum instead, in `BLOCK_PIXELS_TAG` / `BLOCK_MASK_TAG`: per band, SHA-256 over the block
columns' digests, left to right; a block column's digest is SHA-256 over its 512 x 512 px blocks'
SHA-256 digests, top to bottom (block bytes row-major; edge blocks smaller). Writer and reader
then hold one block column at a time (memory: O(block), not O(width)).

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
BLOCK_PIXELS_TAG = "DSDIT_GEO_BLOCK_PIXELS_SHA256"
BLOCK_MASK_TAG = "DSDIT_GEO_BLOCK_MASK_SHA256"
HASH_BLOCK_PX = 512


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

    def add(self, row0: int, col0: int, values: np.ndarray, mask: np.ndarray | None = None) -> None:
        """`update` for the writer: whole rows only (col0 0), in order."""
        if col0 != 0:
            raise ValueError(f"row checksums need whole rows, got columns from {col0}")
        self.update(values, mask)

    def tags(self) -> dict[str, str]:
        tags = {PIXELS_TAG: ",".join(h.hexdigest() for h in self._bands)}
        if self._mask is not None:
            tags[MASK_TAG] = self._mask.hexdigest()
        return tags


class BlockHasher:
    """The block checksum (module docstring) of a `width` x `height` px raster, fed windows of
    whole 512 px blocks: block columns left to right, each top to bottom (several side by side
    at once are fine)."""

    def __init__(self, count: int, with_mask: bool, width: int, height: int) -> None:
        self._count, self._with_mask = count, with_mask
        self._n_rows = -(-height // HASH_BLOCK_PX)
        self._n_cols = -(-width // HASH_BLOCK_PX)
        self._open: dict[int, tuple[int, list]] = {}  # block column -> (next block row, hashers)
        self._total = [hashlib.sha256() for _ in range(count + with_mask)]
        self._done_cols = 0

    def add(self, row0: int, col0: int, values: np.ndarray, mask: np.ndarray | None = None) -> None:
        """values (count, rows, cols) at grid (row0, col0), both multiples of 512 px, whole
        blocks (or up to the grid's edge); mask (rows, cols) uint8 0/255 when hashing a mask."""
        if row0 % HASH_BLOCK_PX or col0 % HASH_BLOCK_PX:
            raise ValueError(f"block checksums need whole blocks, got rows {row0}, columns {col0}")
        if self._with_mask and mask is None:
            raise ValueError("this checksum covers a mask: pass it")
        planes = [*values, *([mask] if self._with_mask else [])]
        rows, cols = values.shape[1:]
        for top in range(0, rows, HASH_BLOCK_PX):
            for left in range(0, cols, HASH_BLOCK_PX):
                window = (slice(top, top + HASH_BLOCK_PX), slice(left, left + HASH_BLOCK_PX))
                digests = [hashlib.sha256(np.ascontiguousarray(p[window]).tobytes()).digest() for p in planes]
                self._add_block((row0 + top) // HASH_BLOCK_PX, (col0 + left) // HASH_BLOCK_PX, digests)

    def _add_block(self, block_row: int, block_col: int, digests: list[bytes]) -> None:
        next_row, hashers = self._open.pop(block_col, (0, None))
        if block_row != next_row or block_col < self._done_cols:
            raise ValueError(f"block ({block_row}, {block_col}) comes out of order")
        hashers = hashers or [hashlib.sha256() for _ in digests]
        for hasher, digest in zip(hashers, digests):
            hasher.update(digest)
        if block_row + 1 < self._n_rows:
            self._open[block_col] = (block_row + 1, hashers)
            return
        if block_col != self._done_cols:
            raise ValueError(f"block column {block_col} finished before column {self._done_cols}")
        for total, hasher in zip(self._total, hashers):
            total.update(hasher.digest())
        self._done_cols += 1

    def tags(self) -> dict[str, str]:
        if self._done_cols != self._n_cols:
            raise ValueError(f"only {self._done_cols} of {self._n_cols} block columns were hashed")
        digests = [h.hexdigest() for h in self._total]
        tags = {BLOCK_PIXELS_TAG: ",".join(digests[: self._count])}
        if self._with_mask:
            tags[BLOCK_MASK_TAG] = digests[-1]
        return tags


def has_dataset_mask(ds) -> bool:
    """True when every band's validity comes from one per-dataset (internal) mask."""
    from rasterio.enums import MaskFlags

    return all(MaskFlags.per_dataset in flags for flags in ds.mask_flag_enums)


def has_checksum(tags: dict[str, str]) -> bool:
    """True when `tags` hold a content checksum (of rows or of blocks)."""
    return PIXELS_TAG in tags or BLOCK_PIXELS_TAG in tags


def content_checksums(ds, by_blocks: bool = False) -> dict[str, str]:
    """The checksum tags of open dataset `ds`, recomputed from its full-resolution pixels: the
    row checksum (memory: one block row), or with `by_blocks` the block checksum (one block)."""
    from rasterio.windows import Window

    with_mask = has_dataset_mask(ds)
    if by_blocks:
        blocks = BlockHasher(ds.count, with_mask, ds.width, ds.height)
        step = HASH_BLOCK_PX
        for col in range(0, ds.width, step):
            for row in range(0, ds.height, step):
                window = Window(col, row, min(step, ds.width - col), min(step, ds.height - row))
                mask = ds.read_masks(1, window=window) if with_mask else None
                blocks.add(row, col, ds.read(window=window), mask)
        return blocks.tags()
    hasher = PixelHasher(ds.count, with_mask)
    step = max(1, ds.block_shapes[0][0])
    for row in range(0, ds.height, step):
        window = Window(0, row, ds.width, min(step, ds.height - row))
        hasher.update(ds.read(window=window), ds.read_masks(1, window=window) if with_mask else None)
    return hasher.tags()


def checksum_mismatch(ds) -> str | None:
    """None when `ds`'s pixels match its checksum tags (rows or blocks), else a one-line reason."""
    tags = ds.tags()
    if not has_checksum(tags):
        return "it has no content checksum"
    actual = content_checksums(ds, by_blocks=PIXELS_TAG not in tags)
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
