"""'Read failed. See previous exception' is replaced by the cause it hides; libtiff's own
error lines can be kept off stderr."""

from __future__ import annotations

import sys

import pytest
from rasterio._err import CPLE_AppDefinedError
from rasterio.errors import RasterioIOError

from dsdit_geo.raster.gdal_errors import _loaded_libtiffs, describe, gdal_errors, quiet_libtiff


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds libtiff in /proc/self/maps")
def test_quiet_libtiff_keeps_its_default_error_lines_off_stderr(capfd):
    """What GDAL's I/O callbacks call on a full disk: TIFFErrorExt -> libtiff's default handler,
    which prints 'module: message.' on the real stderr."""
    with quiet_libtiff():
        libs = _loaded_libtiffs()
        assert libs  # rasterio's GDAL has one
        for lib in libs:
            lib.TIFFErrorExt(None, b"_tiffWriteProc", b"%s", b"No space left on device")
    assert capfd.readouterr().err == ""
    libs[0].TIFFErrorExt(None, b"_tiffWriteProc", b"%s", b"No space left on device")  # restored
    assert capfd.readouterr().err == "_tiffWriteProc: No space left on device.\n"
