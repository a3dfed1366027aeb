"""Scratch: trust-gated Ref high-pass injection on top of dsdit, reverse dev pairs."""
import sys, json, os
sys.path.insert(0, "benchmarks")
import torch
from dsdit_geo.upscalers import dsdit as D
from dsdit_geo.upscalers.classical import gaussian_blur, gaussian_kernel
from dsdit_geo.upscalers.base import TileResult
from dsdit_geo.evaluation.runner import evaluate_cases
from choose_guidance import reverse_dev_cases

G = float(os.environ.get("G", "0")); MODE = os.environ.get("MODE", "replace")
orig = D.DSDiTUpscaler.upscale
def patched(self, batch):
    res = orig(self, batch)
    if G == 0: return res
    k = gaussian_kernel(float(os.environ.get("SIG", "0.5")) * batch.scale)
    ref = batch.ref_hr
    hp_ref = ref - gaussian_blur(ref, k)
    hr = res.hr
    a = res.trust
    if MODE == "replace":
        hp_hr = hr - gaussian_blur(hr, k)
        hr = hr + G * a * (hp_ref - hp_hr)
    elif MODE == "replace2":
        hp_hr = hr - gaussian_blur(hr, k)
        hr = hr + G * a * a * (hp_ref - hp_hr)
    elif MODE == "add":
        hr = hr + G * a * hp_ref
    elif MODE == "addflat":
        hr = hr + G * hp_ref
    return TileResult(hr=hr, trust=res.trust)
D.DSDiTUpscaler.upscale = patched
scales = [int(s) for s in os.environ.get("SCALES", "8").split(",")]
degs = os.environ.get("DEGS", "bicubic_aa").split(",")
cases = reverse_dev_cases(None)
r = evaluate_cases(cases, scales, ["bicubic", "dsdit"], perceptual=True, dists=False, degradations=degs)
for a in r.aggregates:
    print(f"G={G} {MODE} sig={os.environ.get('SIG','0.5')} x{a.scale} {a.degradation} {a.method} PSNR {a.psnr:.3f} LPIPS {a.lpips:.4f} trust {a.trust.mean}", flush=True)
