"""--co KEY=VALUE, checked against GDAL's COG driver."""

import pytest

from dsdit_geo.errors import OptionError
from dsdit_geo.raster.cog import OutputSpec, cog_options
from dsdit_geo.raster.creation_options import (
    _FALLBACK,
    check_creation_options,
    cog_creation_options,
    parse_creation_options,
)


def test_parse():
    assert parse_creation_options(["compress=lzw", "LEVEL = 9"]) == {"COMPRESS": "lzw", "LEVEL": "9"}
    assert parse_creation_options(None) == {}
    for bad in ("COMPRESS", "=LZW", "LEVEL="):
        with pytest.raises(OptionError, match="--co needs KEY=VALUE"):
            parse_creation_options([bad])


def test_the_list_comes_from_gdal():
    known = cog_creation_options()
    assert "LZW" in known["COMPRESS"] and known["LEVEL"] is None
    assert known is not _FALLBACK and set(known) >= {"COMPRESS", "BLOCKSIZE", "OVERVIEW_RESAMPLING"}


def test_check():
    check_creation_options({"COMPRESS": "lzw", "LEVEL": "9", "PREDICTOR": "2"})
    with pytest.raises(OptionError, match="not a creation option of GDAL's COG driver"):
        check_creation_options({"TILED": "YES"})
    with pytest.raises(OptionError, match="COMPRESS=GIF: must be one of"):
        check_creation_options({"COMPRESS": "GIF"})
    with pytest.raises(OptionError, match="set by dsdit-geo itself"):
        check_creation_options({"TILING_SCHEME": "GoogleMapsCompatible"})


def test_user_options_go_over_ours():
    spec = OutputSpec(crs=None, transform=None, width=1, height=1, count=1, dtype="uint8",
                      creation_options={"COMPRESS": "LZW", "LEVEL": "9"})  # fmt: skip
    options = cog_options(spec)
    assert options["COMPRESS"] == "LZW" and options["LEVEL"] == "9"
    assert options["OVERVIEW_RESAMPLING"] == "AVERAGE" and options["BLOCKSIZE"] == "512"
