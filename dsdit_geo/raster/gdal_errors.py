"""GDAL's exceptions as rasterio raises them, and one-line descriptions of them.

rasterio raises `CPLE_*` exceptions (not RasterioError subclasses) for GDAL errors, and wraps a
failed read as "Read or write failed. See previous exception for details." with the real cause
chained; `describe` digs that cause out so a message names it.
"""

from __future__ import annotations

_VAGUE = ("see previous exception", "read or write failed")


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
