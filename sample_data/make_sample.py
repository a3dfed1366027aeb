#!/usr/bin/env python
"""Generate dsdit-geo's synthetic sample: an S2-like LR, a NAIP-like Ref and the HR truth.

    python sample_data/make_sample.py [--seed 0] [--out-dir sample_data] [--size-m 480]

Everything is procedural (numpy's seeded Generator for every random draw, scipy.ndimage for
filters); no real imagery is used. A rural/suburban scene is rendered twice at 1 m as surface
reflectance: date 1 (the Ref's date, early summer) and date 2 (the LR's date, autumn, with
land-cover change). Writes lr.tif, ref.tif, hr_truth.tif and change_mask.tif; the same seed gives
byte-identical files. See README.md beside this script.
"""

from __future__ import annotations

import argparse
from collections import namedtuple
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp as CI
from scipy import ndimage as ndi

GENERATOR = "sample_data/make_sample.py"
LR_X0, LR_Y0 = 300_000, 3_930_000  # LR top-left corner, UTM 11N (placed near 35.49N 119.20W)
LR_PX = 10  # LR pixel size, metres (the HR grid is 1 m)
REF_MORE_W, REF_MORE_N, REF_LESS_E, REF_LESS_S = 37, 23, 28, 46  # Ref extent vs the LR's, metres
MARGIN = 32  # canvas margin beyond both extents: room for the sensor blur and cast shadows
DATES = {1: "2020-06-18", 2: "2023-10-07"}
SUN = {1: (105.0, 55.0), 2: (155.0, 43.0)}  # sun azimuth (deg clockwise from north), elevation
GREEN = {1: 1.0, 2: 0.6}  # crop greenness: lush early summer vs. senescent autumn
SKY = np.array([0.22, 0.25, 0.32, 0.14])  # diffuse (skylight) share of illumination per band
S2_OFFSET, S2_QUANT = 1000, 10000  # S2 L2A: DN = reflectance * 10000 + 1000
S2_PSF_SIGMA_M, S2_NOISE = 4.0, 0.002  # sensor blur (Gaussian sigma, metres), noise (reflectance)
NAIP_GAIN = np.array([700.0, 740.0, 780.0, 470.0])  # Ref radiometry: DN = offset + gain * refl
NAIP_OFFSET = np.array([18.0, 22.0, 28.0, 10.0])

MAT = {k: np.array(v) for k, v in {  # surface reflectance, bands R, G, B, NIR
    "soil": (0.24, 0.19, 0.14, 0.29), "wet_soil": (0.13, 0.10, 0.075, 0.17),
    "veg": (0.035, 0.085, 0.03, 0.47), "dry_veg": (0.22, 0.19, 0.12, 0.29),
    "wheat": (0.27, 0.22, 0.12, 0.33), "canopy": (0.03, 0.06, 0.028, 0.37),
    "autumn": (0.09, 0.08, 0.03, 0.30), "water": (0.022, 0.038, 0.045, 0.012),
    "mud": (0.10, 0.085, 0.07, 0.12), "asphalt": (0.085, 0.085, 0.08, 0.10),
    "new_asphalt": (0.045, 0.045, 0.045, 0.055), "track": (0.27, 0.23, 0.18, 0.30),
    "concrete": (0.31, 0.30, 0.28, 0.33), "white": (0.55, 0.55, 0.53, 0.55),
    "yellow": (0.45, 0.38, 0.10, 0.45), "pool": (0.10, 0.27, 0.36, 0.04),
    "metal": (0.42, 0.43, 0.43, 0.44),
}.items()}
ROOFS = [(0.27, 0.12, 0.08, 0.30), (0.13, 0.13, 0.135, 0.16), (0.10, 0.075, 0.06, 0.14),
         (0.34, 0.33, 0.31, 0.37), (0.21, 0.16, 0.12, 0.25), (0.12, 0.15, 0.18, 0.18)]
