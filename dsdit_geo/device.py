"""The torch device named by a `--device` option (upscale, batch, train, evaluate): the one
place of the device rules. `check_device_text` is the spelling (no torch), `resolve_device` adds
what this machine has."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dsdit_geo.errors import OptionError

if TYPE_CHECKING:
    import torch

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_text(text: str | None) -> str:
    """The normalised device text ('auto' for None); OptionError unless it reads auto, cpu,
    cuda or cuda:N."""
    normal = (text or "auto").strip().lower() if isinstance(text, (str, type(None))) else ""
    if not _DEVICE.match(normal):
        raise OptionError(f"--device must be auto, cpu, cuda or cuda:N, got {text!r}")
    return normal


def resolve_device(text: str | None) -> torch.device:
    """'auto' (or None) -> cuda when available, else cpu; 'cpu'; 'cuda' / 'cuda:N'.
    OptionError (one line) for any other text or a CUDA device that is not there."""
    import torch

    text = check_device_text(text)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(text)
    if device.type == "cpu":
        return device
    if not torch.cuda.is_available():
        raise OptionError(f"--device {text}: CUDA is not available here (use --device auto or cpu)")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise OptionError(
            f"--device {text}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return device
