"""A warning when a UTM --crs is far from the data (another hemisphere, or a zone more than
`MAX_ZONE_DISTANCE` away): such grids are valid but badly distorted, usually a typo."""

from __future__ import annotations

import math
import sys

from pyproj import CRS as ProjCRS
from pyproj.exceptions import CRSError, ProjError
from rasterio.crs import CRS

from dsdit_geo.geo.grid import RasterGeometry, reproject_polygon

MAX_ZONE_DISTANCE = 2
_WGS84 = CRS.from_epsg(4326)


def utm_zone_of(lon: float, lat: float) -> tuple[int, str]:
    """The UTM (zone 1..60, 'N' | 'S') of a point (plain 6° zones; Norway's exceptions ignored)."""
    zone = math.floor((lon + 180.0) / 6.0) % 60 + 1
    return zone, "N" if lat >= 0 else "S"


def far_utm_message(crs: CRS, lon: float, lat: float) -> str | None:
    """A one-line warning when `crs` is a UTM zone far from (lon, lat), else None."""
    try:
        zone_text = ProjCRS.from_wkt(crs.to_wkt()).utm_zone
    except (CRSError, ProjError, ValueError):
        return None
    if not zone_text:
        return None
    zone, hemisphere = int(zone_text[:-1]), zone_text[-1].upper()
    data_zone, data_hemisphere = utm_zone_of(lon, lat)
    distance = min(abs(zone - data_zone), 60 - abs(zone - data_zone))
    if hemisphere == data_hemisphere and distance <= MAX_ZONE_DISTANCE:
        return None
    return (
        f"Warning: --crs is UTM zone {zone}{hemisphere} but the data lie in zone "
        f"{data_zone}{data_hemisphere} (lon {lon:.2f}, lat {lat:.2f}): the output will be badly "
        "distorted; is the CRS right?"
    )


def warn_far_utm(grid_crs: CRS, lr: RasterGeometry, requested: str | None, quiet: bool = False) -> str | None:
    """Print (unless quiet) and return the warning for a requested UTM CRS far from the LR."""
    if requested is None:
        return None
    try:
        centre = reproject_polygon(lr.footprint(), lr.crs, _WGS84).centroid
    except Exception:  # noqa: BLE001 - a footprint that cannot go to lon/lat: no warning
        return None
    if not (math.isfinite(centre.x) and math.isfinite(centre.y)):
        return None
    message = far_utm_message(grid_crs, centre.x, centre.y)
    if message and not quiet:
        print(message, file=sys.stderr)
    return message
