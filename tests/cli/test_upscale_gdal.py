"""Issue 13 options of `dsdit-geo upscale` / `batch`: nodata, --co, aliases, --resampling,
--threads, -v, --json; bad values are one-line errors."""

import json
import logging

import pytest
import rasterio
from dsdit_geo_cli.app import app
from typer.testing import CliRunner

from dsdit_geo.raster.synthetic import write_pair

runner = CliRunner()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_pair(str(tmp_path_factory.mktemp("pair")))


def invoke(*args):
    return runner.invoke(app, [*map(str, args)])


def test_json_summary_and_aliases(pair, tmp_path):
    """--json prints one JSON object on stdout; --dst-crs/--res/--bounds are --crs/--resolution/--extent."""
    out = tmp_path / "out.tif"
    result = invoke("upscale", *pair, out, "-m", "bicubic", "-q", "--json", "--dst-crs", "EPSG:32611",
                    "--res", "2", "--bounds", "500100,3999800,500300,3999900", "--co", "COMPRESS=LZW",
                    "--resampling", "bilinear", "--threads", "1", "--dst-nodata", "65535")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["output"] == str(out) and summary["crs"] == "EPSG:32611" and summary["method"] == "bicubic"
    assert summary["resolution"] == [2.0, 2.0] and (summary["width"], summary["height"]) == (100, 50)
    assert summary["bounds"] == [500100.0, 3999800.0, 500300.0, 3999900.0]
    assert summary["seconds"] > 0 and summary["megapixels_per_second"] > 0
    with rasterio.open(out) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "LZW" and ds.nodata == 65535
        assert ds.tags()["DSDIT_GEO_OPTION_RESAMPLING"] == "bilinear"


def test_verbose_logs_the_grid(pair, tmp_path):
    result = invoke("upscale", *pair, tmp_path / "out.tif", "-m", "bicubic", "-q", "-v")
    assert result.exit_code == 0 and "INFO dsdit_geo.pipeline: grid 380 x 380 px" in result.stderr
    assert not logging.getLogger("dsdit_geo").handlers  # removed after the command: no pile-up


@pytest.mark.parametrize(
    "args, message",
    [
        (("--co", "TILED=YES"), "Error: --co TILED is not a creation option of GDAL's COG driver"),
        (("--co", "LEVEL"), "Error: --co needs KEY=VALUE"),
        (("--lr-nodata", "zero"), "Error: --lr-nodata must be a number, 'nan' or 'none'"),
        (("--dst-nodata", "-5"), "Error: --dst-nodata -5 is outside the range of uint16"),
        (("--compress", "lzw", "--co", "COMPRESS=WEBPX"), "Error: --co COMPRESS=WEBPX: must be one of"),
    ],
)
def test_bad_values_are_one_line_errors(pair, tmp_path, args, message):
    result = invoke("upscale", *pair, tmp_path / "out.tif", "-m", "bicubic", *args)
    assert result.exit_code != 0 and result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.tif").exists()


def test_batch_takes_the_same_options(pair, tmp_path):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(f"lr,ref,out\n{pair[0]},{pair[1]},a.tif\n")
    result = invoke("batch", manifest, tmp_path / "out", "-m", "bicubic", "-q", "--lr-nodata", "none",
                    "--dst-nodata", "none", "--co", "COMPRESS=LZW")  # fmt: skip
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "out" / "a.tif") as ds:
        assert ds.nodata is None and ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "LZW"
    rerun = invoke("batch", manifest, tmp_path / "out", "-m", "bicubic", "--lr-nodata", "none",
                   "--dst-nodata", "none", "--co", "COMPRESS=LZW")  # fmt: skip
    assert rerun.exit_code == 0 and "1 skipped" in rerun.stderr  # the renamed tags still count as complete


def test_products_errors_are_one_line(pair, tmp_path):
    """A .SAFE download without its band files, or a STAC item without the asked assets."""
    safe = tmp_path / "S2B_MSIL2A_20210601T183919_N0300_R070_T11SKA_20210601T210000.SAFE"
    (safe / "GRANULE" / "L2A_T11SKA_A000000_20210601T184602" / "IMG_DATA" / "R10m").mkdir(parents=True)
    result = invoke("upscale", safe, pair[1], tmp_path / "a.tif", "-m", "bicubic")
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "lacks the 10 m band file(s) B04, B03, B02, B08" in result.stderr
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "x", "assets": {"red": {"href": pair[0]}}}))
    result = invoke("upscale", item, pair[1], tmp_path / "b.tif", "--assets", "red,nir")
    assert result.exit_code != 0 and result.stderr.startswith("Error: LR STAC item")
    assert "has no asset(s) nir (it has: red)" in result.stderr and len(result.stderr.strip().splitlines()) == 1
