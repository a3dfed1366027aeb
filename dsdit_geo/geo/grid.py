"""Footprints in one CRS and the target (output) grid over LR ∩ Ref, snapped to whole pixels.

Pure computation (no file I/O): inputs are `RasterGeometry` values (CRS, affine transform,
size in pixels). Pixel sizes are in CRS units per pixel (metres for UTM); sizes in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import shapely
from affine import Affine
from pyproj import Transformer
from pyproj.exceptions import ProjError
from rasterio.crs import CRS
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from dsdit_geo.errors import GeometryError

MIN_LR_PX = 2.0  # the overlap must span at least this many LR pixels in each direction
DENSIFY_SEGMENTS = 64  # points per footprint edge when reprojecting
_SNAP_EPS = 1e-3  # pixel fraction tolerated when snapping (datum round trips move corners by ~1e-4 px)
_ALIGN_RTOL = 1e-9  # relative tolerance for "same resolution / origin"
RES_DIGITS = 6  # significant digits of a resolution measured in another CRS


@dataclass(frozen=True)
class RasterGeometry:
    """Where a raster sits: its CRS, pixel->CRS affine transform and size (pixels)."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def is_north_up(self) -> bool:
        return self.transform.b == 0 and self.transform.d == 0 and self.transform.e < 0 < self.transform.a

    @property
    def pixel_size(self) -> float:
        """Area-equivalent pixel side, CRS units (sqrt of |det| of the transform)."""
        return math.sqrt(abs(self.transform.determinant))

    def footprint(self) -> Polygon:
        """The raster's outline in its own CRS (works for rotated transforms too)."""
        corners = [(0, 0), (self.width, 0), (self.width, self.height), (0, self.height)]
        return Polygon([self.transform @ corner for corner in corners])