CLASSES = ["fallow", "track", "green", "rows", "wheat", "ploughed", "orchard", "bare", "lawn",
           "construction", "road", "paved", "water", "mud", "roof", "pool", "tree"]
CLS = {name: i for i, name in enumerate(CLASSES)}


# A rectangle (canvas rows r0:r1, cols c0:c1) painted as `kind` on `dates`; a tree crown.
Item = namedtuple("Item", "r0 r1 c0 c1 kind dates opt", defaults=((1, 2), None))
Tree = namedtuple("Tree", "r c radius height tint dates", defaults=((1, 2),))


# ----------------------------------------------------------------------------- textures

def fractal(rng, shape, sigmas):
    """Zero-mean, unit-std noise: equal mix of white noise blurred at each of `sigmas` pixels."""
    out = np.zeros(shape)
    for s in sigmas:
        n = ndi.gaussian_filter(rng.standard_normal(shape), s, mode="wrap")
        out += n / n.std()
    return out / out.std()


def make_textures(rng, shape):
    return {"fine": fractal(rng, shape, (0.5, 1.0)), "mid": fractal(rng, shape, (2.0, 4.0)),
            "low": fractal(rng, shape, (10.0, 25.0)), "fine2": fractal(rng, shape, (0.5, 1.0))}


# ----------------------------------------------------------------------------- layout

def split_fields(rng, r0, r1, c0, c1, min_side, track=3):
    """Recursively cut a rectangle into fields separated by `track`-metre farm tracks."""
    h, w = r1 - r0, c1 - c0
    if max(h, w) < 2 * min_side + track:
        return [(r0, r1, c0, c1)]
    cut = int(rng.uniform(0.35, 0.65) * max(h, w))
    if h > w:
        parts = (r0, r0 + cut, c0, c1), (r0 + cut + track, r1, c0, c1)
    else:
        parts = (r0, r1, c0, c0 + cut), (r0, r1, c0 + cut + track, c1)
    return [f for part in parts for f in split_fields(rng, *part, min_side, track)]


def field_item(rng, box, kind1, kind2=None):
    orient = int(rng.integers(2))
    return Item(*box, kind=kind1, opt={"kind2": kind2 or kind1, "orient": orient,
                                       "tint": rng.uniform(0.93, 1.07, 4), "phase": rng.uniform(0, 9)})


def house_row(rng, r0, r1, c0, c1, street_side, dates=(1, 2), new=False):
    """Parcels along a street: lawn (or bare lot), house, driveway, maybe a pool and trees."""
    items, trees, c = [], [], c0
    while c + 18 <= c1:
        w = int(rng.integers(18, 24)) if not new else 18
        pc0, pc1 = c, min(c + w, c1)
        items.append(Item(r0, r1, pc0, pc1, "construction" if new else "lawn", dates))
        hw, hd = int(rng.integers(10, 15)), int(rng.integers(9, 13))
        hc0 = pc0 + int(rng.integers(2, max(3, w - hw - 4)))
        hr0 = r0 + 6 if street_side == "top" else r1 - 6 - hd
        if not (new and rng.random() < 0.25):  # a few new lots are still empty pads
            roof = ROOFS[int(rng.integers(3, 6))] if new else ROOFS[int(rng.integers(len(ROOFS)))]
            items.append(Item(hr0, hr0 + hd, hc0, hc0 + hw, "roof", dates,
                              {"rgbn": np.array(roof), "eave": 3.0, "ridge": rng.uniform(5, 6.5)}))
        dc0 = hc0 + hw - 4 if rng.random() < 0.5 else hc0
        dr0, dr1 = (r0, hr0) if street_side == "top" else (hr0 + hd, r1)
        items.append(Item(dr0, dr1, dc0, dc0 + 4, "paved", dates))
        if not new and rng.random() < 0.4:
            pr0 = hr0 + hd + 3 if street_side == "top" else r0 + 3
            items.append(Item(pr0, pr0 + 4, hc0 + 2, hc0 + 10, "pool", dates))
        for _ in range(0 if new else int(rng.integers(1, 4))):
            tr = rng.uniform(r0 + 2, r1 - 2)
            trees.append(Tree(tr, rng.uniform(pc0 + 2, pc1 - 2), rng.uniform(2.5, 4.5),
                              rng.uniform(6, 11), rng.uniform(0.85, 1.15), dates))
        c = pc1 + 1
    return items, trees


