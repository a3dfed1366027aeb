"""`dsdit-geo upscale` under faults and hostile input (issue 12): FIFOs and devices, signals,
Ctrl-C during the COG copy, bad or far-away --crs, absurd sizes, unreadable tiles, a full disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import traceback

import pytest
import rasterio.shutil
from dsdit_geo_cli.app import app
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from dsdit_geo import pipeline
from dsdit_geo.raster.publish import publish
from dsdit_geo.raster.synthetic import write_pair
from dsdit_geo.upscalers.classical import Bicubic

runner = CliRunner()
REAL_COPY = rasterio.shutil.copy
REAL_PUBLISH = publish


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


def invoke(*args):
    return runner.invoke(app, ["upscale", *map(str, args), "-m", "bicubic"])


def one_error_line(result, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_a_fifo_input_is_refused_at_once(pair, tmp_path):
    fifo = tmp_path / "lr.tif"
    os.mkfifo(fifo)
    signal.alarm(20)  # a regression would block in open(); fail rather than hang the suite
    try:
        result = invoke(fifo, pair[1], tmp_path / "out.tif")
    finally:
        signal.alarm(0)
    assert "LR path is a FIFO" in one_error_line(result)
    assert sorted(os.listdir(tmp_path)) == ["lr.tif"]


def test_fifo_or_device_output_refused_even_with_overwrite(pair, tmp_path):
    fifo = tmp_path / "out.tif"
    os.mkfifo(fifo)
    assert "is a FIFO" in one_error_line(invoke(*pair, fifo, "--overwrite"))
    assert "character device" in one_error_line(invoke(*pair, "/dev/null", "--overwrite"))
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    assert sorted(os.listdir(tmp_path)) == ["out.tif"]


class SignallingBicubic(Bicubic):
    """Sends `signum` to this process on its second batch, as `kill` from outside would."""

    def __init__(self, signum):
        self.signum, self.calls = signum, 0

    def upscale(self, batch):
        self.calls += 1
        if self.calls == 2:
            os.kill(os.getpid(), self.signum)
        return super().upscale(batch)


def test_sigterm_cleans_up_and_exits_143(pair, tmp_path, monkeypatch):
    monkeypatch.setattr(
        pipeline, "make_upscaler", lambda options, scale=None: SignallingBicubic(signal.SIGTERM)
    )
    result = runner.invoke(app, ["upscale", *pair, str(tmp_path / "out.tif"), "--tile-px", "64"])
    assert result.exit_code == 143 and "Terminated" in result.stderr
    assert os.listdir(tmp_path) == []


def test_ctrl_c_during_the_cog_copy_is_never_exit_0(pair, tmp_path, monkeypatch):
    """GDAL calls back into Python during the copy, and an exception raised in such a callback is
    printed and swallowed: the signal must not be lost, nor the run carry on to exit 0."""

    def copy_with_ctrl_c(*args, **kwargs):
        try:  # what a GDAL callback does with an exception: print it, go on
            # raise_signal delivers to this (the main) thread at once, like a callback interrupted
            signal.raise_signal(signal.SIGINT)
            sum(range(10))
        except KeyboardInterrupt:
            traceback.print_exc()
        return REAL_COPY(*args, **kwargs)

    monkeypatch.setattr(rasterio.shutil, "copy", copy_with_ctrl_c)
    result = invoke(*pair, tmp_path / "out.tif")
    assert result.exit_code == 130 and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_a_bad_crs_prints_only_the_error_line(pair, tmp_path):
    """In a fresh process: GDAL prints its raw 'ERROR 1: PROJ ...' line to the real stderr."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dsdit_geo_cli.app",
            "upscale",
            *pair,
            str(tmp_path / "o.tif"),
            "--crs",
            "EPSG:999999",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: --crs 'EPSG:999999' is not a CRS (try e.g. EPSG:32611)"
    ]
    for crs in ("EPSG:32611 x", "+proj=bogus"):
        assert one_error_line(invoke(*pair, tmp_path / "o.tif", "--crs", crs)).endswith(
            "is not a CRS (try e.g. EPSG:32611)"
        )


def test_a_far_away_utm_crs_warns_once(pair, tmp_path):
    result = invoke(*pair, tmp_path / "south.tif", "--crs", "EPSG:32711")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1 and "zone 11S" in warnings[0] and "11N" in warnings[0]
    near = invoke(*pair, tmp_path / "near.tif", "--crs", "EPSG:32612")
    assert near.exit_code == 0 and "Warning: --crs" not in near.stderr
    assert cog_validate(str(tmp_path / "near.tif"))[0]


