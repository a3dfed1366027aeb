"""Temporaries of dead runs beside an output are removed by the next run; live ones are kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from dsdit_geo.raster import temps
from dsdit_geo.raster.cog import AtomicCogWriter, OutputSpec, create_hidden_file


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def touch(path, age_s: float = 0.0) -> str:
    path.write_bytes(b"x")
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return str(path)


def test_names_carry_the_owner_pid(tmp_path):
    path = create_hidden_file(str(tmp_path / "out.tif"), ".strips.tif")
    match = temps.temp_pattern(["out.tif"]).match(os.path.basename(path))
    assert match and int(match.group("pid")) == os.getpid()


def test_only_dead_or_old_runs_temporaries_are_removed(tmp_path):
    out = tmp_path / "out.tif"
    dead = dead_pid()
    stale = [
        touch(tmp_path / f".out.tif.0123abcd.p{dead}.strips.tif"),
        touch(tmp_path / f".out.tif.0123abcd.p{dead}.strips.tif.ovr.tmp"),
        touch(tmp_path / ".out.tif.89abcdef.cog.tif", age_s=temps.STALE_AFTER_S + 60),  # no PID, old
        touch(tmp_path / f".out.tif.00000000.p{os.getppid()}.cog.tif", age_s=temps.REUSED_PID_AFTER_S + 60),
    ]
    kept = [
        touch(tmp_path / f".out.tif.11111111.p{os.getpid()}.strips.tif"),  # this process
        touch(
            tmp_path / f".out.tif.22222222.p{os.getppid()}.cog.tif", age_s=temps.STALE_AFTER_S + 60
        ),  # live
        touch(tmp_path / ".out.tif.33333333.probe"),  # no PID, fresh
        touch(tmp_path / f".other.tif.0123abcd.p{dead}.strips.tif"),  # another output's
        touch(tmp_path / f".out.tif.0123abcd.p{dead}.notours"),
    ]
    assert sorted(temps.remove_stale(str(out))) == sorted(stale)
    assert all(os.path.exists(p) for p in kept) and not any(os.path.exists(p) for p in stale)


def test_a_new_writer_cleans_up_after_a_killed_run(tmp_path):
    leftover = touch(tmp_path / f".out.tif.0123abcd.p{dead_pid()}.strips.tif")
    spec = OutputSpec(
        crs=CRS.from_epsg(26911),
        transform=Affine(1, 0, 5e5, 0, -1, 4e6),
        width=8,
        height=8,
        count=1,
        dtype="uint8",
    )
    with AtomicCogWriter(str(tmp_path / "out.tif"), spec) as writer:
        writer.write_rows(0, np.ones((1, 8, 8), np.uint8))
        writer.commit()
    assert not os.path.exists(leftover) and sorted(os.listdir(tmp_path)) == ["out.tif"]