def orchard_trees(rng, box):
    return [Tree(r, c, rng.uniform(2.0, 2.6), rng.uniform(4.0, 5.5), rng.uniform(0.9, 1.1))
            for r in np.arange(box[0] + 3.5, box[1] - 3, 6.5)
            for c in np.arange(box[2] + 3.5, box[3] - 3, 5.5) if rng.random() > 0.04]


def plain_road(r0, r1, c0, c1, dates=(1, 2)):
    """Asphalt without markings: side streets, and junctions painted over the main roads' lines."""
    return Item(r0, r1, c0, c1, "road", dates, {"axis": 0})


def northwest(rng, g):
    """Fields (an orchard, wheat that is ploughed by date 2, ...), a windbreak partly cut by date 2."""
    items, trees = [], []
    nw = split_fields(rng, g["rcan"] + 6, g["rm"] - 6, 0, g["cm"] - 4, 60)
    kinds = ["orchard", "wheat"] + list(rng.permutation(["green", "rows", "fallow", "rows"]))
    for box, kind in zip(nw, kinds + list(rng.choice(["green", "rows", "fallow"], len(nw)))):
        kind = str(kind)
        items.append(field_item(rng, box, kind, "ploughed" if kind == "wheat" else None))
    items.append(field_item(rng, (0, g["rcan"] - 5, 0, g["cm"] - 4), "rows"))  # north of the canal
    trees += orchard_trees(rng, nw[0])
    for c in np.arange(0.05 * g["W"], 0.50 * g["W"], 6.0):
        trees.append(Tree(g["rm"] - 9 + rng.normal(0, 0.6), c, rng.uniform(3.0, 4.2), rng.uniform(9, 13),
                          rng.uniform(0.9, 1.1), (1,) if c > 0.3 * g["W"] else (1, 2)))
    return items, trees


def northeast(rng, g):
    """Alfalfa, a farmstead (metal-roofed barn, farmhouse, yard), a pond ringed by trees."""
    y0, x0, W = g["rcan"] + 8, g["cm"] + 8, g["W"]
    items = [field_item(rng, (0, g["rm"] - 6, g["cm"] + 4, W), "green"),
             Item(y0, y0 + 55, x0, x0 + 60, "bare"),
             Item(y0 + 6, y0 + 22, x0 + 6, x0 + 40, "roof", opt={"rgbn": MAT["metal"], "eave": 6.0,
                                                                  "ridge": 7.5}),
             Item(y0 + 32, y0 + 45, x0 + 30, x0 + 44, "roof", opt={"rgbn": np.array(ROOFS[0]),
                                                                  "eave": 3.0, "ridge": 6.0})]
    pond = (0.31 * g["H"], g["cm"] + 0.20 * W, 0.06 * g["H"], 0.08 * W)  # centre row/col, radii
    items.append(Item(0, g["H"], 0, W, "pond", opt={"pond": pond}))
    trees = []
    for a in np.linspace(0, 2 * np.pi, 14, endpoint=False):
        k = rng.uniform(1.25, 1.5)
        trees.append(Tree(pond[0] + k * pond[2] * np.sin(a), pond[1] + k * pond[3] * np.cos(a),
                          rng.uniform(3, 5), rng.uniform(7, 12), rng.uniform(0.85, 1.1)))
    return items, trees


