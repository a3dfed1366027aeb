"""Sentinel-2 `.SAFE` products (a folder, or its `.zip` read through `/vsizip/`), L2A and L1C.

The 10 m bands B04, B03, B02, B08 are found by their standard file names: L2A
`GRANULE/<granule>/IMG_DATA/R10m/<tile>_<date>_B04_10m.jp2`, L1C
`GRANULE/<granule>/IMG_DATA/<tile>_<date>_B04.jp2`. The product's XML (`MTD_MSIL2A.xml` /
`MTD_MSIL1C.xml`) is optional: when it is there, its quantification value and `BOA_ADD_OFFSET` /
`RADIO_ADD_OFFSET` become each band's scale (1 / quantification) and offset (add offset /
quantification), so reflectance = DN * scale + offset; without it the band files' own
scale / offset (if any) are kept.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable

from dsdit_geo.errors import InputError
from dsdit_geo.raster.stack import Stack, StackBand

BANDS = ("B04", "B03", "B02", "B08")
COMMON_NAMES = {"B04": "red", "B03": "green", "B02": "blue", "B08": "nir"}
_BAND_ID = {"B01": 0, "B02": 1, "B03": 2, "B04": 3, "B05": 4, "B06": 5, "B07": 6, "B08": 7,
            "B8A": 8, "B09": 9, "B10": 10, "B11": 11, "B12": 12}  # fmt: skip
_BAND_FILE = re.compile(
    r"(?:^|/)GRANULE/(?P<granule>[^/]+)/IMG_DATA/(?:(?P<r10m>R10m/)[^/]*_(?P<b2a>B0[2348])_10m"
    r"|[^/]*_(?P<b1c>B0[2348]))\.jp2$",
    re.IGNORECASE,
)
_QUANTIFICATION = ("BOA_QUANTIFICATION_VALUE", "L2A_BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE")
_MTD = re.compile(r"(?:^|/)MTD_MSIL(?:2A|1C)\.xml$", re.IGNORECASE)


def is_safe(path: str) -> bool:
    """A `.SAFE` folder (or any folder with a GRANULE folder), or a `.zip` holding one."""
    bare = path.rstrip("/")
    if os.path.isdir(bare):
        return bare.lower().endswith(".safe") or os.path.isdir(os.path.join(bare, "GRANULE"))
    if bare.lower().endswith(".safe"):
        return True  # missing: safe_stack says so
    return bare.lower().endswith(".zip") and os.path.isfile(bare) and _zip_holds_safe(bare)


def safe_stack(path: str, role: str) -> Stack:
    """B04, B03, B02, B08 of the product at `path`; InputError naming missing band files."""
    bare = path.rstrip("/")
    if not os.path.exists(bare):
        raise InputError(f"{role} product not found: {path}")
    files, prefix, read = _listing(bare, role)
    granule, found = _band_files(files)
    missing = [b for b in BANDS if b not in found]
    if missing:
        lacks = _missing_text(missing, granule, found)
        raise InputError(f"{role} product {path} {lacks}: is the download complete?")
    radiometry = _radiometry(files, read)
    stack = Stack(tags={"PRODUCT": os.path.basename(bare)})
    for band in BANDS:
        scale, offset = radiometry.get(band, (None, None))
        stack.bands.append(
            StackBand(prefix + found[band], 1, band, COMMON_NAMES[band], 0.0, scale, offset)
        )
    return stack


def _missing_text(missing: list[str], granule: str | None, found: dict[str, str]) -> str:
    """'lacks the 10 m band file(s) B08 in granule G: <the file names they would have>'."""
    text = f"lacks the 10 m band file(s) {', '.join(missing)}"
    if not found:
        return text + (
            " (expected GRANULE/*/IMG_DATA/R10m/*_<band>_10m.jp2 (L2A)"
            " or GRANULE/*/IMG_DATA/*_<band>.jp2 (L1C))"
        )
    model = next(iter(found.items()))  # (band, file): the missing files are named like this one
    pattern = re.compile(rf"_{model[0]}(_10m)?\.jp2$", re.IGNORECASE)
    expected = [pattern.sub(rf"_{band}\1.jp2", model[1]) for band in missing]
    return f"{text} in granule {granule}: {', '.join(expected)}"


def _zip_holds_safe(zip_path: str) -> bool:
    """True for a zip with an `X.SAFE/` folder, or a `GRANULE/` folder (a product zipped bare)."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.split("/")[0].upper().endswith(".SAFE") or "GRANULE/" in n for n in names)


def _listing(path: str, role: str) -> tuple[list[str], str, Callable[[str], bytes]]:
    """(every file inside the product, relative; the GDAL prefix that opens them; a reader)."""
    if os.path.isdir(path):
        files = []
        for folder, _, names in os.walk(path):
            files += [os.path.relpath(os.path.join(folder, n), path).replace(os.sep, "/") for n in names]

        def read(member: str) -> bytes:
            with open(os.path.join(path, member), "rb") as handle:
                return handle.read()

        return files, os.path.abspath(path) + "/", read
    try:
        with zipfile.ZipFile(path) as archive:
            files = [n for n in archive.namelist() if not n.endswith("/")]
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{role} file {path} is not a readable zip of a .SAFE product: {exc}") from None

    def read_zip(member: str) -> bytes:
        with zipfile.ZipFile(path) as archive:
            return archive.read(member)

    return files, f"/vsizip/{os.path.abspath(path)}/", read_zip


def _band_files(files: list[str]) -> tuple[str | None, dict[str, str]]:
    """(granule, {band: file}) for the first granule (sorted) that has the most of BANDS; L2A's
    R10m files are preferred over L1C-style names."""
    by_granule: dict[str, dict[str, str]] = {}
    for name in sorted(files):
        match = _BAND_FILE.search(name)
        if not match:
            continue
        band = (match["b2a"] or match["b1c"]).upper()
        bands = by_granule.setdefault(match["granule"], {})
        if band not in bands or match["r10m"]:
            bands[band] = name
    if not by_granule:
        return None, {}
    granule = max(sorted(by_granule), key=lambda g: len(by_granule[g]))
    return granule, by_granule[granule]


def _radiometry(files: list[str], read: Callable[[str], bytes]) -> dict[str, tuple[float, float]]:
    """{band: (scale, offset)} from MTD_MSIL2A.xml / MTD_MSIL1C.xml; {} when missing or unusable."""
    mtd = sorted(f for f in files if _MTD.search(f))
    if not mtd:
        return {}
    try:
        root = ET.fromstring(read(min(mtd, key=len)))
    except (OSError, ET.ParseError, KeyError):
        return {}
    values: dict[str, float] = {}
    offsets: dict[str, dict[int, float]] = {"BOA_ADD_OFFSET": {}, "RADIO_ADD_OFFSET": {}}
    for node in root.iter():
        tag = node.tag.rsplit("}", 1)[-1]
        try:
            if tag in _QUANTIFICATION and node.text:
                values[tag] = float(node.text)
            elif tag in offsets and node.text and node.get("band_id"):
                offsets[tag][int(node.get("band_id"))] = float(node.text)
        except ValueError:
            continue
    quantification = next((values[t] for t in _QUANTIFICATION if values.get(t)), None)
    if not quantification:
        return {}
    add = offsets["BOA_ADD_OFFSET"] or offsets["RADIO_ADD_OFFSET"]  # L2A: BOA; L1C: RADIO
    return {b: (1.0 / quantification, add.get(_BAND_ID[b], 0.0) / quantification) for b in BANDS}
