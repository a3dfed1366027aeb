"""CSV manifests and path rules: resolution, default names, GDAL paths, one-line errors."""

from __future__ import annotations

import io
import os

import pytest

from dsdit_geo.batch.manifest import load_manifest, read_csv, with_trust_maps
from dsdit_geo.batch.paths import input_stem, resolve_input, resolve_output
from dsdit_geo.errors import ManifestError


def test_csv_paths_resolve_against_its_folder(tmp_path):
    folder = tmp_path / "lists"
    folder.mkdir()
    manifest = folder / "m.csv"
    manifest.write_text(
        "# scenes of 2021\n"
        "LR , Ref,out\n"
        "\n"
        "s2/a.tif,naip/a.tif,\n"
        "/abs/b.tif,/vsicurl/https://example.invalid/b.tif,2021/b_out.tif\n"
        "/vsizip/zips/c.zip/c.tif,/vsizip//data/n.zip/c.tif\n"
    )
    items = load_manifest(str(manifest), str(tmp_path / "out"))
    assert [item.index for item in items] == [0, 1, 2]
    a, b, c = items
    assert a.lr == str(folder / "s2" / "a.tif") and a.ref == str(folder / "naip" / "a.tif")
    assert a.out == str(tmp_path / "out" / "a_sr.tif")
    assert a.where.endswith("line 4")
    assert b.lr == "/abs/b.tif"
    assert b.ref == "/vsicurl/https://example.invalid/b.tif"  # accepted as is, never checked here
    assert b.out == str(tmp_path / "out" / "2021" / "b_out.tif")
    assert c.lr == f"/vsizip/{folder}/zips/c.zip/c.tif"  # the archive resolves like a local path
    assert c.ref == "/vsizip//data/n.zip/c.tif"
    assert c.out == str(tmp_path / "out" / "c_sr.tif")


def test_csv_from_stdin_uses_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("ref,lr\nr.tif,l.tif\n"))
    (item,) = load_manifest("-", "out")
    assert (item.lr, item.ref) == (str(tmp_path / "l.tif"), str(tmp_path / "r.tif"))
    assert item.out == str(tmp_path / "out" / "l_sr.tif")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("lr,ref\n", "lists no pairs"),
        ("lr,reference\na,b\n", "unknown column 'reference'"),
        ("lr,out\na,b\n", "no 'ref' column"),
        ("lr,ref,lr\na,b,c\n", "appears twice"),
        ("lr,ref\na,b,c\n", "3 fields but the header names 2"),
        ("lr,ref\na,\n", "the 'ref' cell is empty"),
        ("lr,ref\na.tif,b.tif\nsub/a.tif,c.tif\n", "both write"),
        ("lr,ref,out\na,b,x.tif\nc,d,./x.tif\n", "both write"),
        ("lr,ref,out\na,b,/tmp/x.tif\n", "must be a path relative to OUTDIR"),
        ("lr,ref,out\na,b,../x.tif\n", "leaves OUTDIR"),
        ("lr,ref,out\na,b,.x.tif\n", "hidden name"),
        ('lr,ref\n"a,b\n', "malformed CSV"),
    ],
)
def test_malformed_csv_is_one_line_manifest_error(tmp_path, text, message):
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message) as info:
        load_manifest(str(path), str(tmp_path / "out"))
    assert "\n" not in info.value.message


def test_unreadable_manifests(tmp_path):
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(str(tmp_path / "nope.csv"), str(tmp_path))
    with pytest.raises(ManifestError, match="is a folder"):
        load_manifest(str(tmp_path), str(tmp_path))
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81lr")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(str(binary), str(tmp_path))


def test_csv_line_numbers_in_errors(tmp_path):
    with pytest.raises(ManifestError, match=r"m\.csv line 3: the 'lr' cell is empty"):
        read_csv("lr,ref\na,b\n,c\n", str(tmp_path), str(tmp_path), "m.csv")


def test_input_stem_and_resolution():
    assert input_stem("/vsicurl/https://h/a/T11_S2.tif?sig=1&x=2") == "T11_S2"
    assert input_stem("/data/x.tif.gz") == "x"
    assert input_stem("/vsizip/{/d/a.zip}/in/sc.TIFF") == "sc"
    assert input_stem('NETCDF:"f.nc":var') == "NETCDF_f.nc_var"
    assert input_stem("/") == "scene"
    assert resolve_input("s3://bucket/a.tif", "/base") == "s3://bucket/a.tif"
    assert resolve_input("/vsis3/bucket/a.tif", "/base") == "/vsis3/bucket/a.tif"
    assert resolve_input("/vsizip/{rel/a.zip}/x.tif", "/base") == "/vsizip/{/base/rel/a.zip}/x.tif"
    assert (
        resolve_input("/vsizip//vsicurl/http://h/a.zip/x.tif", "/b")
        == "/vsizip//vsicurl/http://h/a.zip/x.tif"
    )
    assert resolve_input(" rel/a.tif ", "/base") == "/base/rel/a.tif"
    assert resolve_input("~/a.tif", "/base") == os.path.expanduser("~/a.tif")
    assert resolve_output("a/b.tif", "/out", "x") == "/out/a/b.tif"


def test_trust_map_template(tmp_path):
    items = read_csv("lr,ref,out\na.tif,b.tif,s/x.tif\nc.tif,d.tif,\n", str(tmp_path), "/out", "m")
    first, second = with_trust_maps(items, "{stem}_trust.tif")
    assert first.trust_map == "/out/s/x_trust.tif" and second.trust_map == "/out/c_sr_trust.tif"
    with pytest.raises(ManifestError, match=r"\{stem\}"):
        with_trust_maps(items, "trust.tif")
    clash = read_csv("lr,ref,out\na.tif,b.tif,x.tif\nc.tif,d.tif,x_t.tif\n", str(tmp_path), "/out", "m")
    with pytest.raises(ManifestError, match="both write"):
        with_trust_maps(clash, "{stem}_t.tif")
