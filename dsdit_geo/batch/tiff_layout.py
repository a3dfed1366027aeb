"""Where a TIFF's image data lies, read from its headers alone (classic TIFF and BigTIFF).

`check_layout(path)` walks every IFD of the main chain (full resolution, internal masks and
overviews: GDAL writes them all there) and checks that every strip or tile it points to lies
inside the file. Truncation anywhere past the headers therefore shows, whatever the block order,
without decoding a pixel. GDAL COGs also repeat the last 4 bytes of each block after it
(`BLOCK_TRAILER=LAST_4_BYTES_REPEATED`) and prefix its size (`BLOCK_LEADER=SIZE_AS_UINT4`): when the
ghost header says so, those are required too, and checked for the block that ends last.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

_OFFSET_TAGS = {273: 279, 324: 325}  # StripOffsets -> StripByteCounts, TileOffsets -> TileByteCounts
_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # SHORT, LONG, LONG8
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
    """Walk the TIFF at `path`; LayoutError when a header is unreadable or a block (with its
    COG leader / trailer) does not fit in the file."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        reader = _Reader(handle, size)
        first_ifd = reader.header()
        trailer = b"BLOCK_TRAILER=LAST_4_BYTES_REPEATED" in reader.read_at(0, min(size, 512))
        leader = trailer and b"BLOCK_LEADER=SIZE_AS_UINT4" in reader.read_at(0, min(size, 512))
        ifds, blocks, last = 0, 0, (0, 0)
        seen: set[int] = set()
        offset = first_ifd
        while offset:
            if offset in seen or ifds >= _MAX_IFDS:
                raise LayoutError("the chain of image directories loops")
            seen.add(offset)
            entries, offset = reader.ifd(offset)
            ifds += 1
            for offsets_tag, counts_tag in _OFFSET_TAGS.items():
                if offsets_tag not in entries:
                    continue
                if counts_tag not in entries:
                    raise LayoutError(f"image directory {ifds} has block offsets but no byte counts")
                starts = reader.values(entries[offsets_tag])
                counts = reader.values(entries[counts_tag])
                if len(starts) != len(counts):
                    raise LayoutError(f"image directory {ifds} has mismatched block tables")
                present = counts > 0
                ends = starts[present] + counts[present] + (4 if trailer else 0)
                blocks += int(present.sum())
                if ends.size:
                    k = int(np.argmax(ends))
                    if int(ends[k]) > size:
                        raise LayoutError(
                            f"the file is truncated: image directory {ifds} has data up to byte "
                            f"{int(ends[k])} but the file has {size} bytes"
                        )
                    if int(ends[k]) > last[0] + last[1]:
                        last = (int(starts[present][k]), int(counts[present][k]))
        if ifds == 0:
            raise LayoutError("the file has no image directory")
        if last[1] and trailer:
            _check_ghost_block(reader, *last, leader)
    return Layout(
        ifds=ifds, blocks=blocks, data_end=last[0] + last[1] + (4 if trailer else 0), file_size=size
    )


def _check_ghost_block(reader: _Reader, start: int, count: int, leader: bool) -> None:
    """The block ending last must repeat its last 4 bytes after it (and carry its size before)."""
    if leader and (start < 4 or struct.unpack(reader.endian + "I", reader.read_at(start - 4, 4))[0] != count):
        raise LayoutError("the last data block's size prefix does not match its directory entry")
    if count < 4:
        return
    tail = reader.read_at(start + count - 4, 8)
    if len(tail) < 8 or tail[:4] != tail[4:]:
        raise LayoutError("the last data block's trailer does not repeat its last bytes (damaged file)")


class _Reader:
    """Little helpers over an open TIFF file: header, IFD entries, tag values."""

    def __init__(self, handle, size: int) -> None:
        self.handle, self.size = handle, size
        self.endian = "<"
        self.big = False

    def read_at(self, offset: int, n: int) -> bytes:
        self.handle.seek(offset)
        return self.handle.read(n)

    def header(self) -> int:
        head = self.read_at(0, 16)
        if len(head) < 8 or head[:2] not in (b"II", b"MM"):
            raise LayoutError("not a TIFF file")
        self.endian = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack(self.endian + "H", head[2:4])[0]
        if magic == 42:
            return struct.unpack(self.endian + "I", head[4:8])[0]
        if magic == 43 and len(head) == 16:
            self.big = True
            return struct.unpack(self.endian + "Q", head[8:16])[0]
        raise LayoutError("not a TIFF file")

    def ifd(self, offset: int) -> tuple[dict[int, tuple[int, int, int, bytes]], int]:
        """{tag: (type, count, value_offset, inline_bytes)} and the next IFD offset."""
        count_fmt, entry_size, next_fmt = ("Q", 20, "Q") if self.big else ("H", 12, "I")
        count_size = struct.calcsize(count_fmt)
        raw = self.read_at(offset, count_size)
        if len(raw) < count_size:
            raise LayoutError(f"the file is truncated inside an image directory (byte {offset})")
        n = struct.unpack(self.endian + count_fmt, raw)[0]
        body = self.read_at(offset + count_size, n * entry_size + struct.calcsize(next_fmt))
        if len(body) < n * entry_size + struct.calcsize(next_fmt):
            raise LayoutError(f"the file is truncated inside an image directory (byte {offset})")
        entries = {}
        value_fmt = "Q" if self.big else "I"
        inline = 8 if self.big else 4
        for k in range(n):
            entry = body[k * entry_size : (k + 1) * entry_size]
            tag, typ = struct.unpack(self.endian + "HH", entry[:4])
            count = struct.unpack(self.endian + count_fmt.replace("H", "I"), entry[4 : 4 + inline])[0]
            value_bytes = entry[4 + inline :]
            entries[tag] = (typ, count, struct.unpack(self.endian + value_fmt, value_bytes)[0], value_bytes)
        next_offset = struct.unpack(self.endian + next_fmt, body[n * entry_size :])[0]
        return entries, next_offset

    def values(self, entry: tuple[int, int, int, bytes]) -> np.ndarray:
        """An integer tag's values as int64 (inline or at their offset)."""
        typ, count, value_offset, value_bytes = entry
        if typ not in _TYPES:
            raise LayoutError(f"unexpected TIFF type {typ} for a block table")
        code, width = _TYPES[typ]
        nbytes = count * width
        data = value_bytes[:nbytes] if nbytes <= len(value_bytes) else self.read_at(value_offset, nbytes)
        if len(data) < nbytes:
            raise LayoutError("the file is truncated inside a block table")
        return np.frombuffer(data, dtype=np.dtype(self.endian + code)).astype(np.int64)
