"""Opening and checking inputs; windowed and warped reads (rasterio / GDAL I/O).

All reads return float arrays (C, H, W) with NaN where the source has no valid data (nodata
value, dataset mask, alpha, or outside its footprint). Band indexes are 1-based.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.dtypes import _gdal_typename
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.warp import reproject
from rasterio.windows import Window

from dsdit_geo.errors import InputError
from dsdit_geo.geo.grid import RasterGeometry, TargetGrid, reproject_polygon
from dsdit_geo.geo.tiling import reflect_indices
from dsdit_geo.raster.nodata import NodataOverride
from dsdit_geo.raster.nodata import resolve as resolve_nodata
from dsdit_geo.raster.publish import node_kind

WARP_MEM_LIMIT_MB = 64
STATS_WARP_MEM_LIMIT_MB = 8
# Tolerance (source pixels) of GDAL's approximate transformer. 0.125 (GDAL's default) would shift
# LR samples by up to 1/8 LR pixel and make values depend on the read window; this is exact to
# float noise. (rasterio rejects exactly 0 for same-CRS warps.)
WARP_TOLERANCE_PX = 1e-6
_GDAL_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]+:")  # e.g. NETCDF:..., GPKG:..., s3://


def _is_local_path(path: str) -> bool:
    """False for GDAL virtual paths (/vsizip/, /vsicurl/, URLs, DRIVER:...): let GDAL open those."""
    if path.startswith("/vsi") or path.lstrip().startswith("<"):  # a VRT given as XML
        return False
    return not (_GDAL_PREFIX.match(path) and not os.path.exists(path))


def open_raster(path: str, role: str) -> DatasetReader:
    """Open `path` and check it is a georeferenced raster; InputError naming `role` otherwise."""
    if _is_local_path(path):
        if not os.path.exists(path):
            raise InputError(f"{role} file not found: {path}")
        if os.path.isdir(path):
            raise InputError(f"{role} path is a folder, not a raster: {path}")
        kind = node_kind(path)  # a FIFO would block the open forever; a device never ends
        if kind is not None:
            raise InputError(f"{role} path is {kind}, not a raster file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{role} file is not a raster GDAL can read: {path} ({exc})") from None
    try:
        _check_georeferenced(ds, path, role)
    except BaseException:
        ds.close()
        raise
    return ds


def _check_georeferenced(ds: DatasetReader, path: str, role: str) -> None:
    if ds.count < 1:
        raise InputError(f"{role} file has no raster bands: {path}")
    if any(np.issubdtype(np.dtype(dt), np.complexfloating) for dt in ds.dtypes):
        raise InputError(f"{role} file has complex-valued bands, which are not supported: {path}")
    if ds.crs is None:
        raise InputError(f"{role} file has no CRS (coordinate reference system): {path}")
    if ds.transform.is_identity or ds.transform.determinant == 0:
        raise InputError(f"{role} file has no geotransform (it is not georeferenced): {path}")


_VRT_COLORINTERP = {
    ColorInterp.gray: "Gray",
    ColorInterp.red: "Red",
    ColorInterp.green: "Green",
    ColorInterp.blue: "Blue",
}


def without_alpha(
    ds: DatasetReader, data_bands: list[int], nodata: NodataOverride = None
) -> DatasetReader:
    """`ds`, or an in-memory VRT of it in which no band is flagged alpha and, when `nodata` is
    given (a number, or NO_NODATA), every band has that nodata instead of the declared one
    (the file's own mask is then ignored, as with gdalwarp -srcnodata).

    Many NAIP files flag their NIR band as alpha; GDAL's warper would then weight every band by
    it (darkening, or dropping low-NIR pixels such as water). A band flagged alpha that is not
    among `data_bands` (1-based) still masks the raster (as the VRT's mask band, 0 = invalid)
    when the raster has no nodata value; one used as data is plain data.
    """
    alpha = [i for i, ci in enumerate(ds.colorinterp, start=1) if ci == ColorInterp.alpha]
    if not alpha and nodata is None:
        return ds
    source = f'<SourceFilename relativeToVRT="0">{escape(ds.name)}</SourceFilename>'
    bands = []
    for i in range(1, ds.count + 1):
        nodata_i = resolve_nodata(nodata, ds.nodatavals[i - 1])
        bands.append(
            f'<VRTRasterBand dataType="{_gdal_typename(ds.dtypes[i - 1])}" band="{i}">'
            f"<ColorInterp>{_VRT_COLORINTERP.get(ds.colorinterp[i - 1], 'Undefined')}</ColorInterp>"
            + (f"<NoDataValue>{nodata_i!r}</NoDataValue>" if nodata_i is not None else "")
            + f"<SimpleSource>{source}<SourceBand>{i}</SourceBand></SimpleSource></VRTRasterBand>"
        )
    mask = ""
    if alpha and alpha[0] not in data_bands and resolve_nodata(nodata, ds.nodata) is None:
        mask = (
            f'<MaskBand><VRTRasterBand dataType="Byte"><SimpleSource>{source}'
            f"<SourceBand>{alpha[0]}</SourceBand></SimpleSource></VRTRasterBand></MaskBand>"
        )
    geotransform = ", ".join(repr(v) for v in ds.transform.to_gdal())
    xml = (
        f'<VRTDataset rasterXSize="{ds.width}" rasterYSize="{ds.height}">'
        f"<SRS>{escape(ds.crs.to_wkt())}</SRS><GeoTransform>{geotransform}</GeoTransform>"
        f"{''.join(bands)}{mask}</VRTDataset>"
    )
    return rasterio.open(xml)


def geometry_of(ds: DatasetReader) -> RasterGeometry:
    return RasterGeometry(crs=ds.crs, transform=ds.transform, width=ds.width, height=ds.height)


def open_warped(
    ds: DatasetReader, grid: TargetGrid, resampling: Resampling, dtype: str = "float32"
) -> WarpedVRT:
    """A float32 (or `dtype`) WarpedVRT of `ds` on `grid` (NaN where invalid). Reading windows
    of it never loads the whole scene; GDAL's warper is deterministic per output pixel."""
    return WarpedVRT(
        ds,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=resampling,
        dtype=dtype,
        nodata=np.nan,
        tolerance=WARP_TOLERANCE_PX,
        warp_mem_limit=WARP_MEM_LIMIT_MB,
    )


def read_tile(vrt: WarpedVRT, indexes: list[int], row_px: int, col_px: int, size_px: int) -> np.ndarray:
    """(C, size_px, size_px) float32 of the square window at global (row_px, col_px) of `vrt`'s
    grid; positions beyond the grid are reflect-padded from the grid content (as one global
    reflect pad would), so a tile's content does not depend on how the grid was tiled."""
    rows = reflect_indices(row_px, row_px + size_px, vrt.height)
    cols = reflect_indices(col_px, col_px + size_px, vrt.width)
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    block = vrt.read(indexes, window=Window(c0, r0, c1 - c0, r1 - r0))
    if rows[0] == r0 and cols[0] == c0 and len(rows) == r1 - r0 and len(cols) == c1 - c0:
        return block  # entirely inside the grid
    return block[:, (rows - r0)[:, None], (cols - c0)[None, :]]


def overlap_window(ds: DatasetReader, grid: TargetGrid) -> Window:
    """The window of `ds`'s own pixels covering the target grid, clipped to the dataset."""
    grid_fp = shapely.box(*grid.bounds)
    native = reproject_polygon(grid_fp, grid.crs, ds.crs)
    cols_rows = [~ds.transform @ tuple(xy) for xy in shapely.get_coordinates(native)]
    cols = [c for c, _ in cols_rows]
    rows = [r for _, r in cols_rows]
    c0, r0 = max(0, math.floor(min(cols))), max(0, math.floor(min(rows)))
    c1, r1 = min(ds.width, math.ceil(max(cols))), min(ds.height, math.ceil(max(rows)))
    return Window(c0, r0, max(1, c1 - c0), max(1, r1 - r0))


def decimated_shape(window: Window, max_px: int) -> tuple[int, int]:
    """(rows, cols) of `window` reduced by a whole factor so rows*cols <= max_px."""
    factor = max(1, math.ceil(math.sqrt(window.width * window.height / max_px)))
    return max(1, math.ceil(window.height / factor)), max(1, math.ceil(window.width / factor))


def read_decimated(
    ds: DatasetReader,
    indexes: list[int],
    window: Window,
    out_shape: tuple[int, int],
    resampling: Resampling,
) -> tuple[np.ndarray, Affine]:
    """(C, *out_shape) float64 of `window` resampled to `out_shape` (NaN where masked), and the
    transform of that coarser grid."""
    data = ds.read(
        indexes, window=window, out_shape=(len(indexes), *out_shape), resampling=resampling, masked=True
    )
    values = np.ma.filled(data.astype(np.float64), np.nan)
    transform = ds.window_transform(window) @ Affine.scale(
        window.width / out_shape[1], window.height / out_shape[0]
    )
    return values, transform


def read_warped(
    ds: DatasetReader,
    indexes: list[int],
    crs: CRS,
    transform: Affine,
    shape: tuple[int, int],
    resampling: Resampling,
) -> np.ndarray:
    """(C, *shape) float64 of `ds` warped onto a small grid (NaN where invalid). The source may
    be much larger (a Ref averaged onto LR pixels): GDAL's chunked warp keeps memory bounded
    (a WarpedVRT would warp whole 128-row blocks of it at once)."""
    out = np.full((len(indexes), *shape), np.nan, np.float64)  # float32 would overflow 1e300
    reproject(
        rasterio.band(ds, indexes),
        out,
        dst_transform=transform,
        dst_crs=crs,
        dst_nodata=np.nan,
        resampling=resampling,
        tolerance=WARP_TOLERANCE_PX,
        warp_mem_limit=STATS_WARP_MEM_LIMIT_MB,
    )
    return out
