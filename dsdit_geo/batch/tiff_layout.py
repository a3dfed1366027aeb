"""Where a TIFF's image data lies, from GDAL's own block tables (classic TIFF and BigTIFF).

`check_layout(path)` opens every image directory of the main chain through GDAL
(`GTIFF_DIR:k:path`: full resolution, internal masks and overviews, as GDAL writes them) and
asks its TIFF metadata domain where each block lies (`BLOCK_OFFSET_x_y` / `BLOCK_SIZE_x_y`, as
`gdalinfo -mdd TIFF` does), then checks that every block ends inside the file. Truncation
anywhere past the headers therefore shows, whatever the block order, without decoding a pixel.
The directories GDAL finds must be as many as the dataset declares (levels × (1 + mask)).
GDAL COGs also repeat the last 4 bytes of each block after it (`BLOCK_TRAILER=
LAST_4_BYTES_REPEATED`) and prefix its size (`BLOCK_LEADER=SIZE_AS_UINT4`): when the ghost header
(plain text in the first bytes) says so, those are required too, and checked for the block that
ends last. Only the 4-byte signature and the ghost header are read by hand.
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from dataclasses import dataclass

_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic / BigTIFF, both byte orders
_GHOST_BYTES = 512
_MAX_IFDS = 256


class LayoutError(ValueError):
    """The file is not a readable TIFF, or some data lies beyond its end (a one-line reason)."""


@dataclass(frozen=True)
class Layout:
    """What the walk found: the number of IFDs and blocks, and where the data ends."""

    ifds: int
    blocks: int
    data_end: int
    file_size: int


def check_layout(path: str) -> Layout:
    """Check the TIFF at `path` through GDAL's block tables; LayoutError when it is no TIFF,
    a directory is missing or unreadable, or a block (with its COG leader / trailer) does not
    fit in the file."""
    import rasterio

    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(_GHOST_BYTES)
    if head[:4] not in _SIGNATURES:
        raise LayoutError("not a TIFF file")
    trailer = b"BLOCK_TRAILER=LAST_4_BYTES_REPEATED" in head
    leader = trailer and b"BLOCK_LEADER=SIZE_AS_UINT4" in head
    with warnings.catch_warnings(), rasterio.Env(GDAL_PAM_ENABLED="NO"):
        warnings.simplefilter("ignore")  # masks have no georeferencing
        expected = _declared_ifds(path)
        ifds, blocks, last = 0, 0, (0, 0)
        while ifds < _MAX_IFDS:
            tables = _block_tables(path, ifds + 1)
            if tables is None:
                break
            ifds += 1
            for start, count in tables:
                if count <= 0:
                    continue
                blocks += 1
                end = start + count + (4 if trailer else 0)
                if end > size:
                    raise LayoutError(
                        f"the file is truncated: image directory {ifds} has data up to byte {end} "
                        f"but the file has {size} bytes"
                    )
                if end > last[0] + last[1] + (4 if trailer else 0):
                    last = (start, count)
    if ifds == 0:
        raise LayoutError("the file has no image directory")
    if ifds < expected:
        raise LayoutError(f"the file is truncated: {ifds} of its {expected} image directories are readable")
    if last[1] and trailer:
        _check_ghost_block(path, *last, leader, big_endian=head[:2] == b"MM")
    return Layout(ifds=ifds, blocks=blocks, data_end=last[0] + last[1] + (4 if trailer else 0), file_size=size)


def _declared_ifds(path: str) -> int:
    """How many directories the dataset says it has: levels (full + overviews), doubled when
    it carries an internal per-dataset mask."""
    import rasterio
    from rasterio.enums import MaskFlags
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as ds:
            levels = 1 + len(ds.overviews(1))
            flags = ds.mask_flag_enums[0]
            internal = MaskFlags.per_dataset in flags and MaskFlags.alpha not in flags
            return levels * (2 if internal and not os.path.exists(path + ".msk") else 1)
    except RasterioIOError as exc:
        raise LayoutError(f"the file is truncated or damaged: {_first_line(exc)}") from None


def _block_tables(path: str, directory: int) -> list[tuple[int, int]] | None:
    """[(offset, size)] of every block of image directory `directory` (1-based) from GDAL's
    TIFF metadata; None when there is no such directory. LayoutError when a block's entry is
    unreadable (its table lies beyond the end of the file)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        ds = rasterio.open(f"GTIFF_DIR:{directory}:{path}")
    except RasterioIOError as exc:
        if "not found" in str(exc):
            return None
        raise LayoutError(f"the file is truncated inside image directory {directory}: {_first_line(exc)}") from None
    with ds:
        block_h, block_w = ds.block_shapes[0]
        rows, cols = math.ceil(ds.height / block_h), math.ceil(ds.width / block_w)
        separate = ds.count > 1 and ds.tags(ns="IMAGE_STRUCTURE").get("INTERLEAVE") == "BAND"
        tables = []
        for band in range(1, (ds.count if separate else 1) + 1):
            for row in range(rows):
                for col in range(cols):
                    offset = ds.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=band)
                    count = ds.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=band)
                    if offset is None or count is None:
                        raise LayoutError(
                            f"the file is truncated: block {col},{row} of image directory "
                            f"{directory} is not in its block table"
                        )
                    tables.append((int(offset), int(count)))
    return tables


def _check_ghost_block(path: str, start: int, count: int, leader: bool, big_endian: bool) -> None:
    """The block ending last must repeat its last 4 bytes after it (and carry its size before)."""
    with open(path, "rb") as handle:
        if leader:
            handle.seek(max(start - 4, 0))
            prefix = handle.read(4)
            if start < 4 or struct.unpack((">" if big_endian else "<") + "I", prefix)[0] != count:
                raise LayoutError("the last data block's size prefix does not match its directory entry")
        if count < 4:
            return
        handle.seek(start + count - 4)
        tail = handle.read(8)
    if len(tail) < 8 or tail[:4] != tail[4:]:
        raise LayoutError("the last data block's trailer does not repeat its last bytes (damaged file)")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
