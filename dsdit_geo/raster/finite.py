"""Non-finite values as nodata, and a read dtype that cannot overflow (rasterio / GDAL).

A float raster may hold NaN or ±inf without declaring them nodata. GDAL's warper would carry
them through the cubic kernel (every output pixel within 2 LR pixels of one becomes NaN or inf);
declared as nodata they are left out and the kernel is renormalised over the valid neighbours,
so only the pixel itself is lost. `finite_view` builds that view: an in-memory VRT whose bands
are ``X + (-X) + X`` in float64 (exactly X when finite, NaN otherwise) with NaN as nodata, the
declared nodata value also mapped to NaN. Integer rasters, and rasters with a mask band (an
internal mask or alpha, which the warper would stop using once nodata is set), are returned as
they are: there, non-finite values stay invalid over the kernel's reach, no further.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.dtypes import _gdal_typename
from rasterio.enums import MaskFlags
from rasterio.io import DatasetReader


def _is_float(dtype: str) -> bool:
    return np.issubdtype(np.dtype(dtype), np.floating)


def read_dtype(ds: DatasetReader, indexes: list[int]) -> str:
    """float64 when any of `indexes` (1-based) is float64 (float32 would overflow 1e300 to
    inf and round away small differences), else float32."""
    return "float64" if any(np.dtype(ds.dtypes[i - 1]) == np.float64 for i in indexes) else "float32"


def needs_finite_view(ds: DatasetReader) -> bool:
    """True for an all-float raster whose validity comes from nodata alone (or nothing)."""
    if not all(_is_float(dt) for dt in ds.dtypes):
        return False
    allowed = {MaskFlags.all_valid, MaskFlags.nodata}
    return all(set(flags) <= allowed for flags in ds.mask_flag_enums)


def finite_view(ds: DatasetReader) -> DatasetReader:
    """`ds`, or an in-memory VRT of it in which NaN, ±inf and the declared nodata all read as
    NaN, NaN being the nodata value (see the module docstring). Band numbers are kept."""
    if not needs_finite_view(ds):
        return ds
    source = f'<SourceFilename relativeToVRT="0">{escape(ds.name)}</SourceFilename>'
    bands = []
    for i in range(1, ds.count + 1):
        declared = ds.nodatavals[i - 1]
        skip = f"<NODATA>{declared!r}</NODATA>" if declared is not None and not np.isnan(declared) else ""
        terms = "".join(
            f"<ComplexSource>{source}<SourceBand>{i}</SourceBand>{skip}"
            f"<ScaleOffset>0</ScaleOffset><ScaleRatio>{ratio}</ScaleRatio></ComplexSource>"
            for ratio in (1, -1, 1)  # 0 + X - X + X: exact for finite X, NaN for inf and NaN
        )
        bands.append(
            f'<VRTRasterBand dataType="{_gdal_typename(ds.dtypes[i - 1])}" band="{i}" '
            'subClass="VRTDerivedRasterBand"><NoDataValue>nan</NoDataValue>'
            "<PixelFunctionType>sum</PixelFunctionType>"
            f"<SourceTransferType>Float64</SourceTransferType>{terms}</VRTRasterBand>"
        )
    geotransform = ", ".join(repr(v) for v in ds.transform.to_gdal())
    xml = (
        f'<VRTDataset rasterXSize="{ds.width}" rasterYSize="{ds.height}">'
        f"<SRS>{escape(ds.crs.to_wkt())}</SRS><GeoTransform>{geotransform}</GeoTransform>"
        f"{''.join(bands)}</VRTDataset>"
    )
    return rasterio.open(xml)
