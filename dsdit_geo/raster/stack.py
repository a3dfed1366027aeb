"""Bands of several files as one raster: the XML of an in-memory VRT (rasterio opens it as a path).

A plain `<VRTDataset>` with one `<SimpleSource>` per band; each band keeps what the product says
about it (description, colour interpretation, common name, nodata, scale, offset) and falls back
to the band file's own nodata / scale / offset. Every file must be on one grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from dsdit_geo.errors import InputError

_GDAL_TYPES = {"uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16",
               "uint32": "UInt32", "int32": "Int32", "float32": "Float32", "float64": "Float64"}  # fmt: skip
# common name -> VRT colour interpretation (GDAL >= 3.10 knows NIR)
COLOURS = {"red": "Red", "green": "Green", "blue": "Blue", "nir": "NIR"}


@dataclass
class StackBand:
    """One VRT band: band `source_band` of the GDAL path `path`, with what is known about it."""

    path: str
    source_band: int
    description: str
    common_name: str | None = None
    nodata: float | None = None
    scale: float | None = None
    offset: float | None = None


@dataclass
class Stack:
    """The bands to stack, in order, and dataset tags for the VRT."""

    bands: list[StackBand] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def vrt_xml(stack: Stack, role: str, label: str) -> str:
    """The stacking VRT's XML. InputError (naming `role` and the product `label`) when a band
    file is unreadable, has no georeferencing, or is not on the grid of the first one."""
    import rasterio
    from rasterio.errors import RasterioIOError

    grid = None
    bands = []
    for n, band in enumerate(stack.bands, start=1):
        try:
            with rasterio.open(band.path) as ds:
                this = (ds.width, ds.height, ds.transform, ds.crs)
                k = band.source_band - 1
                dtype, own = ds.dtypes[k], (ds.nodatavals[k], ds.scales[k], ds.offsets[k])
        except RasterioIOError as exc:
            raise InputError(f"{role} {label}: band file {band.path} cannot be read: {exc}") from None
        if grid is None:
            if this[3] is None or this[2].is_identity:
                raise InputError(f"{role} {label}: band file {band.path} is not georeferenced")
            grid = this
        elif this != grid:
            raise InputError(
                f"{role} {label}: {band.description} ({band.path}) is not on the grid of "
                f"{stack.bands[0].description}"
            )
        bands.append(_band_xml(n, band, dtype, *own))
    if grid is None:
        raise InputError(f"{role} {label}: no bands to stack")
    width, height, transform, crs = grid
    tags = "".join(f"<MDI key={quoteattr(k)}>{escape(v)}</MDI>" for k, v in stack.tags.items())
    return (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{escape(crs.to_wkt())}</SRS>'
        f"<GeoTransform>{', '.join(repr(v) for v in transform.to_gdal())}</GeoTransform>"
        f"<Metadata>{tags}</Metadata>{''.join(bands)}</VRTDataset>"
    )


def _band_xml(
    n: int, band: StackBand, dtype: str, own_nodata: float | None, own_scale: float, own_offset: float
) -> str:
    nodata = band.nodata if band.nodata is not None else own_nodata
    scale = band.scale if band.scale is not None else own_scale
    offset = band.offset if band.offset is not None else own_offset
    colour = COLOURS.get((band.common_name or "").lower())
    common = ""
    if band.common_name:
        common = f'<Metadata><MDI key="COMMON_NAME">{escape(band.common_name)}</MDI></Metadata>'
    return (
        f'<VRTRasterBand dataType="{_GDAL_TYPES.get(dtype, "Float64")}" band="{n}">{common}'
        + f"<Description>{escape(band.description)}</Description>"
        + (f"<ColorInterp>{colour}</ColorInterp>" if colour else "")
        + (f"<NoDataValue>{float(nodata)!r}</NoDataValue>" if nodata is not None else "")
        + (f"<Offset>{float(offset)!r}</Offset>" if offset not in (None, 0.0) else "")
        + (f"<Scale>{float(scale)!r}</Scale>" if scale not in (None, 1.0) else "")
        + f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(band.path)}</SourceFilename>'
        f"<SourceBand>{band.source_band}</SourceBand></SimpleSource></VRTRasterBand>"
    )