def southeast(rng, g):
    """An alfalfa field that is a new subdivision by date 2 (street, lots, houses); more fields."""
    rm, cm, sc0, sc1, sr, sr1 = (g[k] for k in ("rm", "cm", "sc0", "sc1", "sr", "sr1"))
    items = [field_item(rng, (rm + 6, sr1, sc0, sc1), "green", "construction")]
    for box in split_fields(rng, rm + 6, g["H"], sc1 + 3, g["W"], 70):
        items.append(field_item(rng, box, str(rng.choice(["bare", "rows", "fallow"]))))
    items.append(field_item(rng, (sr1 + 3, g["H"], sc0, sc1), "rows"))
    for r0, r1, side in ((rm + 8, sr - 5, "bottom"), (sr + 5, sr1 - 2, "top")):
        items += house_row(rng, r0, r1, sc0 + 2, sc1 - 2, side, (2,), new=True)[0]
    items += [Item(sr - 5, sr + 5, cm, sc1 - 2, "paved", (2,)),
              Item(sr - 4, sr + 4, cm, sc1 - 4, "road", (2,), {"axis": 1, "new": True})]
    return items, []


def southwest(rng, g):
    """A suburb on two streets joined to the main road; fields further south."""
    rm, cm, conn, streets = g["rm"], g["cm"], g["conn"], g["streets"]
    items, trees = [Item(rm + 6, streets[1] + 38, 0, cm - 4, "lawn")], []
    for rs in streets:
        for r0, r1, side in ((rs - 34, rs - 4, "bottom"), (rs + 4, rs + 34, "top")):
            for c0, c1 in ((4, conn - 6), (conn + 6, cm - 8)):
                it, tr = house_row(rng, r0, r1, c0, c1, side)
                items, trees = items + it, trees + tr
        items.append(plain_road(rs - 4, rs + 4, 0, cm - 4))
    items.append(plain_road(rm, streets[1] + 4, conn - 4, conn + 4))
    for box in split_fields(rng, streets[1] + 38, g["H"], 0, cm - 4, 50):
        items.append(field_item(rng, box, str(rng.choice(["bare", "green", "rows"]))))
    return items, trees


def canal_and_main_roads(g):
    """A concrete-lined canal, the two main roads, and their junctions (no lines across them)."""
    rm, cm, rcan, conn, sr, H, W = (g[k] for k in ("rm", "cm", "rcan", "conn", "sr", "H", "W"))
    return [Item(rcan - 5, rcan + 5, 0, W, "paved"), Item(rcan - 3, rcan + 3, 0, W, "water"),
            Item(rm - 5, rm + 5, 0, W, "road", opt={"axis": 1, "lines": True}),
            Item(0, H, cm - 4, cm + 4, "road", opt={"axis": 0, "lines": True}),
            plain_road(rm - 5, rm + 5, cm - 4, cm + 4), plain_road(rm + 1, rm + 5, conn - 4, conn + 4),
            plain_road(sr - 4, sr + 4, cm + 1, cm + 4, (2,))]


def make_layout(rng, H, W):
    """Items (painted in order) and trees, in canvas pixels (1 m). The main east-west road (row
    rm) and north-south road (column cm) split the scene into quarters."""
    g = {"H": H, "W": W, "rm": int(0.42 * H), "cm": int(0.60 * W), "rcan": int(0.16 * H),
         "conn": int(0.3 * W)}
    g.update(sc0=g["cm"] + 4, sc1=g["cm"] + 4 + int(0.22 * W), sr1=g["rm"] + 6 + int(0.30 * H),
             streets=(g["rm"] + 50, g["rm"] + 128))
    g["sr"] = (g["rm"] + 6 + g["sr1"]) // 2  # the subdivision's new street
    items, trees = [Item(0, H, 0, W, "track")], []
    for part in (northwest, northeast, southeast, southwest):
        it, tr = part(rng, g)
        items, trees = items + it, trees + tr
    return items + canal_and_main_roads(g), trees


# ----------------------------------------------------------------------------- rendering

def window(r0, r1, c0, c1, shape):
    """Slices for rows r0:r1, cols c0:c1, clipped to an array of `shape`."""
    return (slice(max(r0, 0), min(r1, shape[0])), slice(max(c0, 0), min(c1, shape[1])))


