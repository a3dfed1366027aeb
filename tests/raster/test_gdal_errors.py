"""'Read failed. See previous exception' is replaced by the cause it hides."""

from __future__ import annotations

from rasterio._err import CPLE_AppDefinedError
from rasterio.errors import RasterioIOError

from dsdit_geo.raster.gdal_errors import describe, gdal_errors


def test_describe_digs_out_the_cause():
    try:
        try:
            raise CPLE_AppDefinedError(1, 1, "TIFFReadEncodedTile() failed.")
        except CPLE_AppDefinedError as exc:
            raise RasterioIOError("Read or write failed. See previous exception for details.") from exc
    except RasterioIOError as exc:
        assert describe(exc) == "TIFFReadEncodedTile() failed."
    assert describe(RasterioIOError("Read failed. See previous exception for details.")).startswith("Read")
    assert describe(ValueError("multi\nline")) == "multi line"
    assert isinstance(CPLE_AppDefinedError(1, 1, "x"), gdal_errors())