@pytest.mark.parametrize("trust_map", [False, True])
def test_a_full_disk_prints_only_the_error_line(pair, tmp_path, trust_map):
    """In a fresh process on a 200 KiB tmpfs: libtiff's own '_tiffWriteProc: No space left on
    device.' lines (printed by its default handler on the real stderr) are kept off it; with a
    trust map, neither file is left (they are published together or not at all)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)]
    mounted = subprocess.run(mount, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    command = [sys.executable, "-m", "dsdit_geo_cli.app", "upscale", *pair, str(disk / "o.tif"), "-m", "hpf"]
    command += ["--trust-map", str(disk / "t.tif")] if trust_map else []
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1 and os.listdir(disk) == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: writing"), result.stderr
    assert "the disk is full" in lines[0]


def fail_for(path_name: str, error: BaseException):
    """A stand-in that raises `error` when called for a temporary of output `path_name`."""

    def check(real):
        def wrapped(path, *args, **kwargs):
            if os.path.basename(path).startswith(f".{path_name}."):
                raise error
            return real(path, *args, **kwargs)

        return wrapped

    return check


def test_a_failing_output_leaves_no_trust_map(pair, tmp_path, monkeypatch):
    """The output's COG does not check out (a disk filling during its copy) after the trust
    map's did: the trust map is not published either, and no temporary is left."""
    from dsdit_geo.raster import cog
    from dsdit_geo.raster.verify import VerifyError

    failing = fail_for("out.tif", VerifyError("block 3 is short"))
    monkeypatch.setattr(cog, "verify_written", failing(cog.verify_written))
    out, trust = tmp_path / "out.tif", tmp_path / "t.tif"
    args = ["upscale", *map(str, pair), str(out), "-m", "hpf", "--trust-map", str(trust)]
    result = runner.invoke(app, args)
    assert "out.tif failed: the written file does not check out (block 3 is short" in one_error_line(result)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_failing_publish_takes_the_trust_map_back(pair, tmp_path, monkeypatch, overwrite):
    """Publishing the output fails after the trust map was published: the trust map is taken
    back, and with --overwrite the files they would have replaced are both as they were."""
    from dsdit_geo.raster import cog

    out, trust = tmp_path / "out.tif", tmp_path / "t.tif"
    if overwrite:
        out.write_bytes(b"old output")
        trust.write_bytes(b"old trust map")
    published = []

    def spy(tmp, path, *args, **kwargs):
        published.append(os.path.basename(path))
        if path == str(out):
            raise PermissionError(13, "Permission denied")
        return REAL_PUBLISH(tmp, path, *args, **kwargs)

    monkeypatch.setattr(cog, "publish", spy)
    args = ["upscale", *map(str, pair), str(out), "-m", "hpf", "--trust-map", str(trust)]
    result = runner.invoke(app, args + ["--overwrite"] * overwrite)
    line = one_error_line(result)
    assert "out.tif failed: " in line and "Permission denied" in line
    assert published == ["t.tif", "out.tif"]  # the trust map was in place for a moment
    if overwrite:
        assert out.read_bytes() == b"old output" and trust.read_bytes() == b"old trust map"
        assert sorted(os.listdir(tmp_path)) == ["out.tif", "t.tif"]
    else:
        assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "option, value, says",
    [("--resolution", "1e-6", "coarser --resolution"), ("--tile-px", "100000", "smaller --tile-px")],
)
def test_absurd_sizes_are_refused_before_allocating(pair, tmp_path, option, value, says):
    line = one_error_line(invoke(*pair, tmp_path / "out.tif", option, value))
    assert says in line and "GiB" in line
    assert os.listdir(tmp_path) == []


def chained_read_error(*args, **kwargs):
    """What rasterio raises for a bad block: a vague error with the real cause chained."""
    from rasterio._err import CPLE_AppDefinedError
    from rasterio.errors import RasterioIOError

    try:
        raise CPLE_AppDefinedError(1, 1, "TIFFReadEncodedTile() failed: broken block")
    except CPLE_AppDefinedError as exc:
        raise RasterioIOError("Read or write failed. See previous exception for details.") from exc


@pytest.mark.parametrize("where", ["tiles", "statistics"])
def test_an_unreadable_block_names_the_cause(pair, tmp_path, monkeypatch, where):
    from dsdit_geo.raster import stats

    if where == "tiles":
        monkeypatch.setattr(pipeline, "read_tile", chained_read_error)
    else:
        monkeypatch.setattr(stats, "read_decimated", chained_read_error)
    line = one_error_line(invoke(*pair, tmp_path / "out.tif"))
    assert "See previous exception" not in line and "broken block" in line
    if where == "tiles":
        assert os.path.basename(pair[0]) in line  # the file is named
    assert os.listdir(tmp_path) == []


def test_gdal_http_timeouts_are_set_for_the_run(pair, tmp_path, monkeypatch):
    import rasterio.env

    from dsdit_geo.errors import InputError

    seen = {}

    def spy(path, role):
        seen.update(rasterio.env.getenv())
        raise InputError("stop here")

    monkeypatch.delenv("GDAL_HTTP_TIMEOUT", raising=False)
    monkeypatch.setenv("GDAL_HTTP_CONNECTTIMEOUT", "7")
    monkeypatch.setattr(pipeline, "open_raster", spy)
    one_error_line(invoke(*pair, tmp_path / "out.tif"))
    assert seen["GDAL_HTTP_TIMEOUT"] == "60" and "GDAL_HTTP_CONNECTTIMEOUT" not in seen  # the user's 7 wins


def test_a_silent_http_server_does_not_hang_the_run(pair, tmp_path, monkeypatch):
    import socket
    import threading
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted = []
    threading.Thread(target=lambda: [accepted.append(server.accept()) for _ in range(4)], daemon=True).start()
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "1")
    monkeypatch.setenv("GDAL_HTTP_CONNECTTIMEOUT", "1")
    started = time.monotonic()
    url = f"/vsicurl/http://127.0.0.1:{server.getsockname()[1]}/lr.tif"
    line = one_error_line(invoke(url, pair[1], tmp_path / "out.tif"))
    assert "timed out" in line and time.monotonic() - started < 30
    server.close()
