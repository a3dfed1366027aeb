"""Which device and how many torch threads each batch worker uses (pure rules + one setup).

GPUs: with `--device auto` (or `cuda`) and k visible CUDA devices, the worker in slot i runs its
items with `--device cuda:(i mod k)`, so N workers spread over k GPUs one per worker (N = k:
exactly one each). An explicit `cpu` or `cuda:N` is left alone, and without GPUs `auto` stays
`auto` (the pipeline then picks the CPU). A worker whose environment already pins one device
(`CUDA_VISIBLE_DEVICES=3`, as dask-cuda's workers have) sees k = 1 and uses it.

Slots: the local pool numbers its processes 0..N-1. A Dask worker takes its slot from its own
name (`LocalCluster` names workers 0, 1, ...; `dask worker --nworkers N --name host` names them
host-0 .. host-(N-1)), else from a hash of its address: a worker-local choice, no coordination.

Threads: N pool workers on C cores use max(1, C // N) torch threads each. A Dask worker keeps
what its environment says (the Dask nanny sets OMP_NUM_THREADS=1 unless configured otherwise),
else max(1, C // its task slots).
"""

from __future__ import annotations

import os
import re
import zlib

_TRAILING_INT = re.compile(r"(\d+)$")
_configured: dict[str, object] = {}


def assign_device(requested: str, slot: int, cuda_count: int) -> str:
    """The --device a worker in `slot` uses, given the user's request and its visible GPUs."""
    if (requested or "auto") not in ("auto", "cuda") or cuda_count <= 0:
        return requested
    return f"cuda:{slot % cuda_count}"


def pool_threads(cpu_count: int | None, workers: int) -> int:
    """Torch threads for each of `workers` local processes sharing `cpu_count` cores."""
    return max(1, (cpu_count or 1) // max(1, workers))


def dask_threads(cpu_count: int | None, task_slots: int, environ: dict[str, str]) -> int | None:
    """Torch threads for a Dask worker process: None (keep torch's default, which honours
    OMP_NUM_THREADS) when the environment sets it, else cores over the worker's task slots."""
    if environ.get("OMP_NUM_THREADS", "").strip():
        return None
    return pool_threads(cpu_count, task_slots)


def dask_slot(name: object, address: str) -> int:
    """A Dask worker's slot from its name (an int, or a name ending in digits), else its address."""
    if isinstance(name, int) and name >= 0:
        return name
    if name is None or str(name) == address:  # unnamed workers are named by their address
        return zlib.crc32(address.encode())
    match = _TRAILING_INT.search(str(name))
    if match:
        return int(match.group(1))
    return zlib.crc32(address.encode())


def cuda_device_count() -> int:
    """Visible CUDA devices (0 without torch CUDA support)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def configure_process(slot: int, threads: int | None) -> None:
    """Once per worker process: remember its slot and set torch's thread count."""
    _configured["slot"] = slot
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    _configured["threads"] = threads


def process_slot() -> int | None:
    """The slot `configure_process` recorded in this process (None when never configured)."""
    slot = _configured.get("slot")
    return slot if isinstance(slot, int) else None


def configure_dask_worker() -> int:
    """Set up the current Dask worker process once (slot, threads); returns its slot."""
    slot = process_slot()
    if slot is not None:
        return slot
    from distributed import get_worker

    worker = get_worker()
    slot = dask_slot(worker.name, worker.address)
    configure_process(slot, dask_threads(os.cpu_count(), worker.state.nthreads, dict(os.environ)))
    return slot
