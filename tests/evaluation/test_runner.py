"""`evaluate_cases` end to end through the real pipeline, on tiny synthetic cases."""

import math

import pytest

from dsdit_geo.errors import ModelError, OptionError
from dsdit_geo.evaluation import cases_from_path, evaluate_cases
from dsdit_geo.evaluation import runner as runner_module
from dsdit_geo.metrics import perceptual_weights_available


@pytest.fixture(scope="module")
def result(cases_dir):
    return evaluate_cases(cases_from_path(cases_dir), [4], "bicubic,hpf", perceptual=False)


def test_rows_and_trust(result):
    assert [(r.case_id, r.scale, r.method) for r in result.rows] == [
        ("user/a", 4, "bicubic"), ("user/a", 4, "hpf"), ("user/b", 4, "bicubic"), ("user/b", 4, "hpf")]
    for r in result.rows:
        assert (r.width, r.height) == (96, 96) and r.seconds > 0 and r.lpips is None
        assert 10 < r.psnr < 60 and 0 < r.ssim < 1
    hpf = result.get("hpf", 4)
    bicubic = result.get("bicubic", 4)
    # the Ref equals the GT outside the pasted patch: hpf trusts it there, not on the patch
    assert hpf.n_labelled == 2 and bicubic.n_labelled == 0 and bicubic.trust.changed_mean is None
    assert hpf.trust.changed_px == 2 * 40 * 40 and hpf.trust.unchanged_px == 2 * (96 * 96 - 40 * 40)
    assert hpf.trust.changed_mean < 0.2 < 0.5 < hpf.trust.unchanged_mean
    assert hpf.psnr > bicubic.psnr + 1


def test_reproducible(cases_dir, result):
    again = evaluate_cases(cases_from_path(cases_dir)[:1], "4", ["hpf"], perceptual=False)
    first = next(r for r in result.rows if r.case_id == "user/a" and r.method == "hpf")
    assert (again.rows[0].psnr, again.rows[0].ssim) == (first.psnr, first.ssim)
    assert again.rows[0].trust == first.trust


def test_constant_image_is_exact(constant_dir):
    res = evaluate_cases(cases_from_path(constant_dir), [4, 8], "bicubic", perceptual=False)
    assert all(math.isinf(r.psnr) and r.ssim == pytest.approx(1.0) for r in res.rows)
    assert res.to_dict()["aggregates"][0]["psnr"] == "inf"


def test_workdir_kept_or_removed(constant_dir, tmp_path):
    cases = cases_from_path(constant_dir)
    kept = tmp_path / "kept"
    res = evaluate_cases(cases, [4], "bicubic,hpf", perceptual=False, workdir=kept, keep=True)
    names = sorted(p.name for p in (kept / "000_user_flat" / "x4").iterdir())
    # every case of a trust-providing method gets a trust map (its mean over all pixels)
    assert names == ["gt.tif", "lr.tif", "out_bicubic.tif", "out_hpf.tif", "ref.tif", "trust_hpf.tif"]
    assert res.get("hpf", 4).trust.mean is not None and res.get("bicubic", 4).trust.mean is None
    assert res.config["workdir"] == str(kept)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "mine.txt").write_text("x")
    evaluate_cases(cases, [4], "bicubic", perceptual=False, workdir=scratch)
    assert [p.name for p in scratch.iterdir()] == ["mine.txt"]


def test_checks_before_any_work(constant_dir, monkeypatch, tmp_path):
    cases = cases_from_path(constant_dir)
    with pytest.raises(OptionError, match="--steps"):
        evaluate_cases(cases, [4], "hpf:steps=0", perceptual=False, workdir=tmp_path / "w")
    monkeypatch.setattr(runner_module, "perceptual_weights_available", lambda: False)
    with pytest.raises(ModelError, match="--no-perceptual"):
        evaluate_cases(cases, [4], "bicubic", perceptual=True, workdir=tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_pipeline_errors_name_the_case(constant_dir):
    with pytest.raises(OptionError, match=r"^user/flat x4 hpf\(tile=16,overlap=16\): --overlap-px"):
        evaluate_cases(cases_from_path(constant_dir), [4], "hpf:tile_px=16;overlap_px=16", perceptual=False)


@pytest.mark.skipif(not perceptual_weights_available(), reason="perceptual metric weights not installed")
def test_perceptual_metrics(cases_dir):
    res = evaluate_cases(cases_from_path(cases_dir)[:1], [4], "bicubic,hpf", perceptual=True)
    bicubic, hpf = res.get("bicubic", 4), res.get("hpf", 4)
    assert 0 < hpf.lpips < bicubic.lpips < 1 and 0 < hpf.dists < bicubic.dists < 1


def test_bicubic_output_is_the_lr_on_the_gt_grid(cases_dir, tmp_path):
    """The pipeline's bicubic output equals GDAL cubic of lr.tif on the GT grid (to 1 DN of
    rounding): LR, Ref and output grids line up exactly with the GT."""
    import numpy as np
    import rasterio

    from dsdit_geo.train.degrade import lr_on_hr_grid

    evaluate_cases(cases_from_path(cases_dir)[:1], [8], "bicubic", perceptual=False, workdir=tmp_path, keep=True)
    folder = tmp_path / "000_user_a" / "x8"
    with rasterio.open(folder / "out_bicubic.tif") as out, rasterio.open(folder / "lr.tif") as lr:
        pred, low = out.read().astype(np.float64), lr.read().astype(np.float32) / 255
    expected = np.rint(np.clip(lr_on_hr_grid(low, 8.0, pred.shape[1:]), 0, 1) * 255)
    assert np.abs(pred - expected).max() <= 1 and np.abs(pred - expected).mean() < 0.05


def test_dsdit_with_overrides(cases_dir, tmp_path):
    """dsdit runs through the evaluation with a tiny random model given by a `weights=` override;
    its trust map is pooled like hpf's (a fresh PLW gate gives 0.5 everywhere)."""
    from dsdit_geo.model.presets import build_model

    build_model("tiny", seed=0).save_pretrained(str(tmp_path / "tiny"))
    methods = f"dsdit:weights={tmp_path / 'tiny'};steps=1;guidance=1.5"
    res = evaluate_cases(cases_from_path(cases_dir)[:1], [4], methods, perceptual=False)
    (row,) = res.rows
    assert row.method == "dsdit(weights=tiny,steps=1,w=1.5)" and math.isfinite(row.psnr)
    assert row.trust.changed_px == 40 * 40
    assert row.trust.changed_mean == pytest.approx(0.5, abs=1e-3)
    assert row.trust.unchanged_mean == pytest.approx(0.5, abs=1e-3)
