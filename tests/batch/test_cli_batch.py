"""`dsdit-geo batch` end to end: good and bad pairs, resume, --overwrite, GDAL paths, --workers."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from dsdit_geo.batch.runner import LOCK_NAME

from .conftest import FAST, invoke, read_log, write_csv

VSICURL = "/vsicurl/https://example.invalid/scenes/T99_S2.tif"


def assert_valid_cog(path) -> None:
    valid, errors, _ = cog_validate(str(path))
    assert valid, errors


def hidden(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith(".") and name != LOCK_NAME)


def test_good_and_bad_pairs(scenes, tmp_path):
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            [scenes["A_lr"], scenes["A_ref"], "A.tif"],
            ["missing_lr.tif", scenes["A_ref"], ""],
            [scenes["A_lr"], scenes["far"], "no_overlap.tif"],
            [VSICURL, scenes["B_ref"], ""],
            [scenes["B_lr"], scenes["B_ref"], "B.tif"],
        ],
    )
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    result = invoke(manifest, out, *FAST, "--log", log)
    assert result.exit_code == 1, result.output
    assert_valid_cog(out / "A.tif")
    assert_valid_cog(out / "B.tif")
    assert sorted(os.listdir(out)) == sorted([LOCK_NAME, "A.tif", "B.tif"])  # nothing partial
    records = read_log(log)
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in records] == ["done", "failed", "failed", "failed", "done"]
    for record in records:
        assert set(record) == {"index", "lr", "ref", "out", "status", "error", "seconds", "megapixels"}
        assert record["seconds"] >= 0
        if record["status"] == "failed":
            assert record["error"] and "\n" not in record["error"] and record["megapixels"] is None
        else:
            assert record["error"] is None and record["megapixels"] == pytest.approx(0.1444)
    assert records[1]["error"] == f"LR file not found: {tmp_path / 'missing_lr.tif'}"
    assert "do not overlap" in records[2]["error"]
    assert records[3]["lr"] == VSICURL and VSICURL in records[3]["error"]  # accepted, failed at open
    assert records[3]["out"] == str(out / "T99_S2_sr.tif")
    stderr = result.stderr
    assert "Batch: 2 done, 0 skipped, 3 failed of 5 items" in stderr
    assert stderr.count("Failed: ") == 3
    with rasterio.open(out / "A.tif") as ds:
        tags = ds.tags()
    assert tags["DSDIT_GEO_BATCH_LR"] == scenes["A_lr"] and tags["DSDIT_GEO_BATCH_REF"] == scenes["A_ref"]


def test_rerun_skips_finished_and_redoes_damaged_or_missing(scenes, tmp_path):
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            [scenes["A_lr"], scenes["A_ref"], "A.tif"],
            [scenes["B_lr"], scenes["B_ref"], "B.tif"],
            [scenes["A_lr"], scenes["A_ref"], "A_again.tif"],
        ],
    )
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    assert invoke(manifest, out, *FAST, "-q").exit_code == 0
    original = {name: (out / name).read_bytes() for name in ("A.tif", "B.tif", "A_again.tif")}
    kept_mtime = os.stat(out / "A_again.tif").st_mtime_ns
    os.truncate(out / "A.tif", len(original["A.tif"]) * 2 // 3)  # a damaged, partial file
    os.remove(out / "B.tif")
    leftovers = [".A.tif.0123abcd.strips.tif", ".B.tif.89abcdef.cog.tif", ".B.tif.89abcdef.cog.tif.ovr.tmp"]
    for name in leftovers:  # what a killed run leaves behind
        (out / name).write_bytes(b"partial")
    (out / ".unrelated").write_text("not ours")

    result = invoke(manifest, out, *FAST, "--log", log)
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in read_log(log)] == ["done", "done", "skipped"]
    assert "Batch: 2 done, 1 skipped, 0 failed of 3 items" in result.stderr
    for name, data in original.items():
        assert (out / name).read_bytes() == data  # redone byte for byte
    assert os.stat(out / "A_again.tif").st_mtime_ns == kept_mtime  # skipped: not rewritten
    assert hidden(out) == [".unrelated"]  # leftovers cleaned, other hidden files kept

    result = invoke(manifest, out, *FAST, "--log", log, "--overwrite", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    assert [r["status"] for r in read_log(log)] == ["done"] * 3

    result = invoke(manifest, out, *FAST, "--log", log, "--compress", "zstd", "-q")
    assert [r["status"] for r in read_log(log)] == ["done"] * 3  # other options: redone
    result = invoke(
        manifest, out, *FAST, "--log", log, "--compress", "zstd", "--batch-size", "2", "--verify", "full"
    )
    assert [r["status"] for r in read_log(log)] == ["skipped"] * 3  # batch size changes nothing


def test_vsizip_inputs(scenes, sequential_run, tmp_path):
    archive = tmp_path / "pairs.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(scenes["A_lr"], "scenes/A_lr.tif")
        bundle.write(scenes["A_ref"], "A_ref.tif")
    manifest = write_csv(
        tmp_path / "zip.csv",
        [
            ["/vsizip/pairs.zip/scenes/A_lr.tif", "/vsizip/pairs.zip/A_ref.tif", "relative.tif"],
            [f"/vsizip/{archive}/scenes/A_lr.tif", f"/vsizip/{{{archive}}}/A_ref.tif", "absolute.tif"],
        ],
    )
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    result = invoke(manifest, out, *FAST, "--log", log)
    assert result.exit_code == 0, result.output
    assert read_log(log)[0]["lr"] == f"/vsizip/{archive}/scenes/A_lr.tif"
    plain = tmp_path / "plain.tif"
    plain.write_bytes(sequential_run["outputs"]["A_lr_sr.tif"])
    with rasterio.open(plain) as ds:
        expected = ds.read()
    for name in ("relative.tif", "absolute.tif"):
        assert_valid_cog(out / name)
        with rasterio.open(out / name) as ds:
            np.testing.assert_array_equal(ds.read(), expected)


def test_pairing_rule_and_trust_maps(scenes, tmp_path, monkeypatch):
    monkeypatch.chdir(scenes["root"])
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    rule = "*_lr.tif => {1}_ref.tif => {1}/{1}.tif"
    args = (rule, out, "--method", "hpf", "--trust-map", "{stem}_trust.tif", "--log", log)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    for name in ("A/A.tif", "A/A_trust.tif", "B/B.tif", "B/B_trust.tif"):
        assert_valid_cog(out / name)
    os.remove(out / "B" / "B_trust.tif")
    assert invoke(*args).exit_code == 0
    assert [r["status"] for r in read_log(log)] == ["skipped", "done"]  # B lacked its trust map


def test_manifest_from_stdin(scenes, tmp_path):
    text = f"lr,ref\n{scenes['A_lr']},{scenes['A_ref']}\n"
    result = invoke("-", tmp_path / "out", *FAST, "-q", input=text)
    assert result.exit_code == 0, result.output
    assert_valid_cog(tmp_path / "out" / "A_lr_sr.tif")


@pytest.mark.parametrize(
    ("manifest_text", "extra", "message"),
    [
        ("lr;ref\na;b\n", (), "unknown column 'lr;ref'"),
        ("lr,ref\na.tif,b.tif\na.tif,c.tif\n", (), "both write"),
        ("lr,ref\na.tif,b.tif\n", ("--extent", "1,2,3"), "--extent needs four numbers"),
        ("lr,ref\na.tif,b.tif\n", ("--batch-size", "0"), "--batch-size must be a positive integer"),
        ("lr,ref\na.tif,b.tif\n", ("--trust-map", "t.tif"), "template with {stem}"),
        (
            "lr,ref\na.tif,b.tif\n",
            ("--workers", "2", "--scheduler", "tcp://127.0.0.1:1"),
            "exclude each other",
        ),
        (None, (), "manifest not found"),
        ("x => y => z => w", (), "must read"),
    ],
)
def test_malformed_manifest_or_options_stop_before_any_work(tmp_path, manifest_text, extra, message):
    if manifest_text is None:
        manifest = str(tmp_path / "absent.csv")
    elif "=>" in manifest_text:
        manifest = manifest_text
    else:
        manifest = tmp_path / "m.csv"
        manifest.write_text(manifest_text)
    result = invoke(manifest, tmp_path / "out", *FAST, *extra)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_workers_give_byte_identical_outputs(sequential_run, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    result = invoke(sequential_run["manifest"], out, *FAST, "--workers", "2", "--log", log)
    assert result.exit_code == 0, result.output
    for name, data in sequential_run["outputs"].items():
        assert (out / name).read_bytes() == data, name
    assert sorted(r["status"] for r in read_log(log)) == ["done", "done"]
