"""Sentinel-2 products and STAC items through upscale_file: the same pixels as the plain files.
(The products themselves: test_sentinel2.py, test_stac.py, test_stack.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from dsdit_geo.pipeline import upscale_file
from dsdit_geo.raster.synthetic import write_pair
from dsdit_geo.raster.synthetic_products import write_safe, write_stac_items


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


def test_safe_lr_and_stac_ref_through_the_pipeline(pair, tmp_path):
    """A SAFE LR and a STAC Ref give the same pixels as the plain files, plus the SAFE's
    band names, scale and offset; the provenance tags name the product."""
    safe = write_safe(str(tmp_path), pair[0])
    items = write_stac_items(str(tmp_path / "stac"), *pair)
    upscale_file(safe, items["naip"], tmp_path / "a.tif", method="hpf", quiet=True)
    upscale_file(pair[0], pair[1], tmp_path / "b.tif", method="hpf", quiet=True)
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert np.array_equal(a.read(), b.read())
        assert a.descriptions == ("B04", "B03", "B02", "B08") and a.scales == (1e-4,) * 4
        assert a.offsets == (-0.1,) * 4
        assert a.tags()["DSDIT_GEO_LR_FILE"] == safe.rsplit("/", 1)[1]
        assert a.tags()["DSDIT_GEO_REF_FILE"] == "naip.json"


def test_product_bands_by_name_and_lr_nodata(pair, tmp_path):
    """--lr-bands names select SAFE bands; --lr-nodata works on a stacked product too."""
    safe = write_safe(str(tmp_path), pair[0], level="L1C", zipped=True)
    upscale_file(safe, pair[1], tmp_path / "a.tif", method="bicubic", lr_bands=["B08", "red"],
                 ref_bands=[4, 1], lr_nodata="none", quiet=True)  # fmt: skip
    upscale_file(pair[0], pair[1], tmp_path / "b.tif", method="bicubic", lr_bands=[4, 1],
                 ref_bands=[4, 1], lr_nodata="none", quiet=True)  # fmt: skip
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert a.descriptions == ("B08", "B04") and np.array_equal(a.read(), b.read())
