"""Batch pool workers keep libtiff's raw error lines (a full disk: `_tiffWriteProc: No space
left on device.`) off the stderr they share with the CLI when the CLI does (no -v)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import Future

import pytest

from dsdit_geo.batch import engines
from dsdit_geo.raster.gdal_errors import libtiff_quieted, quiet_libtiff

LINE = "_tiffWriteProc: No space left on device."
WORKER = """
import sys
from dsdit_geo.batch import task
from dsdit_geo.raster.gdal_errors import _loaded_libtiffs

class Slots:
    def get(self):
        return 0

task.init_pool_worker(Slots(), 1, sys.argv[1] == "quiet")
import rasterio  # what an item loads

libs = _loaded_libtiffs()
assert libs
for lib in libs:  # what GDAL's write callback does on a full disk
    lib.TIFFErrorExt(None, b"_tiffWriteProc", b"%s", b"No space left on device")
"""


def test_libtiff_quieted_says_whether_inside_quiet_libtiff():
    assert not libtiff_quieted()
    with quiet_libtiff():
        assert libtiff_quieted()
    assert not libtiff_quieted()


@pytest.mark.parametrize("quiet", [True, False])
def test_the_pool_tells_its_workers_what_this_process_does(monkeypatch, quiet):
    seen = {}

    class Pool:
        def __init__(self, **kwargs):
            seen.update(kwargs)

        def submit(self, fn, item, *args):
            future = Future()
            future.set_result({"index": item["index"], "status": "done"})
            return future

        def shutdown(self, **kwargs):
            pass

    monkeypatch.setattr(engines, "ProcessPoolExecutor", Pool)
    items = [{"index": 0}]
    if quiet:
        with quiet_libtiff():
            records = list(engines.run_pool(items, {}, "quick", workers=1))
    else:
        records = list(engines.run_pool(items, {}, "quick", workers=1))
    assert records == [{"index": 0, "status": "done"}]
    assert seen["initializer"] is engines.init_pool_worker and seen["initargs"][2] is quiet


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds libtiff in /proc/self/maps")
@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_a_quiet_worker_prints_no_libtiff_lines(mode):
    """In a fresh process, as a spawned pool worker is: its initializer unsets the handler."""
    result = subprocess.run(
        [sys.executable, "-c", WORKER, mode], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (LINE in result.stderr) is (mode == "verbose"), result.stderr
