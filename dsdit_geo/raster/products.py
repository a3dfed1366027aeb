"""Multi-file inputs as one raster: a Sentinel-2 `.SAFE` product (folder or `.zip`) or a STAC item.

`resolve_input(path, role, assets)` returns `path` unchanged for a plain raster, else the XML of
an in-memory VRT stacking the product's bands (`raster.stack`), which rasterio opens like a path:
see `raster.sentinel2` (B04, B03, B02, B08 at 10 m, L2A / L1C, scale and offset from the
product's XML) and `raster.stac` (the assets or bands named by `assets`).
"""

from __future__ import annotations

import os

from dsdit_geo.errors import InputError
from dsdit_geo.raster.sentinel2 import is_safe, safe_stack
from dsdit_geo.raster.stac import DEFAULT_ASSETS, is_stac_item, stac_stack
from dsdit_geo.raster.stack import vrt_xml

__all__ = ["DEFAULT_ASSETS", "is_product", "resolve_input"]


def is_product(path: str) -> bool:
    """True for a .SAFE folder, a .zip holding one, or a STAC item (.json file or URL)."""
    return is_safe(path) or is_stac_item(path)


def resolve_input(path: str, role: str, assets: list[str] | None = None) -> str:
    """`path` itself, or the VRT XML stacking a SAFE product's / STAC item's bands."""
    flag = f"--{role.lower()}-assets"
    if is_stac_item(path):
        return vrt_xml(stac_stack(path, role, assets), role, path)
    if is_safe(path):
        if assets:
            raise InputError(f"{flag} is for STAC items; the {role} is a .SAFE product: {path}")
        return vrt_xml(safe_stack(path, role), role, os.path.basename(path.rstrip("/")))
    if assets:
        raise InputError(f"{flag} needs a STAC item (.json), but the {role} is {path}")
    return path
