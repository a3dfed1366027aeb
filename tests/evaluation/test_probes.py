"""The Ref-use probes of `evaluate`: --ref-mode real|gt|unrelated|flat, --degradation, and the
naive `transfer` baseline, through the real pipeline on tiny synthetic cases."""

from __future__ import annotations

import numpy as np
import pytest

from dsdit_geo.errors import OptionError
from dsdit_geo.evaluation import cases_from_path, evaluate_cases
from dsdit_geo.evaluation.cases import CaseImages, fit_to_shape, unrelated_case, with_ref_mode
from dsdit_geo.evaluation.runner import parse_probes


@pytest.fixture(scope="module")
def probes(cases_dir):
    return evaluate_cases(cases_from_path(cases_dir), [4], "bicubic,hpf,transfer", perceptual=False,
                          degradations="gauss_area,bicubic_aa,s2_mtf", ref_modes="real,gt,unrelated,flat")


def test_every_combination_is_run_and_reported(probes):
    combos = {(r.method, r.degradation, r.ref_mode) for r in probes.rows}
    assert len(combos) == 3 * 3 * 4 and len(probes.rows) == 2 * 3 * 3 * 4
    assert len(probes.aggregates) == 3 * 3 * 4
    table = probes.table()
    assert "bicubic_aa" in table and "unrelated" in table and "transfer" in table
    data = probes.to_dict()
    assert data["config"]["ref_modes"] == ["real", "gt", "unrelated", "flat"]
    assert {a["degradation"] for a in data["aggregates"]} == {"gauss_area", "bicubic_aa", "s2_mtf"}


@pytest.mark.parametrize("kernel", ["gauss_area", "bicubic_aa", "s2_mtf"])
def test_probes_separate_methods_that_use_the_ref(probes, kernel):
    def get(method, mode):
        return probes.get(method, 4, kernel, mode)

    # bicubic never looks at the Ref
    assert len({round(get("bicubic", m).psnr, 6) for m in ("real", "gt", "unrelated", "flat")}) == 1
    # a perfect Ref lifts the Ref-based methods far above bicubic
    assert get("hpf", "gt").psnr > get("bicubic", "gt").psnr + 4
    assert get("transfer", "gt").psnr > get("bicubic", "gt").psnr + 4
    # a flat Ref carries no detail: transfer and hpf fall back to bicubic
    assert get("transfer", "flat").psnr == pytest.approx(get("bicubic", "flat").psnr, abs=0.05)
    # an unrelated Ref: naive transfer is hurt, gated hpf is not
    assert get("transfer", "unrelated").psnr < get("bicubic", "unrelated").psnr - 1
    assert get("hpf", "unrelated").psnr > get("bicubic", "unrelated").psnr - 0.3
    # the trust map follows the Ref's content
    assert get("hpf", "gt").trust.mean > 0.5 > 0.2 > get("hpf", "unrelated").trust.mean


def test_ref_modes_replace_the_ref_as_stated(cases_dir):  # noqa: D103
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 255, (3, 20, 30), dtype=np.uint8)
    images = CaseImages(gt=gt, ref=gt[:, ::-1].copy(), gt_valid=np.ones((20, 30), bool),
                        ref_valid=np.ones((20, 30), bool))
    other = CaseImages(gt=gt[:, :8, :8], ref=gt[:, :8, :8] // 2, gt_valid=np.ones((8, 8), bool),
                       ref_valid=np.ones((8, 8), bool))
    assert with_ref_mode(images, "real") is images
    assert np.array_equal(with_ref_mode(images, "gt").ref, gt)
    assert (with_ref_mode(images, "flat").ref == 128).all()
    unrelated = with_ref_mode(images, "unrelated", other)
    assert unrelated.ref.shape == gt.shape and np.array_equal(unrelated.ref[:, :8, :8], other.ref)
    assert fit_to_shape(other.ref, (20, 30)).shape == (3, 20, 30)
    cases = cases_from_path(cases_dir)
    assert unrelated_case(cases, 0).scene_id != cases[0].scene_id


def test_bad_probe_names_are_one_line_errors():
    assert parse_probes("gauss_area, s2_mtf", "gt,flat,gt") == (["gauss_area", "s2_mtf"], ["gt", "flat"])
    with pytest.raises(OptionError, match="unknown --degradation 'box'"):
        parse_probes("box", "real")
    with pytest.raises(OptionError, match="unknown --ref-mode 'perfect'"):
        parse_probes("gauss_area", "perfect")
    with pytest.raises(OptionError, match="--ref-mode is empty"):
        parse_probes("gauss_area", "")
