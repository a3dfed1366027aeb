"""`dsdit-geo upscale` through the CLI: success, every bad input, Ctrl-C."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from affine import Affine
from dsdit_geo_cli.app import app
from rio_cogeo.cogeo import cog_validate
from typer.testing import CliRunner

from dsdit_geo import pipeline
from dsdit_geo.raster import cog
from dsdit_geo.raster.synthetic import write_array, write_pair
from dsdit_geo.upscalers.classical import Bicubic

runner = CliRunner()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """Broken or mismatched inputs, by name."""
    folder = tmp_path_factory.mktemp("bad")
    data = np.ones((1, 20, 20), np.uint8)
    utm = Affine(1, 0, 500_000, 0, -1, 4_000_000)
    (folder / "text.tif").write_text("not a raster")
    return {
        "text": str(folder / "text.tif"),
        "no_crs": write_array(str(folder / "no_crs.tif"), data, None, utm),
        "no_transform": write_array(str(folder / "no_gt.tif"), data, "EPSG:26911", None),
        "far_away": write_array(
            str(folder / "far.tif"),
            np.ones((4, 50, 50), np.uint8),
            "EPSG:26911",
            Affine(1, 0, 600_000, 0, -1, 4_000_000),
        ),
        "coarse": write_array(
            str(folder / "coarse.tif"),
            np.ones((4, 20, 20), np.uint8),
            "EPSG:26911",
            Affine(20, 0, 500_000, 0, -20, 4_000_000),
        ),
        "missing": str(folder / "missing.tif"),
    }


def invoke(*args):
    return runner.invoke(app, ["upscale", *map(str, args)])


def hidden_files(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_upscale_writes_a_cog(pair, tmp_path):
    out = tmp_path / "out.tif"
    result = invoke(
        *pair,
        out,
        "--method",
        "bicubic",
        "--tile-px",
        "200",
        "--overlap-px",
        "16",
        "--batch-size",
        "2",
        "--seed",
        "7",
        "--compress",
        "zstd",
    )
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.stderr
    assert cog_validate(str(out))[0]
    with rasterio.open(out) as ds:
        tags = ds.tags()
        assert (
            ds.crs.to_epsg() == 26911 and ds.res == (1.0, 1.0) and ds.dtypes[0] == "uint16" and ds.nodata == 0
        )
        assert ds.compression.name == "zstd"
    assert tags["DSDIT_GEO_METHOD"] == "bicubic" and tags["DSDIT_GEO_SEED"] == "7"
    assert tags["DSDIT_GEO_OPTION_TILE_PX"] == "200"
    assert hidden_files(tmp_path) == []


def test_quiet_prints_nothing(pair, tmp_path):
    result = invoke(
        *pair, tmp_path / "out.tif", "-m", "bicubic", "-q", "--lr-bands", "1,2,3", "--ref-bands", "3 2 1"
    )
    assert result.exit_code == 0 and result.stderr == "" and result.stdout == ""
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.count == 3


def test_help_is_fast_and_light():
    code = (
        "import sys; from dsdit_geo_cli.app import app; assert 'torch' not in sys.modules, 'torch'; "
        "assert 'rasterio' not in sys.modules, 'rasterio'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = invoke("--help")
    assert result.exit_code == 0
    for flag in (
        "--method",
        "--resolution",
        "--crs",
        "--extent",
        "--lr-bands",
        "--ref-bands",
        "--tile-px",
        "--overlap-px",
        "--batch-size",
        "--seed",
        "--overwrite",
        "--quiet",
        "--device",
        "--compress",
        "--weights",
        "--steps",
        "--guidance",
        "--ref-scale-weak",
        "--trust-map",
    ):
        assert flag in result.output


BAD_CASES = {
    "missing LR": (lambda p, b: (b["missing"], p[1]), [], "LR file not found"),
    "missing Ref": (lambda p, b: (p[0], b["missing"]), [], "Ref file not found"),
    "not a raster": (lambda p, b: (p[0], b["text"]), [], "Ref file is not a raster"),
    "no CRS": (lambda p, b: (b["no_crs"], p[1]), [], "LR file has no CRS"),
    "no geotransform": (lambda p, b: (p[0], b["no_transform"]), [], "Ref file has no geotransform"),
    "no overlap": (lambda p, b: (p[0], b["far_away"]), [], "do not overlap"),
    "Ref coarser": (lambda p, b: (p[0], b["coarse"]), [], "not finer"),
    "LR band out of range": (lambda p, b: p, ["--lr-bands", "1,5"], "--lr-bands 5 out of range"),
    "Ref band out of range": (
        lambda p, b: p,
        ["--lr-bands", "1", "--ref-bands", "0"],
        "--ref-bands 0 out of range",
    ),
    "band lists differ": (lambda p, b: p, ["--lr-bands", "1,2", "--ref-bands", "1"], "pair by position"),
    "band list malformed": (lambda p, b: p, ["--lr-bands", "1,2.5"], "--lr-bands must list"),
    "band name unknown": (lambda p, b: p, ["--lr-bands", "1,x"], "--lr-bands x: the LR has no band"),
    "overlap >= tile": (lambda p, b: p, ["--tile-px", "64", "--overlap-px", "64"], "--overlap-px"),
    "tile not positive": (lambda p, b: p, ["--tile-px", "0"], "--tile-px must be positive"),
    "resolution coarser": (lambda p, b: p, ["--resolution", "20"], "not finer"),
    "resolution negative": (lambda p, b: p, ["--resolution", "-1"], "--resolution must be a positive number"),
    "bad extent": (lambda p, b: p, ["--extent", "1,2,3"], "--extent needs four numbers"),
    "extent outside": (lambda p, b: p, ["--extent", "0,0,10,10"], "does not overlap"),
    "bad CRS": (lambda p, b: p, ["--crs", "EPSG:0"], "--crs"),
    "bad device": (lambda p, b: p, ["--device", "tpu"], "--device"),
    "batch size": (lambda p, b: p, ["--batch-size", "0"], "--batch-size"),
    "trust map with bicubic": (
        lambda p, b: p,
        ["-m", "bicubic", "--trust-map", "{out}.trust.tif"],
        "--trust-map",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_is_one_line_and_leaves_nothing(case, pair, bad_inputs, tmp_path):
    make_inputs, extra, message = BAD_CASES[case]
    out = tmp_path / "out.tif"
    extra = [arg.format(out=out) for arg in extra]
    result = invoke(*make_inputs(pair, bad_inputs), out, *extra)
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(pair, tmp_path):
    out = tmp_path / "out.tif"
    out.write_bytes(b"precious")
    result = invoke(*pair, out, "-m", "bicubic")
    assert result.exit_code == 1 and "exists" in result.stderr and "--overwrite" in result.stderr
    assert out.read_bytes() == b"precious" and hidden_files(tmp_path) == []
    assert invoke(*pair, out, "-m", "bicubic", "--overwrite").exit_code == 0
    assert cog_validate(str(out))[0]


def test_output_folder_missing_or_not_writable(pair, tmp_path, monkeypatch):
    result = invoke(*pair, tmp_path / "nowhere" / "out.tif")
    assert result.exit_code == 1 and "folder does not exist" in result.stderr

    def refuse(beside, suffix):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cog, "create_hidden_file", refuse)
    result = invoke(*pair, tmp_path / "out.tif")
    assert result.exit_code == 1 and "not writable" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_output_on_a_read_only_filesystem(pair):
    if os.access("/proc", os.W_OK) is False or not os.path.isdir("/proc"):
        pytest.skip("no /proc")
    result = invoke(*pair, "/proc/out.tif")
    assert result.exit_code == 1 and result.stderr.startswith("Error: output folder is not writable")


class SixteenPixelTiles(Bicubic):
    name = "sixteen"
    tile_multiple_px = 16


def test_tile_size_must_suit_the_method(pair, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "make_upscaler", lambda options, scale=None: SixteenPixelTiles())
    result = invoke(*pair, tmp_path / "out.tif", "--tile-px", "100")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: --tile-px 100 does not suit method 'sixteen': tile plus context "
        "(100 px) must be a multiple of 16"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(
    importlib.util.find_spec("dsdit_geo.upscalers.dsdit") is not None, reason="the DS-DiT upscaler exists"
)
def test_dsdit_not_there_yet(pair, tmp_path):
    result = invoke(*pair, tmp_path / "out.tif", "--method", "dsdit")
    assert result.exit_code == 1 and result.stderr.startswith("Error: method 'dsdit' is not available")
    assert list(tmp_path.iterdir()) == []


class InterruptedBicubic(Bicubic):
    """Raises KeyboardInterrupt (as Ctrl-C would) on its third batch."""

    provides_trust = True  # so a trust map is being written too

    def __init__(self):
        self.calls = 0

    def upscale(self, batch):
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return super().upscale(batch)


@pytest.mark.parametrize("existing", [False, True])
def test_ctrl_c_leaves_no_output(pair, tmp_path, monkeypatch, existing):
    monkeypatch.setattr(pipeline, "make_upscaler", lambda options, scale=None: InterruptedBicubic())
    out = tmp_path / "out.tif"
    if existing:
        out.write_bytes(b"previous result")
    result = invoke(
        *pair,
        out,
        "--tile-px",
        "64",
        "--batch-size",
        "2",
        "--overwrite",
        "--trust-map",
        tmp_path / "trust.tif",
    )
    assert result.exit_code == 130 and "Interrupted" in result.stderr
    assert sorted(os.listdir(tmp_path)) == (["out.tif"] if existing else [])
    if existing:
        assert out.read_bytes() == b"previous result"
