# The first measurement of the LR sharpness (exp28 rule: the ramp ends were set from its output,
# lr_sharpness_reverse_x8.txt). Whole-image statistics, no valid-support erosion, no harmonisation;
# the shipped measure is dsdit_geo/lr_sharpness.py. Run from the repository root: python docs/models/evidence/exp28/first_measure.py 8
import sys, numpy as np
sys.path.insert(0, "benchmarks")
from choose_guidance import reverse_dev_cases
from dsdit_geo.evaluation.cases import read_case
from dsdit_geo.evaluation.prepare import make_lr, crop_to_multiple
from scipy.ndimage import gaussian_filter
scale = int(sys.argv[1])
cases = reverse_dev_cases()
def o(x):
    g1 = gaussian_filter(x, 0.7); g2 = gaussian_filter(x, 1.4)
    return (x - g1).std() / (g1 - g2).std()
def lum(a): return a.astype(np.float32).mean(0)
res = {k: [] for k in ("bicubic_aa", "gauss_area", "s2_mtf")}
for c in cases:
    im = read_case(c)
    gt = crop_to_multiple(im.gt, scale); ref = crop_to_multiple(im.ref, scale)
    h, w = gt.shape[1:]
    refd = lum(ref).reshape(h//scale, scale, w//scale, scale).mean((1, 3))
    for k in res:
        res[k].append(o(lum(make_lr(gt, scale, k))) / o(refd))
for k, v in res.items():
    v = np.array(v); print(scale, k, np.round(np.sort(v), 3), "median", np.median(v).round(3))
