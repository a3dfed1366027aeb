"""`--co KEY=VALUE`: parsing, and checking against the COG driver's own creation-option list.

The list comes from GDAL itself (the driver's DMD_CREATIONOPTIONLIST metadata, read through the
libgdal that rasterio loaded); if that cannot be reached, a copy of GDAL 3.10's list is used.
Options the pipeline decides itself (tiling, overviews) are refused.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import xml.etree.ElementTree as ET

from dsdit_geo.errors import OptionError

# Set by the writer (the temporary file's layout is built around them) or meaningless for us.
RESERVED = {"TILING_SCHEME", "ZOOM_LEVEL", "ZOOM_LEVEL_STRATEGY", "TARGET_SRS", "RES", "EXTENT",
            "ALIGNED_LEVELS", "ADD_ALPHA", "WARP_RESAMPLING", "OVERVIEWS"}  # fmt: skip
_FALLBACK = {
    "COMPRESS": ["NONE", "LZW", "JPEG", "DEFLATE", "LZMA", "ZSTD", "WEBP", "LERC", "LERC_DEFLATE",
                 "LERC_ZSTD"],
    "OVERVIEW_COMPRESS": ["NONE", "LZW", "JPEG", "DEFLATE", "LZMA", "ZSTD", "WEBP", "LERC",
                          "LERC_DEFLATE", "LERC_ZSTD"],
    "LEVEL": None, "PREDICTOR": ["YES", "NO", "STANDARD", "FLOATING_POINT", "2", "3"],
    "OVERVIEW_PREDICTOR": ["YES", "NO", "STANDARD", "FLOATING_POINT", "2", "3"],
    "QUALITY": None, "OVERVIEW_QUALITY": None, "MAX_Z_ERROR": None, "MAX_Z_ERROR_OVERVIEW": None,
    "NUM_THREADS": None, "NBITS": None, "BLOCKSIZE": None,
    "BIGTIFF": ["YES", "NO", "IF_NEEDED", "IF_SAFER"], "RESAMPLING": None,
    "OVERVIEW_RESAMPLING": None, "OVERVIEW_COUNT": None, "GEOTIFF_VERSION": None, "SPARSE_OK": None,
    "STATISTICS": None, "COPY_SRC_MDD": None, "SRC_MDD": None,
}  # fmt: skip


def parse_creation_options(items: list[str] | None) -> dict[str, str]:
    """['COMPRESS=LZW', 'level=9'] -> {'COMPRESS': 'LZW', 'LEVEL': '9'}; OptionError if malformed."""
    options: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise OptionError(f"--co needs KEY=VALUE, got {item!r}")
        options[key.strip().upper()] = value.strip()
    return options


@functools.lru_cache(maxsize=1)
def cog_creation_options() -> dict[str, list[str] | None]:
    """{option name: allowed values (None: free)} of GDAL's COG driver."""
    import rasterio

    try:
        with rasterio.Env():  # GDAL_DATA set: the driver reads its tiling schemes from there
            xml = _driver_option_list("COG")
    except (OSError, AttributeError, IndexError):
        xml = None
    if not xml:
        return dict(_FALLBACK)
    options: dict[str, list[str] | None] = {}
    for node in ET.fromstring(xml).iter("Option"):
        values = [v.text or "" for v in node.iter("Value")] + [
            v.get("alias") for v in node.iter("Value") if v.get("alias")
        ]
        options[node.get("name", "").upper()] = values or None
    return options


def _driver_option_list(driver: str) -> str | None:
    """The driver's DMD_CREATIONOPTIONLIST XML, from the libgdal bundled with (or used by) rasterio."""
    import rasterio

    folder = os.path.dirname(rasterio.__file__)
    candidates = glob.glob(os.path.join(folder + ".libs", "libgdal*")) or ["libgdal.so"]
    lib = ctypes.CDLL(candidates[0])
    lib.GDALAllRegister()
    lib.GDALGetDriverByName.restype = ctypes.c_void_p
    lib.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
    lib.GDALGetMetadataItem.restype = ctypes.c_char_p
    lib.GDALGetMetadataItem.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    handle = lib.GDALGetDriverByName(driver.encode())
    if not handle:
        return None
    text = lib.GDALGetMetadataItem(handle, b"DMD_CREATIONOPTIONLIST", None)
    return text.decode() if text else None


def check_creation_options(options: dict[str, str]) -> None:
    """OptionError for an option the COG driver does not know (or that we set ourselves), or a
    value outside the driver's list."""
    known = cog_creation_options()
    for key, value in options.items():
        name = key.upper()
        if name in RESERVED:
            raise OptionError(f"--co {name} is set by dsdit-geo itself and cannot be changed")
        if name not in known:
            raise OptionError(
                f"--co {name} is not a creation option of GDAL's COG driver "
                f"(known: {', '.join(sorted(k for k in known if k not in RESERVED))})"
            )
        allowed = known[name]
        if allowed and str(value).upper() not in {a.upper() for a in allowed}:
            raise OptionError(f"--co {name}={value}: must be one of {', '.join(allowed)}")
