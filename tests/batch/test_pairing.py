"""Pairing rules 'LR_GLOB => REF_TEMPLATE [=> OUT_TEMPLATE]'."""

from __future__ import annotations

import pytest

from dsdit_geo.batch.manifest import load_manifest
from dsdit_geo.batch.pairing import glob_regex, parse_rule
from dsdit_geo.errors import ManifestError


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """scenes/{T11,T12,T13}_S2.tif, naip/{T11,T12}_NAIP.tif, naip/T13_a.tif + T13_b.tif."""
    monkeypatch.chdir(tmp_path)
    for rel in (
        "scenes/T11_S2.tif",
        "scenes/T12_S2.tif",
        "scenes/deep/er/T13_S2.tif",
        "scenes/.hidden_S2.tif",
        "naip/T11_NAIP.tif",
        "naip/T12_NAIP.tif",
        "naip/T13_a.tif",
        "naip/T13_b.tif",
    ):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    return tmp_path


def test_rule_with_captures_and_out_template(tree):
    items = load_manifest("scenes/*_S2.tif => naip/{1}_NAIP.tif => {1}/{stem}_x.tif", "out")
    assert [(i.lr, i.ref, i.out) for i in items] == [
        (f"{tree}/scenes/T11_S2.tif", f"{tree}/naip/T11_NAIP.tif", f"{tree}/out/T11/T11_S2_x.tif"),
        (f"{tree}/scenes/T12_S2.tif", f"{tree}/naip/T12_NAIP.tif", f"{tree}/out/T12/T12_S2_x.tif"),
    ]
    assert all(item.problem is None for item in items)


def test_recursive_glob_default_out_and_ref_globs(tree):
    items = load_manifest("scenes/**/*_S2.tif=>naip/{2}_*.tif", "out")
    by_name = {item.out.rsplit("/", 1)[-1]: item for item in items}
    assert sorted(by_name) == ["T11_S2_sr.tif", "T12_S2_sr.tif", "T13_S2_sr.tif"]
    assert by_name["T11_S2_sr.tif"].ref == f"{tree}/naip/T11_NAIP.tif"  # the glob matched one file
    assert by_name["T13_S2_sr.tif"].problem.startswith("2 Ref files match naip/T13_*.tif")
    missing = load_manifest("scenes/*_S2.tif => naip/{1}_none*.tif", "out")
    assert all(item.problem.startswith("no Ref file matches") for item in missing)


def test_gdal_ref_template_is_not_checked(tree):
    items = load_manifest("scenes/*.tif => /vsicurl/https://example.invalid/{stem}.tif", "out")
    assert items[0].ref == "/vsicurl/https://example.invalid/T11_S2.tif" and items[0].problem is None
    items = load_manifest("scenes/T1?_S2.tif => /vsizip/naip.zip/{name}", "out")
    assert items[1].ref == f"/vsizip/{tree}/naip.zip/T12_S2.tif"


def test_literal_braces(tree):
    (item, _) = load_manifest("scenes/*_S2.tif => naip/{1}_NAIP.tif => {{{1}}}.tif", "out")
    assert item.out.endswith("/out/{T11}.tif")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("scenes/*.tif =>", "must read 'LR_GLOB => REF_TEMPLATE"),
        ("a => b => c => d", "must read"),
        ("scenes/*.tif => naip/{2}.tif", r"uses \{2\}.*which has 1"),
        ("scenes/*.tif => naip/{date}.tif", r"uses \{date\}"),
        ("scenes/*.tif => naip/{1.tif", "unpaired brace"),
        ("scenes/*.tif => naip/{1}.tif => /abs/{1}.tif", "relative to OUTDIR"),
        ("scenes/*.tif => naip/a.tif => same.tif", "both write"),
        ("nothing/*.tif => naip/{1}.tif", "matches no file"),
        ("/vsizip/a.zip/*.tif => naip/{stem}.tif", "must be a local glob"),
        ("scenes/*.tif => /vsicurl/https://h/{1}*.tif", "wildcards, which only work for local files"),
    ],
)
def test_bad_rules(tree, rule, message):
    with pytest.raises(ManifestError, match=message) as info:
        load_manifest(rule, "out")
    assert "\n" not in info.value.message


def test_glob_regex_groups():
    regex, n = glob_regex("a/**/x_*_[0-9]?.tif")
    assert n == 3
    assert regex.match("a/b/c/x_T1_5z.tif").groups() == ("b/c", "T1", "z")
    assert regex.match("a/x_T1_5z.tif").groups() == (None, "T1", "z")
    assert regex.match("a/x_T1_az.tif") is None
    regex, n = glob_regex("s/[!a]*.tif")
    assert n == 1 and regex.match("s/b1.tif") and not regex.match("s/a1.tif")


def test_parse_rule_counts_captures():
    rule = parse_rule(" s/*_S2_*.tif  =>  n/{1}.tif ")
    assert (rule.lr_glob, rule.ref_template, rule.out_template, rule.captures) == (
        "s/*_S2_*.tif",
        "n/{1}.tif",
        "{stem}_sr.tif",
        2,
    )
