"""The torch device named by a `--device` option (upscale, batch, train, evaluate)."""

from __future__ import annotations

import torch

from dsdit_geo.errors import OptionError


def resolve_device(text: str | None) -> torch.device:
    """'auto' (or None) -> cuda when available, else cpu; 'cpu'; 'cuda' / 'cuda:N'.
    OptionError (one line) for any other text or a CUDA device that is not there."""
    text = (text or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise OptionError(f"--device must be auto, cpu, cuda or cuda:N, got {text!r}") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise OptionError(f"--device must be auto, cpu, cuda or cuda:N, got {text!r}")
    if not torch.cuda.is_available():
        raise OptionError(f"--device {text}: CUDA is not available here (use --device auto or cpu)")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise OptionError(
            f"--device {text}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return device
