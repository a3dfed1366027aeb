"""`upscale_dataarray`: xarray in, xarray out, through rioxarray (the optional `[xarray]` extra).

    import rioxarray
    lr = rioxarray.open_rasterio("lr.tif")
    ref = rioxarray.open_rasterio("ref.tif")
    sr = upscale_dataarray(lr, ref, method="hpf")     # (band, y, x), the Ref's grid, with CRS

The arrays are written to temporary GeoTIFFs (CRS, transform, nodata from their `.rio`
accessor), upscaled by an `Engine` and the output is read back into memory; the temporary
files are removed. Pass `engine=` to reuse loaded models over many calls.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsdit_geo.errors import InputError, OptionError

if TYPE_CHECKING:
    import xarray

    from dsdit_geo.engine import Engine

INSTALL_HINT = "pip install 'dsdit-geo[xarray]'"


def upscale_dataarray(
    lr: xarray.DataArray, ref: xarray.DataArray, *, engine: Engine | None = None, **options: Any
) -> xarray.DataArray:
    """Super-resolve `lr` with `ref` (georeferenced DataArrays, (band, y, x) or (y, x)) and
    return the result as an in-memory DataArray (band, y, x) on the output grid. `options` are
    UpscaleOptions fields (method, steps, resolution, ...), over `engine`'s when given.
    OptionError without rioxarray or for a path-valued option that makes no sense here."""
    rioxarray = _rioxarray()
    if options.get("trust_map"):
        raise OptionError("upscale_dataarray writes no trust map: use Engine.upscale_file for that")
    with tempfile.TemporaryDirectory(prefix="dsdit-geo-xr-") as folder:
        lr_path, ref_path = _write(lr, Path(folder) / "lr.tif", "LR"), _write(ref, Path(folder) / "ref.tif", "Ref")
        out_path = Path(folder) / "out.tif"
        if engine is None:
            from dsdit_geo.engine import Engine

            engine = Engine(**{"quiet": True, "progress": False, **options})
            options = {}
        engine.upscale_file(lr_path, ref_path, out_path, **options)
        with rioxarray.open_rasterio(out_path, masked=False) as opened:
            result = opened.load()
    result.name = getattr(lr, "name", None)
    return result


def _rioxarray() -> Any:
    try:
        import rioxarray
    except ModuleNotFoundError:
        raise OptionError(f"upscale_dataarray needs rioxarray: {INSTALL_HINT}") from None
    return rioxarray


def _write(array: Any, path: Path, role: str) -> Path:
    """`array` as a GeoTIFF at `path`; InputError when it has no CRS or no spatial dims."""
    try:
        if array.rio.crs is None:
            raise InputError(f"the {role} DataArray has no CRS: set it with .rio.write_crs(...)")
        array.rio.to_raster(path)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - rioxarray's own errors (missing dims ...)
        raise InputError(f"cannot write the {role} DataArray as a GeoTIFF: {exc}") from None
    return path
