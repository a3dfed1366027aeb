"""The LR metadata an output keeps, and the DSDIT_GEO_ prefix of our tags."""

import numpy as np
import rasterio
from affine import Affine

from dsdit_geo.raster.metadata import lr_metadata, prefixed
from dsdit_geo.raster.synthetic import write_array


def test_prefixed():
    assert prefixed({"method_steps": "8", "DSDIT_GEO_BATCH_KEY": "k", "VERSION": "1"}) == {
        "DSDIT_GEO_METHOD_STEPS": "8",
        "DSDIT_GEO_BATCH_KEY": "k",
        "DSDIT_GEO_VERSION": "1",
    }


def test_lr_metadata(tmp_path):
    path = write_array(str(tmp_path / "a.tif"), np.ones((2, 4, 4), np.uint16), "EPSG:32611",
                       Affine(10, 0, 0, 0, -10, 0))  # fmt: skip
    plain = lr_metadata(rasterio.open(path), [1, 2])
    assert plain.descriptions == (None, None) and plain.scales == plain.units == plain.band_tags == ()
    with rasterio.open(path, "r+") as ds:
        ds.scales, ds.offsets, ds.units = (1e-4, 1.0), (-0.1, 0.0), ("", "K")
        ds.update_tags(SENSOR="MSI", DSDIT_GEO_VERSION="0.0", AREA_OR_POINT="Point")
        ds.update_tags(2, WAVELENGTH="842")
        ds.set_band_description(2, "nir")
    with rasterio.open(path) as ds:
        kept = lr_metadata(ds, [2, 1])
    assert kept.descriptions == ("nir", None) and kept.scales == (1.0, 1e-4) and kept.offsets == (0.0, -0.1)
    assert kept.units == ("K", "") and kept.band_tags == ({"WAVELENGTH": "842"}, {})
    assert kept.tags == {"SENSOR": "MSI"}
