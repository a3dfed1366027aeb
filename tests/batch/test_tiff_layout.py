"""`check_layout` reads GDAL's block tables (TIFF metadata domain): masks, overviews, BigTIFF."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import rasterio
from rasterio.shutil import copy as gdal_copy
from rasterio.transform import from_origin

from dsdit_geo.batch import tiff_layout
from dsdit_geo.batch.tiff_layout import LayoutError, check_layout


def write_cog(folder, name: str, **creation) -> str:
    """A 3-band 600×520 COG with an internal mask and one overview level."""
    src = os.path.join(folder, f"{name}_src.tif")
    rng = np.random.default_rng(0)
    with rasterio.open(src, "w", driver="GTiff", width=600, height=520, count=3, dtype="uint8",
                       crs="EPSG:32631", transform=from_origin(0, 520, 1, 1)) as ds:
        ds.write(rng.integers(0, 255, (3, 520, 600), dtype=np.uint8))
        mask = np.full((520, 600), 255, np.uint8)
        mask[:50] = 0
        ds.write_mask(mask)
    out = os.path.join(folder, f"{name}.tif")
    gdal_copy(src, out, driver="COG", BLOCKSIZE=256, OVERVIEW_COUNT=1, **creation)
    return out


@pytest.fixture(scope="module")
def cog(tmp_path_factory) -> str:
    return write_cog(str(tmp_path_factory.mktemp("cog")), "masked")


def test_masks_and_overviews_are_counted_from_gdal(cog):
    layout = check_layout(cog)
    # full resolution 3×3 blocks, its mask 3×3, the overview 2×2 and its mask 2×2
    assert layout.ifds == 4 and layout.blocks == 2 * 9 + 2 * 4
    assert layout.data_end == layout.file_size == os.path.getsize(cog)
    with rasterio.open(f"GTIFF_DIR:2:{cog}") as mask_ifd:  # what the check reads
        offset = int(mask_ifd.get_tag_item("BLOCK_OFFSET_2_2", "TIFF", bidx=1))
        size = int(mask_ifd.get_tag_item("BLOCK_SIZE_2_2", "TIFF", bidx=1))
    assert offset + size <= layout.data_end


def test_bigtiff_works(tmp_path):
    path = write_cog(str(tmp_path), "big", BIGTIFF="YES")
    with open(path, "rb") as handle:
        assert handle.read(4) == b"II+\x00"
    assert check_layout(path).ifds == 4


@pytest.mark.parametrize("cut", [1, 5, 2000, 0.5, 0.9])
def test_truncation_is_found_in_any_directory(cog, tmp_path, cut):
    path = str(tmp_path / "cut.tif")
    shutil.copy(cog, path)
    size = os.path.getsize(path)
    os.truncate(path, int(size * cut) if isinstance(cut, float) else size - cut)
    with pytest.raises(LayoutError, match="truncated"):
        check_layout(path)


def test_cut_inside_the_headers(cog, tmp_path):
    path = str(tmp_path / "head.tif")
    shutil.copy(cog, path)
    os.truncate(path, 700)
    with pytest.raises(LayoutError, match="truncated"):
        check_layout(path)


def test_a_missing_directory_is_truncation(cog, monkeypatch):
    """Fewer directories than the dataset declares (levels × mask) is an incomplete file."""
    monkeypatch.setattr(tiff_layout, "_declared_ifds", lambda path: 6)
    with pytest.raises(LayoutError, match="4 of its 6 image directories"):
        check_layout(cog)


def test_no_hand_written_ifd_parser_is_left():
    source = open(tiff_layout.__file__).read()
    assert "get_tag_item" in source and "def ifd(" not in source and "_TYPES" not in source
