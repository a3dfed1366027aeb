"""What a run reports: a JSON-lines log, a tqdm bar on stderr, and a hardware description.

Log records (`log.jsonl` in the run folder), one per log or dev step:
    {"step": 120, "loss": 0.81, "lr": 3e-4, "grad_norm": 0.42, "samples_per_s": 5.3,
     "dev_loss": null | 0.77, "time": 1712345678.9}
`step` counts completed optimiser steps. On resume, records beyond the checkpoint's step (from
steps that were trained but never checkpointed) are dropped, so the log reads as one run.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

LOG_NAME = "log.jsonl"


class RunLog:
    """Append-only JSON-lines log (`path`); `enabled` False makes every call a no-op."""

    def __init__(self, path: Path | str, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """Drop records with step > `step` (atomically rewrites the file)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                if int(json.loads(line)["step"]) <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line of a killed run
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept))
        os.replace(tmp, self.path)

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({**record, "time": round(time.time(), 3)}) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def progress_bar(total: int, initial: int, enabled: bool) -> tqdm:
    """The step bar on stderr (disabled on other ranks or with progress off)."""
    return tqdm(total=total, initial=initial, unit="step", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, smoothing=0.1, desc="train")


def format_postfix(loss: float | None, dev_loss: float | None, samples_per_s: float | None) -> dict[str, str]:
    post: dict[str, str] = {}
    if loss is not None:
        post["loss"] = f"{loss:.4f}"
    if dev_loss is not None:
        post["dev"] = f"{dev_loss:.4f}"
    if samples_per_s is not None:
        post["samples/s"] = f"{samples_per_s:.2f}"
    return post


def hardware_string(device: torch.device, world_size: int = 1) -> str:
    """E.g. "2x NVIDIA H100 80GB HBM3, torch 2.5.1+cu124" or "cpu: 2 threads (x86_64, 2 cores), torch ..."."""
    if device.type == "cuda":
        what = f"{world_size}x {torch.cuda.get_device_name(device)}"
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        cpu = _cpu_model() or platform.machine()
        what = f"cpu: {cpu}, {cores} cores, {torch.get_num_threads()} torch threads"
        if world_size > 1:
            what = f"{world_size} processes x ({what})"
    return f"{what}; torch {torch.__version__}"


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


__all__ = ["LOG_NAME", "RunLog", "format_postfix", "hardware_string", "progress_bar"]
