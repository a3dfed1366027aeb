"""Presets: sizes, the analytic FLOP count, the small preset's CPU budget."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from dsdit_geo.model import PRESETS, build_model, count_parameters, forward_flops


def test_small_preset_fits_the_cpu_budget():
    with torch.device("meta"):
        model = build_model("small")
    assert model.config.patch_size == 8
    assert count_parameters(model) * 4 <= 40e6  # fp32 safetensors <= 40 MB
    assert forward_flops(model.config, 128, 128) <= 5.2e9  # one 128x128 tile, batch 1: "roughly <= 5"


def test_presets_grow():
    sizes = []
    for name in ("tiny", "small", "base", "large"):
        with torch.device("meta"):
            sizes.append(count_parameters(build_model(name)))
    assert sizes == sorted(sizes)
    assert set(PRESETS) == {"tiny", "small", "base", "large"}


@pytest.mark.parametrize("attention,injection", [("siamese", "plw"), ("joint", "separate"), ("siamese", "sum")])
def test_forward_flops_matches_flop_counter(attention, injection):
    """With the math SDPA backend FlopCounterMode sees every matmul, attention included."""
    model = build_model("tiny", seed=0, attention=attention, injection=injection)
    b, h, w = 2, 16, 24
    x = torch.zeros(b, 3, h, w)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, x, x, torch.full((b,), 0.5), scale=4.0, ref_scale=torch.tensor([1.0, 0.5]))
    assert counter.get_total_flops() == forward_flops(model.config, h, w, b)


def test_preset_overrides():
    model = build_model("tiny", seed=0, hidden_dim=48, num_heads=3, injection="sum")
    assert model.config.hidden_dim == 48 and model.config.injection == "sum"
