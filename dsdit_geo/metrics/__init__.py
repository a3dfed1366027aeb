"""Image-quality metrics for evaluation, all offline and without torchvision.

- :mod:`.psnr_ssim`: PSNR and SSIM on 8-bit images (numpy / scipy).
- :mod:`.lpips`: LPIPS v0.1 (AlexNet default, VGG16), :mod:`.dists`: DISTS; both in plain torch.
- :mod:`.weights`: their weights, read from optional packages' files (install with
  :data:`INSTALL_COMMAND`) without importing those packages.
- :func:`compute_metrics`: all four for one (prediction, truth) pair.

Importing this package loads no weights; the networks are built on first use and cached.
"""

from dsdit_geo.metrics.compute import compute_metrics, perceptual_metrics
from dsdit_geo.metrics.psnr_ssim import psnr, ssim, to_uint8_hwc
from dsdit_geo.metrics.weights import INSTALL_COMMAND, perceptual_weights_available

__all__ = [
    "INSTALL_COMMAND",
    "compute_metrics",
    "perceptual_metrics",
    "perceptual_weights_available",
    "psnr",
    "ssim",
    "to_uint8_hwc",
]
