"""Helpers for the model tests: a fresh DS-DiT has zero adaLN gates and a zero final layer (its
velocity is exactly 0), so invariance tests first give every weight a seeded random value."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch


def _randomize(model: torch.nn.Module, seed: int = 0, std: float = 0.3, skip: tuple[str, ...] = ()) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(s in name for s in skip):
                continue
            p.copy_(torch.randn(p.shape, generator=g) * std / max(1.0, p.shape[-1] ** 0.5) ** 0.5)
    return model


@pytest.fixture(autouse=True)
def _one_thread():
    """These tests run tiny models, dominated by per-op overhead: one thread is faster, and on a
    busy machine far faster (no OpenMP barrier stalls). Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def randomize() -> Callable[..., torch.nn.Module]:
    """randomize(model, seed=0, std=0.3, skip=()) fills parameters (names not containing any of
    `skip`) with seeded N(0, std^2 / sqrt(fan_in)) values, in place; returns the model."""
    return _randomize


def images(b: int = 2, c: int = 3, h: int = 16, w: int = 24, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, c, h, w, generator=g) for _ in range(3))


@pytest.fixture
def make_images() -> Callable[..., tuple[torch.Tensor, ...]]:
    """make_images(b, c, h, w, seed) -> (x_t, lr, ref), seeded N(0, 1)."""
    return images