def mix(a, b, f):
    """Per-pixel linear mix of two spectra (4,) by cover fraction f (h, w)."""
    return a[:, None, None] * (1 - f) + b[:, None, None] * f


def veg(greenness):
    return greenness * MAT["veg"] + (1 - greenness) * MAT["dry_veg"]


def surface(kind, win, tex, date, opt):
    """(4, h, w) reflectance of a `kind` surface over the canvas window `win` (two slices)."""
    t = {k: v[win] for k, v in tex.items()}
    fine = t["fine"] if date == 1 else (t["fine"] + t["fine2"]) / np.sqrt(2)  # crops regrow
    rr, cc = np.mgrid[win]
    across = (rr if opt.get("orient", 0) == 0 else cc) + opt.get("phase", 0.0)
    g, m = GREEN[date], MAT
    if kind == "track":
        out = mix(m["track"], m["soil"], 0.5 + 0.2 * t["mid"]) * (1 + 0.05 * t["fine"])
    elif kind == "fallow":
        out = mix(m["soil"], m["dry_veg"], np.clip(0.55 + 0.25 * t["mid"] + 0.15 * t["low"], 0, 1))
        out *= 1 + 0.07 * fine
    elif kind == "green":  # alfalfa: dense cover, faint mowing swaths
        cover = np.clip(0.86 + 0.06 * fine + 0.06 * t["low"], 0, 1)
        out = mix(m["soil"], veg(max(g, 0.8)), cover) * (1 + 0.04 * np.sin(2 * np.pi * across / 6))
    elif kind == "rows":  # row crop on 5 m beds
        cover = np.clip(0.5 + 0.4 * np.sin(2 * np.pi * across / 5) + 0.12 * fine + 0.1 * t["low"], 0, 1)
        out = mix(m["soil"], veg(g), cover)
    elif kind == "wheat":  # ripe grain with tramlines every 18 m
        out = m["wheat"][:, None, None] * (1 + 0.05 * fine + 0.04 * t["mid"] + 0.04 * t["low"])
        out = np.where(np.mod(across, 18) < 1, 0.55 * out + 0.45 * m["soil"][:, None, None], out)
    elif kind == "ploughed":  # moist furrows
        out = m["wet_soil"][:, None, None] * (
            1 + 0.14 * np.sin(2 * np.pi * across / 3) + 0.07 * fine + 0.12 * t["low"])
    elif kind == "orchard":  # orchard floor: soil with a grass cover between tree rows
        out = mix(m["soil"], veg(0.8 * g), np.clip(0.35 + 0.2 * t["mid"] + 0.1 * fine, 0, 1))
    elif kind in ("bare", "construction"):
        out = m["soil"][:, None, None] * (1.12 if kind == "construction" else 1.0)
        out = out * (1 + 0.04 * t["fine"] + 0.03 * t["mid"] + 0.07 * t["low"])
    elif kind == "lawn":
        out = mix(m["soil"], veg(max(g, 0.85)), np.clip(0.85 + 0.08 * t["mid"] + 0.05 * fine, 0, 1))
    elif kind == "road":
        base = m["new_asphalt"] if opt.get("new") else m["asphalt"]
        out = base[:, None, None] * (1 + 0.04 * t["fine"] + 0.04 * t["low"])
    elif kind == "roof":
        out = opt["rgbn"][:, None, None] * (1 + 0.035 * t["fine"])
    else:  # paved, water, mud, pool: smooth materials
        out = {"paved": m["concrete"], "water": m["water"], "mud": m["mud"], "pool": m["pool"]}[kind]
        out = out[:, None, None] * (1 + 0.02 * t["low"] + (0.03 * t["fine"] if kind == "paved" else 0))
    return out * opt.get("tint", np.ones(4))[:, None, None]