@dataclass(frozen=True)
class TargetGrid:
    """The output grid. transform is north-up; res_x, res_y > 0 in CRS units per pixel.

    scale:          LR pixel size / target pixel size (> 1), both measured in the target CRS.
    lr_pixel_size:  LR pixel side estimated in the target CRS (units per pixel).
    ref_pixel_size: Ref pixel side estimated in the target CRS.
    ref_aligned:    the grid coincides with the Ref's own pixel grid (same CRS, resolution and
                    pixel phase), so the Ref can be read with nearest-neighbour, unresampled.
    """

    crs: CRS
    transform: Affine
    width: int
    height: int
    scale: float
    lr_pixel_size: float
    ref_pixel_size: float
    ref_aligned: bool

    @property
    def res(self) -> tuple[float, float]:
        return (self.transform.a, -self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the target CRS."""
        left, top = self.transform.c, self.transform.f
        return (left, top + self.transform.e * self.height, left + self.transform.a * self.width, top)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)


def reproject_polygon(polygon: BaseGeometry, src_crs: CRS, dst_crs: CRS) -> BaseGeometry:
    """`polygon` from `src_crs` to `dst_crs`, edges densified so curved images stay accurate."""
    if CRS.from_user_input(src_crs) == CRS.from_user_input(dst_crs):
        return polygon
    left, bottom, right, top = polygon.bounds
    dense = shapely.segmentize(polygon, max_segment_length=max(right - left, top - bottom) / DENSIFY_SEGMENTS)
    transformer = Transformer.from_crs(src_crs, dst_crs, always_xy=True)
    try:
        moved = shapely.transform(dense, lambda xy: _transform_xy(transformer, xy))
    except ProjError as exc:
        raise GeometryError(f"cannot reproject a footprint from {src_crs} to {dst_crs}: {exc}") from None
    if not moved.is_valid:
        moved = shapely.make_valid(moved)
    return moved


def _transform_xy(transformer: Transformer, xy):
    x, y = transformer.transform(xy[:, 0], xy[:, 1], errcheck=True)
    xy = xy.copy()
    xy[:, 0], xy[:, 1] = x, y
    return xy


def pixel_size_in(geometry: RasterGeometry, area_native: BaseGeometry, dst_crs: CRS) -> float:
    """A raster's pixel side measured in `dst_crs` over `area_native` (a polygon in the raster's
    own CRS, e.g. the overlap): native pixel side * sqrt(area ratio)."""
    area_dst = reproject_polygon(area_native, geometry.crs, dst_crs).area
    if area_native.area <= 0 or area_dst <= 0:
        return geometry.pixel_size
    return geometry.pixel_size * math.sqrt(area_dst / area_native.area)


def round_resolution(value: float, digits: int = RES_DIGITS) -> float:
    """`value` to `digits` significant digits (1.0000000000058 -> 1.0, 0.5971641 -> 0.597164)."""
    return float(f"{value:.{digits}g}")


def _clean(value: float, step: float) -> float:
    """`value` rounded to the decimals `step` needs (+3), dropping float noise of i * step."""
    decimals = max(0, RES_DIGITS + 3 - math.floor(math.log10(abs(step))) - 1) if step else 0
    return round(value, decimals)


def _snap_inward(lo: float, hi: float, origin: float, step: float) -> tuple[int, int]:
    """Whole-pixel index range [i0, i1) of a grid (origin + i*step) lying inside [lo, hi]."""
    i0 = math.ceil((lo - origin) / step - _SNAP_EPS)
    i1 = math.floor((hi - origin) / step + _SNAP_EPS)
    return i0, i1


def target_grid(
    lr: RasterGeometry,
    ref: RasterGeometry,
    *,
    crs: CRS | str | None = None,
    resolution: float | None = None,
    extent: tuple[float, float, float, float] | None = None,
) -> TargetGrid:
    """The output grid over LR ∩ Ref (∩ extent), in `crs` (default the Ref's) at `resolution`
    (default the Ref's pixel size), snapped inward to whole pixels; aligned with the Ref's pixel
    grid when it is in the Ref's CRS at the Ref's resolution. Raises GeometryError when the
    footprints do not overlap, the overlap is under MIN_LR_PX LR pixels, or the target pixel is
    not finer than the LR's."""
    dst_crs = CRS.from_user_input(crs) if crs is not None else ref.crs
    lr_fp = reproject_polygon(lr.footprint(), lr.crs, dst_crs)
    ref_fp = reproject_polygon(ref.footprint(), ref.crs, dst_crs)
    overlap = lr_fp.intersection(ref_fp)
    if overlap.is_empty or overlap.area <= 0:
        raise GeometryError("the LR and Ref footprints do not overlap")
    if extent is not None:
        overlap = overlap.intersection(box(*extent))
        if overlap.is_empty or overlap.area <= 0:
            raise GeometryError(f"--extent {extent} does not overlap the LR ∩ Ref footprint")

    lr_px = pixel_size_in(lr, reproject_polygon(overlap, dst_crs, lr.crs), dst_crs)
    ref_px = pixel_size_in(ref, reproject_polygon(overlap, dst_crs, ref.crs), dst_crs)
    same_crs_as_ref = dst_crs == ref.crs
    if resolution is not None:
        res_x = res_y = float(resolution)
    elif same_crs_as_ref and ref.is_north_up:
        res_x, res_y = ref.transform.a, -ref.transform.e
    else:  # measured through a reprojection: rounded, so neighbouring scenes share one grid
        res_x = res_y = round_resolution(ref_px)
    hr_px = math.sqrt(res_x * res_y)
    scale = lr_px / hr_px
    if not scale > 1.0 + 1e-6:
        what = (
            f"--resolution {resolution:g}"
            if resolution is not None
            else f"the Ref's pixel size ({hr_px:.4g})"
        )
        raise GeometryError(
            f"{what} is not finer than the LR's pixel size ({lr_px:.4g}, in the target CRS): "
            "nothing to super-resolve"
        )

    ref_aligned = (
        same_crs_as_ref
        and ref.is_north_up
        and math.isclose(res_x, ref.transform.a, rel_tol=_ALIGN_RTOL)
        and math.isclose(res_y, -ref.transform.e, rel_tol=_ALIGN_RTOL)
    )
    origin_x, origin_y = (ref.transform.c, ref.transform.f) if ref_aligned else (0.0, 0.0)
    left, bottom, right, top = overlap.bounds
    col0, col1 = _snap_inward(left, right, origin_x, res_x)
    row0, row1 = _snap_inward(-top, -bottom, -origin_y, res_y)  # rows grow southwards
    width, height = col1 - col0, row1 - row0
    min_px = MIN_LR_PX * scale
    if width < min_px or height < min_px:
        raise GeometryError(
            f"the LR ∩ Ref overlap is too small ({max(width, 0)}×{max(height, 0)} target pixels, "
            f"less than {MIN_LR_PX:g} LR pixels across)"
        )
    # unless Ref-aligned, the corner is a whole multiple of the pixel size (as gdalwarp -tap),
    # rounded off the float noise of the product
    left_x, top_y = origin_x + col0 * res_x, origin_y - row0 * res_y
    if not ref_aligned:
        left_x, top_y = _clean(left_x, res_x), _clean(top_y, res_y)
    transform = Affine(res_x, 0.0, left_x, 0.0, -res_y, top_y)
    return TargetGrid(
        crs=dst_crs,
        transform=transform,
        width=width,
        height=height,
        scale=scale,
        lr_pixel_size=lr_px,
        ref_pixel_size=ref_px,
        ref_aligned=ref_aligned,
    )
