"""STAC items as one raster: assets by key or by eo:bands common name, relative hrefs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from dsdit_geo.errors import InputError
from dsdit_geo.raster.products import resolve_input
from dsdit_geo.raster.stac import is_stac_item
from dsdit_geo.raster.synthetic import write_array, write_pair
from dsdit_geo.raster.synthetic_products import write_stac_items


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


@pytest.fixture(scope="module")
def items(pair, tmp_path_factory):
    return write_stac_items(str(tmp_path_factory.mktemp("stac")), *pair)


def read(xml_or_path: str) -> np.ndarray:
    with rasterio.open(xml_or_path) as ds:
        return ds.read()


def test_default_assets_with_relative_hrefs(items, pair, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # hrefs resolve against the item's folder, not the working one
    with rasterio.open(resolve_input(items["s2"], "LR")) as ds:
        assert ds.descriptions == ("B04", "B03", "B02", "B08") and ds.nodata == 0
        assert ds.scales == (1e-4,) * 4 and ds.offsets == (-0.1,) * 4  # raster:bands
        assert [c.name for c in ds.colorinterp] == ["red", "green", "blue", "nir"]
        assert ds.tags()["STAC_ITEM"] == "s2_item"
    assert np.array_equal(read(resolve_input(items["s2"], "LR")), read(pair[0]))
    assert np.array_equal(read(resolve_input(items["naip"], "Ref")), read(pair[1]))  # 4 bands by name


def test_assets_by_key_and_by_common_name(items, pair):
    lr = read(pair[0])
    with rasterio.open(resolve_input(items["s2"], "LR", ["nir", "red"])) as ds:  # keys
        assert ds.descriptions == ("B08", "B04") and np.array_equal(ds.read(), lr[[3, 0]])
    # Planetary Computer style: keys B04.., common names pick the one-band assets, not 'visual'
    by_name = resolve_input(items["s2_pc"], "LR", ["red", "green", "blue", "nir"])
    assert np.array_equal(read(by_name), lr)
    assert "visual.tif" not in by_name
    assert np.array_equal(read(resolve_input(items["s2_pc"], "LR", ["B08", "B04"])), lr[[3, 0]])
    with rasterio.open(resolve_input(items["s2_pc"], "LR", ["visual"])) as ds:
        assert ds.count == 3 and ds.descriptions == ("B04", "B03", "B02")
    # one band out of a multi-band asset
    nir = resolve_input(items["naip"], "Ref", ["nir", "red"])
    assert np.array_equal(read(nir), read(pair[1])[[3, 0]])
    assert np.array_equal(read(resolve_input(items["naip"], "Ref", ["image"])), read(pair[1]))


def test_landsat_nir08_stands_in_for_nir(pair, tmp_path):
    item = {"type": "Feature", "id": "LC08", "assets": {}}
    with rasterio.open(pair[0]) as ds:
        for k, key in enumerate(("red", "green", "blue", "nir08")):
            write_array(str(tmp_path / f"{key}.tif"), ds.read(k + 1)[None], ds.crs, ds.transform)
            eo = [{"name": f"SR_B{k + 2}", "common_name": key}]
            item["assets"][key] = {"href": f"{key}.tif", "eo:bands": eo}
    (tmp_path / "item.json").write_text(json.dumps(item))
    assert np.array_equal(read(resolve_input(str(tmp_path / "item.json"), "LR")), read(pair[0]))


def test_errors_name_what_is_missing(items, pair, tmp_path):
    with pytest.raises(InputError, match=r"has no asset\(s\) swir16 \(it has: B02, B03, B04, B08, visual; "
                       "band common names: blue, green, nir, red\\)"):  # fmt: skip
        resolve_input(items["s2_pc"], "LR", ["red", "swir16"])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"type": "Feature", "id": "x", "assets": {"data": {"href": pair[0]}}}))
    with pytest.raises(InputError, match=r"none of the assets red, green, blue, nir: name the assets to "
                       r"stack with --ref-assets \(it has: data\)"):  # fmt: skip
        resolve_input(str(other), "Ref")
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps({"type": "Feature", "id": "x", "assets": {"red": {"href": "red.tif"}}}))
    with pytest.raises(InputError, match=r"LR STAC asset red \(.*/red.tif\) cannot be read"):
        resolve_input(str(gone), "LR")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="is not a STAC item"):
        resolve_input(str(tmp_path / "list.json"), "LR")
    with pytest.raises(InputError, match="LR STAC item not found"):
        resolve_input(str(tmp_path / "nothing.json"), "LR")


def test_what_counts_as_an_item():
    assert is_stac_item("a/item.json") and is_stac_item("https://x.org/s2/item.JSON?sig=1")
    assert is_stac_item("https://planetarycomputer.microsoft.com/api/stac/v1/collections/naip/items/m_3411")
    assert not is_stac_item("scene.tif") and not is_stac_item("/vsicurl/https://x.org/a.tif")
