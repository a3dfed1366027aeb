"""Position-keyed noise: N(0, 1) statistics, and the same values whatever the tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from dsdit_geo.flow import position_keyed_noise, sample_euler


def _whole(seed=0, c=3, h=48, w=64, origin=(0, 0)):
    return position_keyed_noise(seed, torch.tensor([origin]), (c, h, w))[0]


def test_statistics_are_standard_normal():
    z = position_keyed_noise(7, torch.tensor([[0, 0], [-300, 5000]]), (4, 128, 128))
    assert z.shape == (2, 4, 128, 128) and z.dtype == torch.float32
    a = z.numpy().ravel().astype(np.float64)
    assert abs(a.mean()) < 0.01 and abs(a.std() - 1) < 0.01
    assert stats.kstest(a, "norm").pvalue > 1e-3
    assert abs(stats.skew(a)) < 0.02 and abs(stats.kurtosis(a)) < 0.05
    # no correlation between neighbours, channels, tiles or seeds
    other = position_keyed_noise(8, torch.tensor([[0, 0]]), (4, 128, 128))[0]
    pairs = [
        (z[0, 0, :, :-1], z[0, 0, :, 1:]),
        (z[0, 0, :-1], z[0, 0, 1:]),
        (z[0, 0], z[0, 1]),
        (z[0], z[1]),
        (z[0], other),
    ]
    for u, v in pairs:
        assert abs(np.corrcoef(u.ravel(), v.ravel())[0, 1]) < 0.02


def test_noise_is_independent_of_tiling_batch_and_order():
    whole = _whole()
    origins = torch.tensor([[16, 32], [0, 0], [-8, 40], [30, -4]])
    tiles = position_keyed_noise(0, origins, (3, 16, 24))
    shuffled = position_keyed_noise(0, origins.flip(0), (3, 16, 24)).flip(0)
    assert torch.equal(tiles, shuffled)
    for (r, c), tile in zip(origins.tolist(), tiles):
        # the part of each tile inside the whole image matches it exactly
        r0, c0 = max(r, 0), max(c, 0)
        r1, c1 = min(r + 16, 48), min(c + 24, 64)
        assert torch.equal(tile[:, r0 - r : r1 - r, c0 - c : c1 - c], whole[:, r0:r1, c0:c1])
    # a bigger tile of more channels agrees too, channel by channel
    assert torch.equal(_whole(c=5, h=64, w=80, origin=(-16, -16))[:3, 16:, 16:], whole)


def test_seed_and_position_matter():
    assert not torch.equal(_whole(seed=0), _whole(seed=1))
    assert not torch.equal(_whole(origin=(0, 0)), _whole(origin=(0, 1)))
    assert torch.equal(_whole(seed=3), _whole(seed=3))
    with pytest.raises(ValueError):
        position_keyed_noise(0, torch.tensor([0, 0]), (1, 2, 2))


def _toy_velocity(lr, ref):
    """A deterministic, pointwise velocity: depends on x, sigma and the conditions at the pixel."""

    def fn(x, sigma, lam):
        k = x.shape[0] // lr.shape[0]
        l, r = lr.repeat(k, 1, 1, 1), ref.repeat(k, 1, 1, 1)
        s = sigma.view(-1, 1, 1, 1)
        return torch.tanh(x) * (1 - s) + x * s - l + lam.view(-1, 1, 1, 1) * 0.3 * torch.sin(r + x)

    return fn


@pytest.mark.parametrize("guidance", [1.0, 1.2])
def test_tiled_sampling_equals_whole_image_sampling(guidance):
    g = torch.Generator().manual_seed(0)
    h, w, t = 40, 56, 16
    lr, ref = torch.randn(1, 3, h, w, generator=g), torch.randn(1, 3, h, w, generator=g)
    whole = sample_euler(_toy_velocity(lr, ref), position_keyed_noise(5, torch.tensor([[0, 0]]), (3, h, w)),
                         6, guidance=guidance).sample[0]
    # overlapping tiles (stride 12), the last ones clamped to the edge, in one shuffled batch
    starts_r = sorted({min(r, h - t) for r in range(0, h, 12)})
    starts_c = sorted({min(c, w - t) for c in range(0, w, 12)})
    origins = torch.tensor([(r, c) for r in starts_r for c in starts_c])
    origins = origins[torch.randperm(len(origins), generator=g)]
    crop = lambda a: torch.stack([a[0, :, r : r + t, c : c + t] for r, c in origins.tolist()])
    tiles = sample_euler(_toy_velocity(crop(lr), crop(ref)), position_keyed_noise(5, origins, (3, t, t)),
                         6, guidance=guidance).sample
    covered = torch.zeros(h, w, dtype=torch.bool)
    for (r, c), tile in zip(origins.tolist(), tiles):
        assert torch.equal(tile, whole[:, r : r + t, c : c + t])
        covered[r : r + t, c : c + t] = True
    assert covered.all()
