"""STAC items (a local `.json` file, or an http(s) URL) as one raster: the chosen assets' bands.

Each name in `assets` is an asset key (all of that asset's bands) or, failing that, a band's
common name or name in the assets' `eo:bands` (STAC 1.0) / `bands` (STAC 1.1): `red` picks the
`B04` asset of a Sentinel-2 item, or band 1 of a NAIP item's 4-band `image` asset (a one-band
asset wins over a band inside a multi-band one, e.g. over a `visual` true-colour asset).
Default: red, green, blue, nir, as far as the item has them. Asset hrefs relative to the item
resolve against its folder (or URL); http(s) hrefs are read through `/vsicurl/`, s3:// through
`/vsis3/`. `raster:bands` nodata / scale / offset are used when present.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from dsdit_geo.errors import InputError
from dsdit_geo.raster.stack import Stack, StackBand

DEFAULT_ASSETS = ("red", "green", "blue", "nir")
_ALIASES = {"nir": ("nir08",)}  # Landsat's NIR (B5 of OLI, B4 of TM) is common name nir08
_URL = re.compile(r"^https?://", re.IGNORECASE)


def is_stac_item(path: str) -> bool:
    """A `.json` path or URL, or a STAC API item URL (`.../items/<id>`)."""
    bare = path.split("?", 1)[0].rstrip("/")
    return bare.lower().endswith(".json") or bool(_URL.match(bare) and re.search(r"/items/[^/]+$", bare))


def stac_stack(path: str, role: str, assets: list[str] | None = None) -> Stack:
    """The bands named by `assets` (default red, green, blue, nir) of the item at `path`."""
    item = _read_item(path, role)
    available = item.get("assets")
    if not isinstance(available, dict) or not available:
        raise InputError(f"{role} STAC item {path} has no assets")
    names = list(assets) if assets else list(DEFAULT_ASSETS)
    picks = {name: _find(name, available) for name in names}
    missing = [name for name, pick in picks.items() if pick is None]
    if assets and missing:
        raise InputError(
            f"{role} STAC item {path} has no asset(s) {', '.join(missing)} "
            f"(it has: {_describe(available)})"
        )
    names = [name for name in names if picks[name] is not None]
    if not names:
        raise InputError(
            f"{role} STAC item {path} has none of the assets {', '.join(DEFAULT_ASSETS)}: name the "
            f"assets to stack with --{role.lower()}-assets (it has: {_describe(available)})"
        )
    stack = Stack(tags={"STAC_ITEM": str(item.get("id", os.path.basename(path)))})
    for name in names:
        key, band = picks[name]
        stack.bands += _asset_bands(key, available[key], path, role, band)
    return stack


def _read_item(path: str, role: str) -> dict[str, Any]:
    if _URL.match(path):
        import urllib.request

        try:
            with urllib.request.urlopen(path, timeout=30) as response:  # noqa: S310 - the user's URL
                item = json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise InputError(f"{role} STAC item {path} could not be read: {exc}") from None
    else:
        if not os.path.isfile(path):
            raise InputError(f"{role} STAC item not found: {path}")
        try:
            with open(path, encoding="utf-8") as handle:
                item = json.load(handle)
        except (OSError, ValueError) as exc:
            raise InputError(f"{role} STAC item {path} is not valid JSON: {exc}") from None
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise InputError(f"{role} file {path} is not a STAC item (a GeoJSON Feature with assets)")
    return item


def _bands_of(asset: dict[str, Any]) -> list[dict[str, Any]]:
    """The asset's per-band descriptions (`eo:bands`, or STAC 1.1 `bands`) as dicts."""
    bands = asset.get("eo:bands") or asset.get("bands") or []
    return [b if isinstance(b, dict) else {} for b in bands] if isinstance(bands, list) else []


def _common_name(band: dict[str, Any]) -> str | None:
    name = band.get("common_name") or band.get("eo:common_name")
    return str(name) if name else None


def _find(name: str, assets: dict[str, Any]) -> tuple[str, int | None] | None:
    """(asset key, None = all its bands) for an asset key; (key, 0-based band) for a band's
    common name or name; None when the item has neither."""
    if isinstance(assets.get(name), dict):
        return name, None
    wanted = name.lower()
    hits = []
    for key, asset in assets.items():
        if not isinstance(asset, dict):
            continue
        bands = _bands_of(asset)
        for k, band in enumerate(bands):
            if wanted in ((_common_name(band) or "").lower(), str(band.get("name") or "").lower()):
                hits.append((len(bands) > 1, key, k))
    if not hits:
        aliases = [_find(alias, assets) for alias in _ALIASES.get(wanted, ())]
        return next((found for found in aliases if found), None)
    _, key, k = min(hits, key=lambda hit: hit[0])  # one-band assets first, then the item's order
    return key, (None if len(_bands_of(assets[key])) == 1 else k)


def _describe(assets: dict[str, Any]) -> str:
    bands = [b for a in assets.values() if isinstance(a, dict) for b in _bands_of(a)]
    names = sorted({_common_name(b) for b in bands} - {None})
    text = ", ".join(sorted(assets))
    return text + (f"; band common names: {', '.join(names)}" if names else "")


def _gdal_href(href: str, item_path: str) -> str:
    """A GDAL path for an asset href, relative ones against the item's location."""
    if _URL.match(href):
        return "/vsicurl/" + href
    if href.startswith("s3://"):
        return "/vsis3/" + href[len("s3://") :]
    if href.startswith("file://"):
        href = href[len("file://") :]
    if href.startswith("/"):
        return href
    if _URL.match(item_path):
        return "/vsicurl/" + item_path.split("?", 1)[0].rsplit("/", 1)[0] + "/" + href
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(item_path)), href))


def _asset_bands(
    key: str, asset: dict[str, Any], item_path: str, role: str, only: int | None
) -> list[StackBand]:
    """The asset's bands (or only its 0-based band `only`) as stack bands."""
    import rasterio
    from rasterio.errors import RasterioIOError

    href = _gdal_href(str(asset.get("href", "")), item_path)
    try:
        with rasterio.open(href) as ds:
            count = ds.count
    except RasterioIOError as exc:
        raise InputError(f"{role} STAC asset {key} ({href}) cannot be read: {exc}") from None
    eo, raster = _bands_of(asset), asset.get("raster:bands") or []
    out = []
    for k in range(count) if only is None else [only]:
        if k >= count:
            raise InputError(f"{role} STAC asset {key} ({href}) has {count} band(s), not {k + 1}")
        eo_k = eo[k] if k < len(eo) else {}
        raster_k = raster[k] if k < len(raster) and isinstance(raster[k], dict) else eo_k
        common = _common_name(eo_k) or (key if count == 1 and key in DEFAULT_ASSETS else None)
        description = eo_k.get("name") or common or (key if count == 1 else f"{key}_{k + 1}")
        out.append(
            StackBand(
                href,
                k + 1,
                str(description),
                common,
                nodata=_number(raster_k.get("nodata")),
                scale=_number(raster_k.get("scale")),
                offset=_number(raster_k.get("offset")),
            )
        )
    return out


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
