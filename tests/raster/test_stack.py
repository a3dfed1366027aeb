"""The stacking VRT: one grid, georeferenced band files, readable one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from dsdit_geo.errors import InputError
from dsdit_geo.raster.stack import Stack, StackBand, vrt_xml
from dsdit_geo.raster.synthetic import write_array

T = Affine(10, 0, 500_000, 0, -10, 4_000_000)


def band(tmp_path, name, transform=T, crs="EPSG:32611", value=7):
    path = write_array(str(tmp_path / f"{name}.tif"), np.full((1, 4, 4), value, "uint16"), crs, transform)
    return StackBand(path, 1, name)


def test_stacks_bands_in_order_with_their_metadata(tmp_path):
    second = StackBand(band(tmp_path, "b", value=2).path, 1, "b", "nir", 0, 0.5, 1.0)
    stack = Stack([band(tmp_path, "a", value=1), second], {"PRODUCT": "x & y"})
    with rasterio.open(vrt_xml(stack, "LR", "x")) as ds:
        assert ds.read()[:, 0, 0].tolist() == [1, 2] and ds.dtypes == ("uint16", "uint16")
        assert ds.descriptions == ("a", "b") and ds.nodatavals == (None, 0.0)
        assert ds.scales == (1.0, 0.5) and ds.offsets == (0.0, 1.0) and ds.tags()["PRODUCT"] == "x & y"
        assert ds.colorinterp[1].name == "nir" and ds.tags(2)["COMMON_NAME"] == "nir"


@pytest.mark.parametrize(
    "other, message",
    [
        (dict(transform=T * Affine.translation(1, 0)), "LR S2X: b .* is not on the grid of a"),
        (dict(crs="EPSG:32612"), "is not on the grid of a"),
    ],
)
def test_bands_on_other_grids_are_refused(tmp_path, other, message):
    with pytest.raises(InputError, match=message):
        vrt_xml(Stack([band(tmp_path, "a"), band(tmp_path, "b", **other)]), "LR", "S2X")


def test_unreadable_and_ungeoreferenced_band_files(tmp_path):
    with pytest.raises(InputError, match="Ref S2X: band file .*nothing.tif cannot be read"):
        vrt_xml(Stack([StackBand(str(tmp_path / "nothing.tif"), 1, "a")]), "Ref", "S2X")
    with pytest.raises(InputError, match="band file .*a.tif is not georeferenced"):
        vrt_xml(Stack([band(tmp_path, "a", transform=None, crs=None)]), "LR", "S2X")
