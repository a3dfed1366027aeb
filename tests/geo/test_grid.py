import math

import pytest
from affine import Affine
from rasterio.crs import CRS

from dsdit_geo.errors import GeometryError
from dsdit_geo.geo.grid import RasterGeometry, reproject_polygon, target_grid

UTM11 = CRS.from_epsg(32611)
NAD83_UTM11 = CRS.from_epsg(26911)
X0, Y0 = 500_000.0, 4_000_000.0


def geom(crs, px, width, height, x0=X0, y0=Y0):
    return RasterGeometry(crs=crs, transform=Affine(px, 0, x0, 0, -px, y0), width=width, height=height)


def test_ref_inside_lr_gives_the_refs_own_grid():
    lr = geom(UTM11, 10.0, 40, 40)
    ref = geom(UTM11, 1.0, 300, 200, x0=X0 + 15.5, y0=Y0 - 20.5)
    grid = target_grid(lr, ref)
    assert grid.ref_aligned and grid.crs == UTM11
    assert grid.transform == ref.transform
    assert (grid.width, grid.height) == (300, 200)
    assert grid.scale == pytest.approx(10.0)


def test_ref_larger_than_lr_snaps_inward_to_ref_pixels():
    lr = geom(UTM11, 10.0, 30, 20, x0=X0 + 3.3, y0=Y0 - 4.6)
    ref = geom(UTM11, 1.0, 1000, 1000, x0=X0 - 100.25, y0=Y0 + 100.25)
    grid = target_grid(lr, ref)
    left, bottom, right, top = grid.bounds
    assert left >= X0 + 3.3 and right <= X0 + 303.3 and top <= Y0 - 4.6 and bottom >= Y0 - 204.6
    assert (left - ref.transform.c) % 1.0 == pytest.approx(0.0) and (
        ref.transform.f - top
    ) % 1.0 == pytest.approx(0.0)
    assert grid.width == 299 and grid.height == 199


def test_different_crs_stays_inside_both_footprints():
    lr = geom(UTM11, 10.0, 40, 40)
    ref = geom(NAD83_UTM11, 1.0, 380, 380, x0=X0 + 15.5, y0=Y0 - 15.5)
    grid = target_grid(lr, ref)
    assert grid.crs == NAD83_UTM11 and grid.res == (1.0, 1.0)
    assert grid.scale == pytest.approx(10.0, rel=1e-3)
    lr_in_ref = reproject_polygon(lr.footprint(), UTM11, NAD83_UTM11)
    from shapely.geometry import box

    assert box(*grid.bounds).difference(lr_in_ref.buffer(1e-6)).area < 2 * (grid.width + grid.height)


def test_resolution_option_unaligns_and_sets_scale():
    lr = geom(UTM11, 10.0, 40, 40)
    ref = geom(UTM11, 1.0, 300, 300, x0=X0 + 15.5, y0=Y0 - 15.5)
    grid = target_grid(lr, ref, resolution=2.0)
    assert not grid.ref_aligned and grid.res == (2.0, 2.0) and grid.scale == pytest.approx(5.0)
    assert grid.transform.c % 2.0 == 0 and grid.transform.f % 2.0 == 0


def test_other_crs_estimates_the_refs_resolution():
    lr = geom(UTM11, 10.0, 40, 40)
    ref = geom(UTM11, 1.0, 300, 300, x0=X0 + 15.5, y0=Y0 - 15.5)
    grid = target_grid(lr, ref, crs="EPSG:3857")
    assert grid.crs == CRS.from_epsg(3857) and not grid.ref_aligned
    assert grid.ref_pixel_size == pytest.approx(grid.res[0])
    assert grid.scale == pytest.approx(10.0, rel=1e-6)  # both pixel sizes stretch alike in 3857
    assert 1.1 < grid.res[0] < 1.3  # Web Mercator stretches by 1/cos(36°)


def test_extent_clips_the_grid():
    lr = geom(UTM11, 10.0, 40, 40)
    ref = geom(UTM11, 1.0, 400, 400)
    grid = target_grid(lr, ref, extent=(X0 + 50, Y0 - 150, X0 + 120.5, Y0 - 50))
    assert grid.bounds == (X0 + 50, Y0 - 150, X0 + 120, Y0 - 50)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(extent=(0, 0, 10, 10)), "does not overlap"),
        (dict(resolution=10.0), "not finer"),
        (dict(resolution=25.0), "not finer"),
    ],
)
def test_bad_requests(kwargs, message):
    lr = geom(UTM11, 10.0, 40, 40)
    ref = geom(UTM11, 1.0, 400, 400)
    with pytest.raises(GeometryError, match=message):
        target_grid(lr, ref, **kwargs)


def test_disjoint_footprints():
    with pytest.raises(GeometryError, match="do not overlap"):
        target_grid(geom(UTM11, 10.0, 40, 40), geom(UTM11, 1.0, 100, 100, x0=X0 + 1000))


def test_ref_coarser_than_lr():
    with pytest.raises(GeometryError, match="not finer"):
        target_grid(geom(UTM11, 10.0, 40, 40), geom(UTM11, 30.0, 10, 10))


def test_overlap_of_one_lr_pixel_is_too_small():
    lr = geom(UTM11, 10.0, 40, 40)
    ref = geom(UTM11, 1.0, 100, 100, x0=X0 + 395, y0=Y0 - 200)
    with pytest.raises(GeometryError, match="too small"):
        target_grid(lr, ref)


def test_geographic_lr_with_projected_ref():
    from pyproj import Transformer

    lr = RasterGeometry(CRS.from_epsg(4326), Affine(1e-4, 0, -117.0, 0, -1e-4, 36.15), 60, 60)
    x, y = Transformer.from_crs(4326, 32611, always_xy=True).transform(-116.997, 36.147)
    ref = geom(UTM11, 1.0, 300, 300, x0=round(x) - 150, y0=round(y) + 150)
    grid = target_grid(lr, ref)
    assert grid.crs == UTM11 and grid.transform == ref.transform
    # 1e-4 degree at 36.15 N: about 9.0 m east-west by 11.1 m north-south
    assert grid.lr_pixel_size == pytest.approx(math.sqrt(9.0 * 11.1), rel=0.02)


def test_crs_without_resolution_rounds_it_and_snaps_the_origin_like_tap():
    """Issue 13 item 7: a resolution measured through a reprojection is rounded to 6 significant
    digits and the corner is a whole multiple of it, so neighbouring scenes share one grid."""
    lr = geom(NAD83_UTM11, 10.0, 40, 40)
    ref = geom(NAD83_UTM11, 1.0, 300, 300, x0=X0 + 15.5, y0=Y0 - 15.5)
    grid = target_grid(lr, ref, crs="EPSG:32611")  # NAD83 -> WGS84 UTM: ~1.0000000000x m
    assert not grid.ref_aligned and grid.res == (1.0, 1.0)
    assert grid.transform.c == round(grid.transform.c) and grid.transform.f == round(grid.transform.f)
    mercator = target_grid(lr, ref, crs="EPSG:3857")
    res = mercator.res[0]
    assert res == float(f"{res:.6g}") and res != mercator.ref_pixel_size
    assert abs(mercator.transform.c / res - round(mercator.transform.c / res)) < 1e-6
    assert mercator.transform.c == round(mercator.transform.c, 8)
