"""A written COG is checked before it is published: a broken copy (full disk, truncation,
changed pixels, GDAL write errors) gives one OutputError and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio._err import CPLE_AppDefinedError
from rasterio.crs import CRS
from rasterio.windows import Window

from dsdit_geo.errors import OutputError
from dsdit_geo.raster.cog import AtomicCogWriter, OutputSpec
from dsdit_geo.raster.verify import MASK_TAG, PIXELS_TAG, checksum_mismatch, content_checksums

REAL_COPY = rasterio.shutil.copy


def spec(width: int = 700, height: int = 600, **kwargs) -> OutputSpec:
    base = {
        "crs": CRS.from_epsg(26911),
        "transform": Affine(1, 0, 5e5, 0, -1, 4e6),
        "count": 2,
        "dtype": "uint16",
    }
    base.update(width=width, height=height, nodata=0)
    return OutputSpec(**{**base, **kwargs})


def write(path, s: OutputSpec, seed: int = 0) -> np.ndarray:
    data = np.random.default_rng(seed).integers(1, 4000, (s.count, s.height, s.width)).astype(s.dtype)
    valid = np.ones((s.height, s.width), bool)
    valid[:5, :7] = False
    with AtomicCogWriter(str(path), s) as writer:
        for row in range(0, s.height, 100):
            writer.write_rows(row, data[:, row : row + 100], valid[row : row + 100])
        writer.commit()
    return data


def leftovers(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


@pytest.mark.parametrize("masked", [False, True])
def test_checksums_in_the_tags_match_the_pixels(tmp_path, masked):
    s = spec(nodata=None, write_mask=True) if masked else spec()
    write(tmp_path / "out.tif", s)
    with rasterio.open(tmp_path / "out.tif") as ds:
        tags = ds.tags()
        assert len(tags[PIXELS_TAG].split(",")) == 2 and (MASK_TAG in tags) == masked
        assert content_checksums(ds) == {k: tags[k] for k in (PIXELS_TAG, MASK_TAG) if k in tags}
        assert checksum_mismatch(ds) is None


def broken_copy(damage):
    def copy(src, dst, **kwargs):
        REAL_COPY(src, dst, **kwargs)
        damage(dst)

    return copy


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size * 2 // 3)


def change_a_pixel(path):
    """Still a valid TIFF that decodes everywhere, but not what was written."""
    with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.write(np.full((1, 1), 7, np.uint16), 1, window=Window(300, 300, 1, 1))


def gdal_write_error(path):
    raise CPLE_AppDefinedError(1, 1, "Free disk space available is 0 bytes, whereas 1 is at least necessary.")


@pytest.mark.parametrize(
    "damage, message",
    [
        (truncate, "does not check out"),
        (change_a_pixel, "do not match"),
        (gdal_write_error, "Free disk space"),
    ],
)
def test_a_broken_copy_is_refused_and_nothing_is_left(tmp_path, monkeypatch, damage, message):
    monkeypatch.setattr(rasterio.shutil, "copy", broken_copy(damage))
    with pytest.raises(OutputError, match=message) as info:
        write(tmp_path / "out.tif", spec())
    assert "\n" not in info.value.message and "writing" in info.value.message
    assert os.listdir(tmp_path) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """Mount small tmpfs file systems under tmp_path (skips where mount is not permitted)."""
    mounted = []

    def make(size_kib: int):
        folder = tmp_path / f"disk{size_kib}"
        folder.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_never_publishes_a_broken_file(tiny_disk):
    """Random pixels (~1.6 MB a file, strips and COG side by side): the disk fills while
    writing the strips, during the COG copy, or not at all."""
    outcomes = set()
    for size_kib in (256, 1200, 1800, 2400, 2800, 3200, 3600, 6000):
        folder = tiny_disk(size_kib)
        out = folder / "out.tif"
        try:
            data = write(out, spec())
        except OutputError as exc:
            assert "\n" not in exc.message
            assert os.listdir(folder) == [], size_kib  # nothing published, no temporaries
            outcomes.add("refused")
            continue
        with rasterio.open(out) as ds:
            np.testing.assert_array_equal(ds.read(), data)
        assert leftovers(folder) == []
        outcomes.add("written")
    assert outcomes == {"refused", "written"}
