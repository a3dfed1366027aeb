"""Nodata from the command line (like gdalwarp -srcnodata / -dstnodata) and the zero-fill check.

An override is None (keep what the file declares), NO_NODATA ("none": every pixel is data, the
file's nodata and mask are ignored) or a number (NaN allowed for float rasters).
"""

from __future__ import annotations

import math

import numpy as np
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader

from dsdit_geo.errors import OptionError

NO_NODATA = "none"
NodataOverride = float | str | None
ZERO_FILL_SHARE = 0.01  # warn above 1 % exact zeros
_CHECK_PX = 256 * 256  # pixels read (decimated, overviews when present) for the zero check


def parse_nodata(value: float | str | None, flag: str) -> NodataOverride:
    """'none' -> NO_NODATA, '0' / '-9999' / 'nan' -> float, None -> None; OptionError otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == NO_NODATA:
            return NO_NODATA
        try:
            return float(text)
        except ValueError:
            raise OptionError(f"{flag} must be a number, 'nan' or 'none', got {value!r}") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise OptionError(f"{flag} must be a number, 'nan' or 'none', got {value!r}")


def check_fits(value: NodataOverride, dtype: str, flag: str) -> None:
    """OptionError when a numeric nodata value cannot be stored in `dtype`."""
    if value is None or value == NO_NODATA:
        return
    kind = np.dtype(dtype)
    if np.issubdtype(kind, np.floating):
        return
    if math.isnan(value) or value != int(value):
        raise OptionError(f"{flag} {value:g} is not a whole number, but the output is {dtype}")
    info = np.iinfo(kind)
    if not info.min <= value <= info.max:
        raise OptionError(f"{flag} {value:g} is outside the range of {dtype} ({info.min}..{info.max})")


def resolve(override: NodataOverride, declared: float | None) -> float | None:
    """The nodata value that applies: the override, or the declared one when there is none."""
    if override is None:
        return declared
    return None if override == NO_NODATA else float(override)


def zero_fill_warning(ds: DatasetReader, indexes: list[int], role: str = "LR") -> str | None:
    """A one-line warning when a uint16 raster without nodata has > 1 % exact zeros (raw
    Sentinel-2 fill), from a decimated read (GDAL uses overviews when the file has them)."""
    if ds.nodata is not None or any(ds.dtypes[i - 1] != "uint16" for i in indexes):
        return None
    if any(flags != [MaskFlags.all_valid] for flags in ds.mask_flag_enums):
        return None  # a mask or alpha band says where the data is
    factor = max(1, math.ceil(math.sqrt(ds.width * ds.height / _CHECK_PX)))
    shape = (max(1, ds.height // factor), max(1, ds.width // factor))
    try:
        sample = ds.read(indexes[0], out_shape=shape, resampling=Resampling.nearest)
    except RasterioError:
        return None  # a read problem is reported by the reads that need the data
    share = float(np.count_nonzero(sample == 0)) / sample.size
    if share <= ZERO_FILL_SHARE:
        return None
    flag = "--lr-nodata" if role == "LR" else "--ref-nodata"
    return (
        f"Warning: the {role} declares no nodata but {share:.0%} of its pixels are 0 "
        f"(fill?): pass {flag} 0 to treat them as nodata"
    )