def road_markings(refl, it):
    """White edge lines and a dashed yellow centre line, blended (they are narrower than 1 m)."""
    axis = it.opt["axis"]  # 1: the road runs along columns (east-west), 0: along rows
    lo, hi = (it.r0, it.r1) if axis == 1 else (it.c0, it.c1)
    length = np.arange(it.c0, it.c1) if axis == 1 else np.arange(it.r0, it.r1)
    lines = [(lo + 1, MAT["white"], 0.5, None), (hi - 2, MAT["white"], 0.5, None),
             ((lo + hi) // 2, MAT["yellow"], 0.6, np.mod(length, 12) < 3)]
    for pos, colour, alpha, dash in lines:
        a = alpha * (np.ones(length.size) if dash is None else dash)
        sl = (slice(None), pos, slice(it.c0, it.c1)) if axis == 1 else (slice(None), slice(it.r0, it.r1), pos)
        refl[sl] = refl[sl] * (1 - a) + colour[:, None] * a


def gable(shape, eave, ridge):
    """Height (h, w) of a gable roof whose ridge runs along the rectangle's longer side."""
    h, w = shape
    n, axis = (h, 0) if w >= h else (w, 1)
    u = np.abs(np.arange(n) - (n - 1) / 2) / (n / 2)
    prof = eave + (ridge - eave) * (1 - u)
    return np.broadcast_to(prof[:, None] if axis == 0 else prof[None, :], shape)


def paint_pond(refl, cls, pond, tex, date):
    """Farm pond; by date 2 its level has dropped, exposing a ring of mud."""
    pr, pc, a, b = pond
    rr, cc = np.mgrid[0:cls.shape[0], 0:cls.shape[1]]
    f = np.hypot((rr + 0.5 - pr) / a, (cc + 0.5 - pc) / b) + 0.10 * tex["low"]
    shore = (f < 1.12) & (f >= 1.0)
    refl[:, shore] = mix(MAT["wet_soil"], veg(0.9), 0.6 + 0.1 * tex["mid"])[:, shore]
    cls[shore] = CLS["green"]
    level = 1.0 if date == 1 else 0.72
    mud = (f < 1.0) & (f >= level)
    refl[:, mud] = mix(MAT["mud"], MAT["soil"], np.clip((f - level) / max(1 - level, 1e-6), 0, 1))[:, mud]
    cls[mud] = CLS["mud"]
    water = f < level
    depth = np.clip((level - f) / level, 0, 1)
    algae = np.array([0.0, 0.008, 0.0, 0.004]) if date == 1 else np.zeros(4)
    refl[:, water] = (mix(MAT["water"] + algae, 0.7 * MAT["water"], depth)
                      * (1 + 0.03 * tex["low"]))[:, water]
    cls[water] = CLS["water"]


def stamp_tree(refl, height, cls, t, tex, date):
    """Textured, dome-shaped crown; autumn colours at date 2."""
    R = int(np.ceil(t.radius * 1.3)) + 1
    win = window(int(t.r) - R, int(t.r) + R + 1, int(t.c) - R, int(t.c) + R + 1, height.shape)
    rr, cc = np.mgrid[win]
    d = np.hypot(rr + 0.5 - t.r, cc + 0.5 - t.c)
    edge = t.radius * (1 + 0.15 * tex["mid"][win])
    h = t.height * np.sqrt(np.clip(1 - (d / edge) ** 2, 0, 1)) * (1 + 0.1 * tex["fine"][win])
    top = (d < edge) & (h > height[win])
    leaf = (1 - 0.3 * (date == 2)) * MAT["canopy"] + 0.3 * (date == 2) * MAT["autumn"]
    leaf = leaf[:, None, None] * t.tint * (1 + 0.15 * tex["fine"][win])
    refl[(slice(None), *win)] = np.where(top, leaf, refl[(slice(None), *win)])
    height[win] = np.where(top, h, height[win])
    cls[win] = np.where(top, CLS["tree"], cls[win])


def render(layout, tex, date):
    """Surface reflectance (4, H, W), object height (H, W, metres) and classes for one date."""
    items, trees = layout
    shape = tex["fine"].shape
    refl, height, cls = np.zeros((4, *shape)), np.zeros(shape), np.zeros(shape, np.int16)
    for it in items:
        if date not in it.dates:
            continue
        opt = it.opt or {}
        if it.kind == "pond":
            paint_pond(refl, cls, opt["pond"], tex, date)
            continue
        kind = opt.get("kind2", it.kind) if date == 2 else it.kind
        win = window(it.r0, it.r1, it.c0, it.c1, shape)
        refl[(slice(None), *win)] = surface(kind, win, tex, date, opt)
        cls[win] = CLS[kind]
        if kind == "roof":
            height[win] = gable(height[win].shape, opt["eave"], opt["ridge"])
        if kind == "road" and opt.get("lines"):
            road_markings(refl, it)
    for t in trees:
        if date in t.dates:
            stamp_tree(refl, height, cls, t, tex, date)
    return refl, height, cls


# ----------------------------------------------------------------------------- illumination

def shifted(a, dy, dx):
    """out[r, c] = a[r + dy, c + dx], zero beyond the edges."""
    out = np.zeros_like(a)
    H, W = a.shape
    out[max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)] = \
        a[max(dy, 0):H - max(-dy, 0), max(dx, 0):W - max(-dx, 0)]
    return out


def illuminate(refl, height, sun):
    """Sunlit reflectance: Lambert shading of roofs and crowns, and cast shadows lit by sky only."""
    az, el = np.radians(sun)
    to_sun = np.array([-np.cos(az), np.sin(az)])  # one metre towards the sun, in (row, col)
    shadow = np.zeros(height.shape, bool)
    for t in range(1, int(height.max() / np.tan(el)) + 2):
        dy, dx = np.rint(t * to_sun).astype(int)
        shadow |= shifted(height, dy, dx) > height + t * np.tan(el)
    lit = 1 - ndi.gaussian_filter(shadow.astype(float), 0.5)  # soft penumbra
    gr, gc = np.gradient(height)
    slope = np.hypot(gr, gc)
    k = np.minimum(1, 1.5 / np.maximum(slope, 1e-9))  # walls and crown rims: cap the slope
    normal = np.stack([gr * k, -gc * k, np.ones_like(height)])  # (north, east, up)
    sun_vec = np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])
    cos_i = np.tensordot(sun_vec, normal, 1) / np.linalg.norm(normal, axis=0)
    direct = np.where(height > 0.3, np.clip(cos_i, 0, None) / np.sin(el), 1.0)
    factor = SKY[:, None, None] + (1 - SKY)[:, None, None] * np.minimum(direct * lit, 1.6)
    return refl * factor


