"""Case lists (folders, CSVs, filters) and the GeoTIFFs written per scale."""

import numpy as np
import pytest
import rasterio
from affine import Affine

from dsdit_geo.errors import InputError, OptionError
from dsdit_geo.evaluation.cases import cases_from_path, fit_label, read_case, read_cases_csv, select_cases
from dsdit_geo.evaluation.prepare import (
    EVAL_CRS,
    check_default_grid,
    crop_to_multiple,
    make_lr,
    prepare_case,
    write_rgb,
)


def test_folder_cases(cases_dir):
    cases = cases_from_path(cases_dir)
    assert [c.case_id for c in cases] == ["user/a", "user/b"]
    assert cases[0].label_path == cases_dir / "label" / "a.png" and cases[0].dataset == "user"


def test_csv_cases(cases_dir, tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text(f"{cases_dir}/gt/a.png,{cases_dir}/ref/a.png,{cases_dir}/label/a.png\n"
                     f"{cases_dir}/gt/b.png,{cases_dir}/ref/b.png\n")
    a, b = read_cases_csv(plain)
    assert a.label_path.name == "a.png" and b.label_path is None
    training = tmp_path / "training.csv"  # gt,ref,scene,change
    training.write_text(f"{cases_dir}/gt/a.png,{cases_dir}/ref/a.png,scene1,{cases_dir}/label/a.png\n")
    assert read_cases_csv(training)[0].label_path.name == "a.png"
    named = tmp_path / "named.csv"
    named.write_text(f"gt,ref,change,id,dataset\n{cases_dir}/gt/b.png,{cases_dir}/ref/b.png,,b1,mine\n")
    (case,) = cases_from_path(named)
    assert (case.case_id, case.dataset, case.label_path) == ("b1", "mine", None)


def test_bad_case_sources(cases_dir, tmp_path):
    with pytest.raises(InputError, match="cases not found"):
        cases_from_path(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no cases"):
        cases_from_path(tmp_path / "empty")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{cases_dir}/gt/a.png,{cases_dir}/ref/missing.png\n")
    with pytest.raises(InputError, match="file not found"):
        cases_from_path(bad)
    with pytest.raises(InputError, match="folder or a .csv"):
        cases_from_path(cases_dir / "gt" / "a.png")


def test_select_cases(cases_dir):
    cases = cases_from_path(cases_dir)
    assert [c.case_id for c in select_cases(cases, ["user"], 1)] == ["user/a"]
    with pytest.raises(OptionError, match="levircd has no cases here"):
        select_cases(cases, ["levircd"])
    with pytest.raises(OptionError, match="--limit"):
        select_cases(cases, None, 0)


def test_fit_label():
    label, known = fit_label(np.ones((3, 5), bool), (4, 4))
    assert label.sum() == 12 and known[:3].all() and not known[3].any()


def test_crop_and_lr():
    gt = np.full((3, 98, 101), 77, np.uint8)
    cropped = crop_to_multiple(gt, 8)
    assert cropped.shape == (3, 96, 96)
    lr = make_lr(cropped, 8)
    assert lr.shape == (3, 12, 12) and lr.dtype == np.uint8 and (lr == 77).all()


def test_prepared_case_is_on_the_gt_grid(cases_dir, tmp_path):
    images = read_case(cases_from_path(cases_dir)[0])
    prepared = prepare_case(images, 8, tmp_path / "x8")
    check_default_grid(prepared)
    with rasterio.open(prepared.gt_path) as gt, rasterio.open(prepared.lr_path) as lr, \
            rasterio.open(prepared.ref_path) as ref:
        assert gt.crs == lr.crs == ref.crs == rasterio.crs.CRS.from_user_input(EVAL_CRS)
        assert (gt.width, lr.width, ref.width) == (96, 12, 96) and lr.transform.a == 8.0
        assert gt.transform == ref.transform and (gt.transform.c, gt.transform.f) == (lr.transform.c, lr.transform.f)
        assert (gt.read() == images.gt[:, :96, :96]).all()
    assert prepared.label.shape == (96, 96) and prepared.label.any() and prepared.metric_mask is None
    # an LR that does not cover the GT exactly is caught before any method runs
    write_rgb(prepared.lr_path, make_lr(prepared.gt, 8)[:, :11], Affine(8, 0, 500_000, 0, -8, 5_000_000))
    with pytest.raises(RuntimeError, match="grid mismatch"):
        check_default_grid(prepared)
