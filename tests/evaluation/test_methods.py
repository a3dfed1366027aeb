"""Method specs and scale lists (pure parsing)."""

import pytest

from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import OptionError
from dsdit_geo.evaluation.methods import (
    DEFAULT_METHODS,
    MethodSpec,
    parse_method,
    parse_methods,
    parse_scales,
    split_method_list,
)


def test_default_methods():
    specs = parse_methods(DEFAULT_METHODS)
    assert [s.label for s in specs] == ["bicubic", "hpf", "dsdit", "dsdit(w=1)"]
    assert specs[3] == MethodSpec("dsdit", {"guidance": 1.0})


def test_overrides_map_onto_options():
    spec = parse_method("dsdit:guidance=1.2;steps=8;ref_scale_weak=0.5;seed=3;tile_px=64;overlap_px=16;weights=~/m/")
    assert spec.label.startswith("dsdit(w=1.2,steps=8,weak=0.5,seed=3,tile=64,overlap=16,weights=m")
    base = UpscaleOptions(method="hpf", seed=7, device="cpu")
    options = spec.options(base)
    assert (options.method, options.guidance, options.steps, options.ref_scale_weak) == ("dsdit", 1.2, 8, 0.5)
    assert (options.seed, options.tile_px, options.overlap_px, options.device) == (3, 64, 16, "cpu")
    assert not options.weights.startswith("~")
    assert base.method == "hpf" and base.seed == 7  # the base is not changed


def test_commas_continue_the_previous_method():
    assert split_method_list("bicubic, dsdit:guidance=1.2,steps=8 ,hpf") == [
        "bicubic", "dsdit:guidance=1.2;steps=8", "hpf"]
    assert [s.label for s in parse_methods("dsdit:guidance=1.2,steps=8,hpf")] == ["dsdit(w=1.2,steps=8)", "hpf"]
    assert [s.label for s in parse_methods(["HPF", "dsdit:Steps=4"])] == ["hpf", "dsdit(steps=4)"]


@pytest.mark.parametrize("text, message", [
    ("nearest", "unknown method 'nearest'"),
    ("dsdit:foo=1", "unknown method override 'foo'"),
    ("dsdit:steps", "must read key=value"),
    ("dsdit:steps=", "must read key=value"),
    ("dsdit:steps=eight", "bad value 'eight' for steps"),
    ("dsdit:steps=-1", "bad value '-1' for steps"),
    ("dsdit:guidance=nan", "bad value 'nan' for guidance"),
    ("dsdit:steps=2;steps=3", "given twice"),
    ("hpf,hpf", "listed twice"),
    ("", "is empty"),
])
def test_bad_method_lists(text, message):
    with pytest.raises(OptionError, match=message):
        parse_methods(text)


def test_scales():
    assert parse_scales("4,8") == [4, 8]
    assert parse_scales([8, 4.0]) == [8, 4]
    for bad in ("1", "2.5", "x", "4,4", ""):
        with pytest.raises(OptionError):
            parse_scales(bad)