# ----------------------------------------------------------------------------- sensors

def s2_dn(refl):
    return np.clip(np.rint(refl * S2_QUANT) + S2_OFFSET, 1, 65535).astype(np.uint16)


def to_s2(refl, rng, win):
    """S2-like 10 m LR: Gaussian sensor blur, 10x10 area average, noise, L2A DN, nodata corner."""
    blurred = ndi.gaussian_filter(refl, (0, S2_PSF_SIGMA_M, S2_PSF_SIGMA_M), mode="nearest")
    crop = blurred[(slice(None), *win)]
    c, h, w = crop.shape
    lr = crop.reshape(c, h // LR_PX, LR_PX, w // LR_PX, LR_PX).mean(axis=(2, 4))
    dn = s2_dn(lr + rng.normal(0.0, S2_NOISE, lr.shape))
    n = lr.shape[1]
    rr, cc = np.mgrid[0:n, 0:n]
    dn[:, cc - rr > n - 6] = 0  # swath edge: a small nodata triangle in the north-east corner
    return dn


def to_naip(refl, rng):
    """NAIP-like 8-bit DN: its own (brighter, warmer) affine radiometry, a little noise."""
    dn = NAIP_OFFSET[:, None, None] + NAIP_GAIN[:, None, None] * refl
    return np.clip(np.rint(dn + rng.normal(0.0, 1.0, dn.shape)), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- output

def write_tif(path, data, crs, x0, y0, res, descriptions, colorinterp, tags, nodata=None):
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=data.dtype.name, crs=crs, transform=Affine(res, 0, x0, 0, -res, y0),
                   nodata=nodata, tiled=True, blockxsize=256, blockysize=256, compress="deflate",
                   predictor=2, zlevel=9, interleave="pixel")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = tuple(descriptions)
        dst.colorinterp = colorinterp
        dst.update_tags(**tags)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--size-m", type=int, default=480, help="LR side in metres (multiple of 10)")
    args = ap.parse_args(argv)
    size = args.size_m
    if size % LR_PX or size < 200:
        ap.error("--size-m must be a multiple of 10 and at least 200")
    rng = np.random.default_rng(args.seed)
    H, W = REF_MORE_N + size + 2 * MARGIN, REF_MORE_W + size + 2 * MARGIN
    cx0, cy0 = LR_X0 - REF_MORE_W - MARGIN, LR_Y0 + REF_MORE_N + MARGIN  # canvas top-left
    tex = make_textures(rng, (H, W))
    layout = make_layout(rng, H, W)
    surf1, h1, cls1 = render(layout, tex, 1)
    surf2, h2, cls2 = render(layout, tex, 2)
    date1, date2 = illuminate(surf1, h1, SUN[1]), illuminate(surf2, h2, SUN[2])

    lr_win = (slice(MARGIN + REF_MORE_N, MARGIN + REF_MORE_N + size),
              slice(MARGIN + REF_MORE_W, MARGIN + REF_MORE_W + size))
    ref_win = (slice(MARGIN, MARGIN + REF_MORE_N + size - REF_LESS_S),
               slice(MARGIN, MARGIN + REF_MORE_W + size - REF_LESS_E))
    change = ndi.binary_dilation(cls1 != cls2, iterations=3)[lr_win].astype(np.uint8)[None]
    lr = to_s2(date2, rng, lr_win)
    ref = to_naip(date1[(slice(None), *ref_win)], rng)
    truth = s2_dn(date2[(slice(None), *lr_win)])

    base = {"generator": GENERATOR, "seed": str(args.seed), "size_m": str(size),
            "note": "synthetic: procedurally generated scene, not real imagery"}
    s2 = {"BOA_QUANTIFICATION_VALUE": str(S2_QUANT), "BOA_ADD_OFFSET": str(-S2_OFFSET),
          "reflectance": "(DN - 1000) / 10000; 0 = nodata"}
    rgbn = [CI.red, CI.green, CI.blue, CI.nir]
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    utm, nad = "EPSG:32611", "EPSG:26911"
    write_tif(out / "lr.tif", lr, utm, LR_X0, LR_Y0, LR_PX, ["B4", "B3", "B2", "B8"], rgbn,
              {**base, **s2, "product": "S2-like L2A, 10 m", "date": DATES[2]}, nodata=0)
    write_tif(out / "ref.tif", ref, nad, cx0 + MARGIN, cy0 - MARGIN, 1, ["Red", "Green", "Blue", "NIR"],
              rgbn, {**base, "product": "NAIP-like, 1 m, 8-bit", "date": DATES[1]})
    write_tif(out / "hr_truth.tif", truth, utm, LR_X0, LR_Y0, 1, ["B4", "B3", "B2", "B8"], rgbn,
              {**base, **s2, "product": "HR truth of the LR's date, 1 m", "date": DATES[2]}, nodata=0)
    write_tif(out / "change_mask.tif", change, utm, LR_X0, LR_Y0, 1, ["change"], [CI.gray],
              {**base, "product": f"land-cover change between {DATES[1]} and {DATES[2]} (1 = changed)"})


if __name__ == "__main__":
    main()
