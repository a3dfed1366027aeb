"""GPU and thread assignment per worker (pure rules; no GPU needed)."""

from __future__ import annotations

import pytest

from dsdit_geo.batch import placement
from dsdit_geo.batch.placement import assign_device, dask_slot, dask_threads, pool_threads


@pytest.mark.parametrize(
    ("requested", "slot", "count", "expected"),
    [
        ("auto", 0, 0, "auto"),  # no GPU: the pipeline picks the CPU, tags say 'auto' as for upscale
        ("auto", 3, 0, "auto"),
        ("auto", 0, 1, "cuda:0"),
        ("auto", 5, 1, "cuda:0"),  # a worker pinned by CUDA_VISIBLE_DEVICES sees one device
        ("auto", 0, 4, "cuda:0"),
        ("auto", 1, 4, "cuda:1"),
        ("auto", 5, 4, "cuda:1"),  # more workers than GPUs: round robin
        ("cuda", 2, 4, "cuda:2"),
        ("cpu", 2, 4, "cpu"),  # explicit choices are kept
        ("cuda:3", 0, 4, "cuda:3"),
    ],
)
def test_assign_device(requested, slot, count, expected):
    assert assign_device(requested, slot, count) == expected


def test_one_gpu_per_worker_when_workers_match_gpus():
    assert sorted(assign_device("auto", slot, 4) for slot in range(4)) == [f"cuda:{k}" for k in range(4)]


def test_threads():
    assert pool_threads(16, 4) == 4
    assert pool_threads(2, 2) == 1
    assert pool_threads(2, 8) == 1  # never zero
    assert pool_threads(None, 1) == 1
    assert dask_threads(16, 2, {"OMP_NUM_THREADS": "1"}) is None  # the nanny's setting wins
    assert dask_threads(16, 2, {}) == 8


def test_dask_slot_from_worker_name_or_address():
    assert dask_slot(3, "tcp://127.0.0.1:1") == 3
    assert dask_slot("gpu-node-2", "tcp://h:1") == 2
    assert dask_slot("7", "tcp://h:1") == 7
    anonymous = dask_slot("tcp://10.0.0.5:40000", "tcp://10.0.0.5:40000")
    assert anonymous == dask_slot(None, "tcp://10.0.0.5:40000")  # stable per address
    assert isinstance(anonymous, int) and anonymous >= 0


def test_configure_process_records_the_slot(monkeypatch):
    monkeypatch.setattr(placement, "_configured", {})
    assert placement.process_slot() is None
    placement.configure_process(2, None)
    assert placement.process_slot() == 2
