"""Writing outputs atomically: strips -> hidden tiled GeoTIFF -> COG copy -> rename into place.

Everything is written beside the output (same filesystem) under hidden temporary names and
removed on any error or Ctrl-C, so the output path only ever holds a complete file. Strips span
the whole width, or (a grid too wide for that) one column block at a time, blocks left to right.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.errors import RasterioError
from rasterio.windows import Window

from dsdit_geo.errors import OptionError, OutputError
from dsdit_geo.raster.gdal_env import no_pam
from dsdit_geo.raster.gdal_errors import describe, gdal_errors
from dsdit_geo.raster.publish import Published, check_output_node, publish, settle, unpublish
from dsdit_geo.raster.temps import remove_stale, temp_name
from dsdit_geo.raster.verify import HASH_BLOCK_PX, BlockHasher, PixelHasher, VerifyError, verify_written
from dsdit_geo.signals import deferred_signals

BLOCK_PX = 512
OVERVIEW_RESAMPLING = "AVERAGE"
COMPRESSIONS = ("deflate", "zstd", "lzw")
_TEMP_SIDECARS = (".ovr.tmp", ".aux.xml", ".msk")
# COG compressions that keep every bit, so the pixel checksum written with the strips holds.
_LOSSLESS = ("DEFLATE", "ZSTD", "LZW", "LZMA", "PACKBITS", "NONE")


def check_output_path(path: str, overwrite: bool, what: str = "output") -> str:
    """The absolute output path, or OutputError if it exists (without `overwrite`), is a folder,
    or its folder is missing or not writable (tested by creating a file: works as root too)."""
    path = os.path.abspath(path)
    check_output_node(path, what)  # a folder, device, FIFO ...: refused even with overwrite
    if os.path.lexists(path) and not overwrite:
        raise OutputError(f"{what} file exists: {path} (use --overwrite to replace it)")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise OutputError(f"{what} folder does not exist: {folder}")
    try:
        os.remove(create_hidden_file(path, ".probe"))
    except OSError as exc:
        raise OutputError(f"{what} folder is not writable: {folder} ({exc.strerror or exc})") from None
    return path


def create_hidden_file(beside: str, suffix: str) -> str:
    """Create a new empty file '.<name>.<random>.p<pid><suffix>' in the folder of `beside` (mode
    0666 minus the umask, like any new file) and return its path; OSError if that is impossible."""
    folder, name = os.path.split(os.path.abspath(beside))
    for _ in range(100):
        path = os.path.join(folder, temp_name(name, suffix))
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name beside {beside}")


@dataclass
class OutputSpec:
    """What the output raster looks like. nodata None + write_mask: validity goes in a mask."""

    crs: CRS
    transform: Affine
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None = None
    write_mask: bool = False
    descriptions: tuple[str | None, ...] = ()  # None: left unset
    colorinterp: tuple[ColorInterp, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    compress: str = "deflate"
    # per band, () = none: scale/offset/units and tags kept from the LR
    scales: tuple[float, ...] = ()
    offsets: tuple[float, ...] = ()
    units: tuple[str, ...] = ()
    band_tags: tuple[dict[str, str], ...] = ()
    creation_options: dict[str, str] = field(default_factory=dict)  # --co, over our COG defaults

    @property
    def is_float(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.floating)


def cog_options(spec: OutputSpec) -> dict[str, str]:
    """The COG driver's creation options: our defaults, then the user's `--co` on top."""
    options = {
        "COMPRESS": spec.compress.upper(),
        "PREDICTOR": "YES",
        "BLOCKSIZE": str(BLOCK_PX),
        "OVERVIEWS": "AUTO",
        "OVERVIEW_RESAMPLING": OVERVIEW_RESAMPLING,
        "BIGTIFF": "IF_SAFER",
    }
    options.update({key.upper(): value for key, value in spec.creation_options.items()})
    return options


def _write_band_metadata(ds, spec: OutputSpec) -> None:
    """Descriptions (only those set), scales, offsets, units and band tags of `spec`."""
    for i, description in enumerate(spec.descriptions, start=1):
        if description:
            ds.set_band_description(i, description)
    if spec.scales:
        ds.scales = spec.scales
    if spec.offsets:
        ds.offsets = spec.offsets
    if spec.units:
        ds.units = spec.units
    for i, tags in enumerate(spec.band_tags, start=1):
        if tags:
            ds.update_tags(i, **tags)


class AtomicCogWriter:
    """Context manager: `write_rows` strips in order, then `commit()` publishes the COG
    (`finish()` + `publish()`; outputs that belong together: `commit_together`).

    Without `commit()` (an error, Ctrl-C) every temporary file is removed and the output path
    is left untouched. Rows are buffered into whole 512-row block rows (as wide as the strips:
    the grid or one column block) so the temporary GeoTIFF never rewrites a compressed block.
    Strips of the whole width get the row checksum, column blocks the block checksum (verify.py).
    """

    def __init__(self, out_path: str, spec: OutputSpec, *, overwrite: bool = False) -> None:
        """`overwrite` False: `commit()` fails, leaving it alone, if a file appeared at `out_path`."""
        if spec.compress not in COMPRESSIONS:
            raise OptionError(f"--compress must be one of {', '.join(COMPRESSIONS)}, got {spec.compress!r}")
        self.out_path = os.path.abspath(out_path)
        self.spec = spec
        self._temps: list[str] = []
        self._ds = None
        # the column block being written, [col0, col1), and its next row; none yet: the empty
        # block [0, 0), finished. The buffer and checksum are made by the first block.
        self._col0 = self._col1 = 0
        self._next_row = spec.height
        self._buf = np.zeros((spec.count, 0, 0), spec.dtype)
        self._buf_mask: np.ndarray | None = None
        self._buf_row0 = 0
        self._buf_fill = 0
        self.overwrite = overwrite
        self._lossless = cog_options(spec).get("COMPRESS", "").upper() in _LOSSLESS
        self._hasher: PixelHasher | BlockHasher | None = None
        self._cog_path: str | None = None  # the finished, verified COG (finish) until published

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> AtomicCogWriter:
        remove_stale(self.out_path)  # temporaries of killed runs on this output
        try:
            strips_path = self._new_temp(".strips.tif")
            with no_pam():
                self._ds = rasterio.open(strips_path, "w", **self._strip_profile())
                self._ds.update_tags(**self.spec.tags)
                _write_band_metadata(self._ds, self.spec)
                if self.spec.colorinterp:
                    self._ds.colorinterp = self.spec.colorinterp
        except BaseException as exc:
            self._cleanup()
            if isinstance(exc, (OSError, RasterioError, *gdal_errors())):
                raise OutputError(
                    f"cannot create a temporary file beside {self.out_path}: {describe(exc)}"
                ) from None
            raise
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._cleanup()

    def _new_temp(self, suffix: str) -> str:
        path = create_hidden_file(self.out_path, suffix)
        self._temps.append(path)
        return path

    def _cleanup(self) -> None:
        if self._ds is not None:
            with contextlib.suppress(Exception), no_pam():
                self._ds.close()
            self._ds = None
        for path in self._temps:
            for name in (path, *(path + s for s in _TEMP_SIDECARS)):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(name)
        self._temps.clear()

    def _strip_profile(self) -> dict:
        spec = self.spec
        profile = dict(
            driver="GTiff",
            width=spec.width,
            height=spec.height,
            count=spec.count,
            dtype=spec.dtype,
            crs=spec.crs,
            transform=spec.transform,
            nodata=spec.nodata,
            tiled=True,
            blockxsize=BLOCK_PX,
            blockysize=BLOCK_PX,
            compress=spec.compress,
            predictor=3 if spec.is_float else 2,
            bigtiff="IF_SAFER",
            interleave="pixel",
        )
        if spec.compress == "deflate":
            profile["zlevel"] = 1  # the temporary file favours speed
        elif spec.compress == "zstd":
            profile["zstd_level"] = 1
        return profile

    # -- writing -------------------------------------------------------------------------
    def write_rows(
        self, row0: int, values: np.ndarray, valid: np.ndarray | None = None, col0: int = 0
    ) -> None:
        """Append rows [row0, row0 + n) of grid columns [col0, col0 + w): values (count, n, w) of
        the output dtype; valid (n, w) bool, used when the spec writes a mask. w is the grid's
        width, or the width of a column block: blocks come left to right, each from row 0 to
        the last row, starting on multiples of 512 px."""
        if (col0, col0 + values.shape[2]) != (self._col0, self._col1):
            self._start_block(col0, col0 + values.shape[2])
        if row0 != self._next_row:
            raise ValueError(f"rows must come in order: expected {self._next_row}, got {row0}")
        n = values.shape[1]
        pos = 0
        while pos < n:
            take = min(n - pos, self._buf.shape[1] - self._buf_fill)
            self._buf[:, self._buf_fill : self._buf_fill + take] = values[:, pos : pos + take]
            if self._buf_mask is not None:
                self._buf_mask[self._buf_fill : self._buf_fill + take] = np.where(
                    valid[pos : pos + take], 255, 0
                )
            self._buf_fill += take
            pos += take
            if self._buf_fill == min(self._buf.shape[1], self.spec.height - self._buf_row0):
                self._write_buffer()
        self._next_row += n

    def _start_block(self, col0: int, col1: int) -> None:
        """Begin the column block [col0, col1) once the previous one is finished."""
        spec = self.spec
        if self._next_row != spec.height or col0 != self._col1:
            raise ValueError(
                f"column blocks must come left to right, each finished: columns {self._col0}.."
                f"{self._col1} have {self._next_row} of {spec.height} rows, next got {col0}..{col1}"
            )
        if col1 > spec.width or col1 <= col0 or (col1 - col0 < spec.width and col0 % HASH_BLOCK_PX):
            raise ValueError(f"columns {col0}..{col1} are not a column block of a {spec.width} px grid")
        if self._col1 == 0 and self._lossless:  # the first block: whole rows, or blocks
            with_mask = spec.write_mask
            self._hasher = (
                PixelHasher(spec.count, with_mask)
                if col1 - col0 == spec.width
                else BlockHasher(spec.count, with_mask, spec.width, spec.height)
            )
        shape = (min(BLOCK_PX, spec.height), col1 - col0)
        if self._buf.shape[1:] != shape:  # one allocation for whole rows; per block otherwise
            self._buf = np.zeros((spec.count, *shape), spec.dtype)
            self._buf_mask = np.zeros(shape, np.uint8) if spec.write_mask else None
        self._col0, self._col1 = col0, col1
        self._next_row = self._buf_row0 = self._buf_fill = 0

    def _write_buffer(self) -> None:
        n = self._buf_fill
        window = Window(self._col0, self._buf_row0, self._col1 - self._col0, n)
        if self._hasher is not None:
            mask = None if self._buf_mask is None else self._buf_mask[:n]
            self._hasher.add(self._buf_row0, self._col0, self._buf[:, :n], mask)
        try:
            self._ds.write(self._buf[:, :n], window=window)
            if self._buf_mask is not None:
                self._ds.write_mask(self._buf_mask[:n], window=window)
        except (OSError, RasterioError, *gdal_errors()) as exc:
            raise OutputError(
                f"writing a temporary file beside {self.out_path} failed: {describe(exc)}"
                f"{_disk_hint(self.out_path)}"
            ) from None
        self._buf_row0 += n
        self._buf_fill = 0

    def commit(self) -> None:
        """Finish the COG (`finish`) and publish it (`publish`): the one-output case."""
        self.finish()
        self.publish()

    def finish(self) -> None:
        """Finish the strips, copy them to a COG beside the output and verify it (fsync, every
        block decodes, pixel checksums match); nothing is published yet. Ctrl-C / SIGTERM during
        the copy and the check take effect after them."""
        if self._next_row != self.spec.height or self._col1 != self.spec.width:
            raise ValueError(
                f"only {self._next_row} of {self.spec.height} rows of columns {self._col0}.."
                f"{self._col1} of {self.spec.width} were written"
            )
        spec = self.spec
        try:
            strips_path = self._ds.name
            with deferred_signals():  # GDAL's long calls: a signal takes effect after them
                with no_pam():
                    if self._hasher is not None:
                        self._ds.update_tags(**self._hasher.tags())
                    self._ds.close()
                self._ds = None
                cog_path = self._new_temp(".cog.tif")
                with no_pam():
                    rasterio.shutil.copy(strips_path, cog_path, driver="COG", **cog_options(spec))
                verify_written(cog_path, spec.width, spec.height, spec.count, self._hasher is not None)
            self._cog_path = cog_path
        except VerifyError as exc:
            raise OutputError(
                f"writing {self.out_path} failed: the written file does not check out ({exc})"
                f"{_disk_hint(self.out_path) or '; is the disk full?'}"
            ) from None
        except (OSError, RasterioError, *gdal_errors()) as exc:
            raise self._failed(exc) from None

    def publish(self, *, keep_previous: bool = False) -> Published:
        """Put the finished COG at the output path (publish.py); `keep_previous`: the file it
        replaces stays reachable so that `unpublish` can bring it back (until `settle`)."""
        if self._cog_path is None:
            raise ValueError("publish() needs finish() first")
        try:
            published = publish(
                self._cog_path, self.out_path, self.overwrite, keep_previous=keep_previous
            )
        except (OSError, RasterioError, *gdal_errors()) as exc:
            raise self._failed(exc) from None
        self._temps.remove(self._cog_path)
        self._cog_path = None
        return published

    def _failed(self, exc: BaseException) -> OutputError:
        return OutputError(f"writing {self.out_path} failed: {describe(exc)}{_disk_hint(self.out_path)}")


def commit_together(writers: list[AtomicCogWriter]) -> None:
    """All or nothing for outputs that belong together: finish (copy and verify) every COG
    first, then publish them in order, Ctrl-C / SIGTERM held back meanwhile. Should one fail,
    those already published are taken back (the files they replaced, if any, come back: see
    publish.py) and its OutputError is raised. Put the main output last: once it appears, its
    companions are there too."""
    for writer in writers:
        writer.finish()
    done: list[Published] = []
    with deferred_signals():
        try:
            for i, writer in enumerate(writers):
                done.append(writer.publish(keep_previous=i < len(writers) - 1))
        except BaseException as exc:
            lost = [p.path for p in reversed(done) if not unpublish(p)]
            if lost and isinstance(exc, OutputError):
                raise OutputError(
                    f"{exc.message}; {', '.join(lost)}, published just before, could not be "
                    "restored to what was there"
                ) from None
            raise
        for published in done:
            settle(published)


def _disk_hint(out_path: str, low_bytes: int = 16 * 1024 * 1024) -> str:
    """'; the disk is full ...' when the output's file system has almost no space left."""
    try:
        info = os.statvfs(os.path.dirname(out_path))
    except (OSError, AttributeError):
        return ""
    free = info.f_bavail * info.f_frsize
    return f"; the disk is full ({free // 1024} KiB free there)" if free < low_bytes else ""
