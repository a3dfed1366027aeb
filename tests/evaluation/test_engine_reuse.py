"""`evaluate_cases` builds one Engine per method spec: the model loads once over cases and
scales, and a `fusion` model still gets the halo of each run's scale."""

from __future__ import annotations

import math

import dsdit_geo.weights as weights_module
from dsdit_geo.evaluation import cases_from_path, evaluate_cases
from dsdit_geo.upscalers.dsdit import DSDiTUpscaler


def test_one_load_per_method_over_cases_and_scales(cases_dir, tmp_path, monkeypatch):
    from dsdit_geo.model.presets import build_model

    build_model("tiny", seed=0, prediction="fusion").save_pretrained(str(tmp_path / "fusion"))
    loads, halos = [], set()
    real_load, real_init = weights_module.load_model, DSDiTUpscaler.__init__

    def init(self, model, **kwargs):
        real_init(self, model, **kwargs)
        halos.add((kwargs.get("scale"), self.context_px))

    monkeypatch.setattr(weights_module, "load_model", lambda folder: loads.append(folder) or real_load(folder))
    monkeypatch.setattr(DSDiTUpscaler, "__init__", init)
    methods = f"dsdit:weights={tmp_path / 'fusion'};steps=1,dsdit:weights={tmp_path / 'fusion'};steps=2"
    res = evaluate_cases(cases_from_path(cases_dir)[:2], [4, 8], methods, perceptual=False, device="cpu")
    assert len(res.rows) == 2 * 2 * 2 and all(math.isfinite(r.psnr) for r in res.rows)
    assert len(loads) == 1  # not one per (case, scale), and methods share a model folder's load
    by_scale = dict(halos)
    assert set(by_scale) == {4.0, 8.0} and by_scale[4.0] < by_scale[8.0]
