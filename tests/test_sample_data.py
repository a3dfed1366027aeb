"""sample_data/: the committed synthetic pair is what its seeded script makes, and is as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.enums import ColorInterp as CI
from rasterio.warp import transform_bounds

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SCRIPT = SAMPLE / "make_sample.py"
FILES = ("lr.tif", "ref.tif", "hr_truth.tif", "change_mask.tif")
RGBN = (CI.red, CI.green, CI.blue, CI.nir)


def generate(out_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--out-dir", str(out_dir), *extra],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    done = generate(out, "--seed", "0")
    assert done.returncode == 0, done.stderr
    return out


def read_all(path: Path):
    """(pixels, metadata) of a raster, the metadata as plain comparable values."""
    with rasterio.open(path) as ds:
        meta = {"profile": dict(ds.profile), "descriptions": ds.descriptions,
                "colorinterp": ds.colorinterp, "tags": ds.tags(),
                "structure": ds.tags(ns="IMAGE_STRUCTURE"), "block_shapes": ds.block_shapes}
        return ds.read(), meta


def open_sample(name: str):
    return rasterio.open(SAMPLE / name)


@pytest.mark.parametrize("name", FILES)
def test_regenerating_gives_the_committed_pixels_and_metadata(regenerated, name):
    assert (SAMPLE / name).is_file(), f"sample_data/{name} is missing: run {SCRIPT.name}"
    committed, committed_meta = read_all(SAMPLE / name)
    fresh, fresh_meta = read_all(regenerated / name)
    assert fresh_meta == committed_meta
    np.testing.assert_array_equal(fresh, committed)


def test_generation_is_byte_deterministic(regenerated, tmp_path):
    assert generate(tmp_path, "--seed", "0").returncode == 0
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (regenerated / name).read_bytes(), name


def test_another_seed_gives_another_scene(tmp_path):
    assert generate(tmp_path, "--seed", "1", "--size-m", "200").returncode == 0
    with rasterio.open(tmp_path / "lr.tif") as ds:
        assert ds.shape == (20, 20)
        assert ds.tags()["seed"] == "1"


def test_rejects_a_size_that_is_not_whole_lr_pixels(tmp_path):
    done = generate(tmp_path, "--size-m", "205")
    assert done.returncode != 0 and "--size-m" in done.stderr
    assert not any(tmp_path.iterdir())


def test_files_are_commit_sized_tiled_and_compressed():
    assert sum((SAMPLE / n).stat().st_size for n in FILES) < 3_000_000
    for name in FILES:
        with open_sample(name) as ds:
            assert ds.block_shapes[0] == (256, 256)
            assert ds.profile["tiled"]
            assert ds.compression.name == "deflate"
            assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
            tags = ds.tags()
            assert "synthetic" in tags["note"]
            assert tags["generator"] == "sample_data/make_sample.py" and tags["seed"] == "0"


def test_lr_is_sentinel2_like():
    with open_sample("lr.tif") as ds:
        assert ds.crs == CRS.from_epsg(32611)
        assert ds.res == (10.0, 10.0) and ds.shape == (48, 48) and ds.count == 4
        assert ds.dtypes == ("uint16",) * 4 and ds.nodata == 0
        assert ds.descriptions == ("B4", "B3", "B2", "B8") and ds.colorinterp == RGBN
        data = ds.read()
    nodata = data == 0
    assert (nodata == nodata[0]).all(), "nodata must be the same pixels in every band"
    assert 0 < nodata[0].sum() < 0.02 * nodata[0].size
    valid = data[:, ~nodata[0]]
    assert valid.min() > 1000 and valid.max() < 10000  # L2A offset: reflectance 0..0.9


def test_ref_is_naip_like():
    with open_sample("ref.tif") as ds:
        assert ds.crs == CRS.from_epsg(26911)
        assert ds.res == (1.0, 1.0) and ds.count == 4 and ds.dtypes == ("uint8",) * 4
        assert ds.descriptions == ("Red", "Green", "Blue", "NIR") and ds.colorinterp == RGBN
        assert ds.nodata is None


def test_truth_and_change_mask_share_the_lr_footprint_at_1m():
    with open_sample("lr.tif") as lr, open_sample("hr_truth.tif") as hr, \
            open_sample("change_mask.tif") as cm:
        for ds in (hr, cm):
            assert ds.crs == lr.crs and ds.bounds == lr.bounds
            assert ds.res == (1.0, 1.0) and ds.shape == (480, 480)
        assert hr.dtypes == ("uint16",) * 4 and hr.descriptions == lr.descriptions
        assert cm.count == 1 and cm.dtypes == ("uint8",)
        mask = cm.read(1)
    assert set(np.unique(mask)) == {0, 1}
    assert 0.02 < mask.mean() < 0.3


def test_lr_and_ref_footprints_overlap_but_differ():
    with open_sample("lr.tif") as lr, open_sample("ref.tif") as ref:
        l_w, l_s, l_e, l_n = lr.bounds
        r_w, r_s, r_e, r_n = transform_bounds(ref.crs, lr.crs, *ref.bounds)
    assert max(l_w, r_w) < min(l_e, r_e) and max(l_s, r_s) < min(l_n, r_n)
    assert r_w < l_w - 10 and r_n > l_n + 10  # the Ref covers more on the west and north ...
    assert r_e < l_e - 10 and r_s > l_s + 10  # ... and less on the east and south


def test_lr_is_the_truth_degraded():
    with open_sample("lr.tif") as lr, open_sample("hr_truth.tif") as hr:
        low, high = lr.read().astype(float), hr.read().astype(float)
    blocks = high.reshape(4, 48, 10, 48, 10).mean(axis=(2, 4))
    valid = low[0] > 0
    for b in range(4):
        assert np.corrcoef(blocks[b][valid], low[b][valid])[0, 1] > 0.9
        assert abs(np.mean(blocks[b][valid] - low[b][valid])) < 50  # same units, no bias


def test_ref_agrees_with_the_truth_only_where_nothing_changed():
    with open_sample("hr_truth.tif") as hr, open_sample("ref.tif") as ref, \
            open_sample("change_mask.tif") as cm:
        # The two CRSs share coordinates here (see the README), so bounds intersect directly.
        both = (max(hr.bounds.left, ref.bounds.left), max(hr.bounds.bottom, ref.bounds.bottom),
                min(hr.bounds.right, ref.bounds.right), min(hr.bounds.top, ref.bounds.top))
        hr_win = hr.window(*both).round_offsets().round_lengths()
        truth, changed = hr.read(window=hr_win).astype(float), cm.read(1, window=hr_win).astype(bool)
        ref_px = ref.read(window=ref.window(*both).round_offsets().round_lengths()).astype(float)
    assert truth.shape == ref_px.shape == (4, 434, 452)
    for b in range(3):
        same = np.corrcoef(truth[b][~changed], ref_px[b][~changed])[0, 1]
        diff = np.corrcoef(truth[b][changed], ref_px[b][changed])[0, 1]
        assert same > 0.8 and diff < 0.5, (b, same, diff)
