"""A far-away UTM --crs gives one warning line; a near one or a non-UTM CRS none."""

from __future__ import annotations

from affine import Affine
from rasterio.crs import CRS

from dsdit_geo.geo.grid import RasterGeometry
from dsdit_geo.geo.utm_check import far_utm_message, utm_zone_of, warn_far_utm


def test_utm_zone_of():
    assert utm_zone_of(-117.0, 36.1) == (11, "N")
    assert utm_zone_of(15.0, -33.9) == (33, "S")
    assert utm_zone_of(179.9, 0.0) == (60, "N") and utm_zone_of(-180.0, 0.0) == (1, "N")


def test_far_zones_and_hemispheres_warn():
    near, far, south = CRS.from_epsg(32612), CRS.from_epsg(32614), CRS.from_epsg(32711)
    assert far_utm_message(near, -117.0, 36.1) is None
    assert "zone 14N" in far_utm_message(far, -117.0, 36.1)
    assert "zone 11S" in far_utm_message(south, -117.0, 36.1)
    assert far_utm_message(CRS.from_epsg(32601), 179.0, 10.0) is None  # zones wrap at 180°
    assert far_utm_message(CRS.from_epsg(3857), -117.0, 36.1) is None


def test_warning_goes_to_stderr_once(capsys):
    lr = RasterGeometry(CRS.from_epsg(26911), Affine(10, 0, 500_000, 0, -10, 4_000_000), 50, 50)
    assert warn_far_utm(CRS.from_epsg(32711), lr, "EPSG:32711") is not None
    assert capsys.readouterr().err.count("Warning:") == 1
    assert warn_far_utm(CRS.from_epsg(32711), lr, None) is None  # the Ref's own CRS: no check
    assert warn_far_utm(CRS.from_epsg(32711), lr, "EPSG:32711", quiet=True) and not capsys.readouterr().err
