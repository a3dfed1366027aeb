"""GDAL's exceptions as rasterio raises them, one-line descriptions of them, and libtiff's own
error lines kept off stderr.

rasterio raises `CPLE_*` exceptions (not RasterioError subclasses) for GDAL errors, and wraps a
failed read as "Read or write failed. See previous exception for details." with the real cause
chained; `describe` digs that cause out so a message names it.

GDAL (3.x with libtiff >= 4.5) routes libtiff's errors about a file through CPLError (so they
reach the exception), but its own I/O callbacks report write and seek failures with libtiff's
process-wide `TIFFErrorExt`, whose default handler prints e.g. `_tiffWriteProc: No space left
on device.` straight to stderr, before our one `Error:` line. `quiet_libtiff()` unsets that
handler (in every libtiff loaded) for a block; the failure itself still raises through GDAL.
`libtiff_quieted()` says whether this process is inside such a block, so that the batch's pool
workers (other processes, with the same stderr) can do as their parent: `quiet_libtiff_for_good`.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator

_VAGUE = ("see previous exception", "read or write failed")
_quieted = 0  # how many quiet_libtiff blocks (or quiet_libtiff_for_good calls) this process is in


def gdal_errors() -> tuple[type[BaseException], ...]:
    """The base class of rasterio's CPLE_* exceptions (empty when rasterio lacks it)."""
    try:
        from rasterio._err import CPLE_BaseError
    except ImportError:  # pragma: no cover - a rasterio without it
        return ()
    return (CPLE_BaseError,)


def describe(exc: BaseException) -> str:
    """The most specific one-line message along `exc`'s chain of causes."""
    messages = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = " ".join(str(current).split())
        if text:
            messages.append(text)
        current = current.__cause__ or current.__context__
    specific = [m for m in messages if not any(v in m.lower() for v in _VAGUE)]
    if specific:
        return specific[0]
    return messages[0] if messages else type(exc).__name__


def _loaded_libtiffs() -> list[ctypes.CDLL]:
    """The libtiff libraries mapped into this process (Linux: /proc/self/maps; else none)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps if "libtiff" in line}
    except (OSError, IndexError):
        return []
    libs = []
    for path in sorted(p for p in paths if p.rsplit("/", 1)[-1].startswith("libtiff")):
        with contextlib.suppress(OSError, AttributeError):
            lib = ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_NOLOAD", 0) | ctypes.RTLD_LOCAL)
            lib.TIFFSetErrorHandler.restype = ctypes.c_void_p
            lib.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
            libs.append(lib)
    return libs


def _unset_libtiff_handlers() -> list[tuple[ctypes.CDLL, int | None]]:
    """Unset the error handler of every libtiff loaded (loading rasterio first, so GDAL's libtiff
    is there to be found) and count this process as quieted; returns (lib, previous handler)."""
    global _quieted
    import rasterio  # noqa: F401 - loads GDAL and the libtiff it uses

    previous = [(lib, lib.TIFFSetErrorHandler(None)) for lib in _loaded_libtiffs()]
    _quieted += 1
    return previous


@contextlib.contextmanager
def quiet_libtiff() -> Iterator[None]:
    """No libtiff default error lines on stderr inside the block; the previous handlers come
    back after it."""
    global _quieted
    previous = _unset_libtiff_handlers()
    try:
        yield
    finally:
        _quieted -= 1
        for lib, handler in previous:
            lib.TIFFSetErrorHandler(handler)


def quiet_libtiff_for_good() -> None:
    """`quiet_libtiff` for the rest of this process (a batch pool worker, started for the batch)."""
    _unset_libtiff_handlers()


def libtiff_quieted() -> bool:
    """Whether libtiff's default error lines are kept off stderr in this process just now."""
    return _quieted > 0
