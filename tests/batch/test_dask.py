"""Items on a Dask cluster: a loopback LocalCluster of 2 worker processes, shared by the module."""

from __future__ import annotations

import importlib
import socket

import pytest

from dsdit_geo.batch import engines

from .conftest import FAST, invoke, read_log, write_csv

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """2 worker processes, 1 thread each, loopback only, no dashboard; the pipeline is imported
    on every worker up front so the tests time the batch, not torch's import."""
    with (
        distributed.LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as local,
        distributed.Client(local) as client,
    ):
        client.run(importlib.import_module, "dsdit_geo.pipeline")
        yield local


def test_cluster_run_matches_the_sequential_run(cluster, scenes, sequential_run, tmp_path):
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            [scenes["A_lr"], scenes["A_ref"], ""],
            [scenes["B_lr"], scenes["B_ref"], "sub/B.tif"],
            [str(tmp_path / "missing.tif"), scenes["B_ref"], "missing.tif"],
        ],
    )
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    args = (manifest, out, *FAST, "--scheduler", cluster.scheduler_address, "--log", log)
    result = invoke(*args)
    assert result.exit_code == 1, result.output  # the missing pair failed, the others ran
    for name, data in sequential_run["outputs"].items():
        assert (out / name).read_bytes() == data, name
    records = {r["index"]: r for r in read_log(log)}
    assert [records[i]["status"] for i in range(3)] == ["done", "done", "failed"]
    assert records[2]["error"].startswith("LR file not found")
    assert "Batch: 2 done, 0 skipped, 1 failed of 3 items" in result.stderr

    result = invoke(*args)
    assert sorted(r["status"] for r in read_log(log)) == ["failed", "skipped", "skipped"]


def test_workers_take_their_slot_from_their_name(cluster):
    from dsdit_geo.batch.placement import configure_dask_worker

    with distributed.Client(cluster.scheduler_address) as client:
        workers = client.scheduler_info()["workers"]
        slots = {
            info["name"]: client.submit(configure_dask_worker, workers=[address], pure=False).result()
            for address, info in workers.items()
        }
    assert slots == {0: 0, 1: 1}


def test_unreachable_scheduler_is_one_line_error(tmp_path, monkeypatch, scenes):
    monkeypatch.setattr(engines, "DASK_CONNECT_TIMEOUT_S", 2)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    manifest = write_csv(tmp_path / "m.csv", [[scenes["A_lr"], scenes["A_ref"], ""]])
    result = invoke(manifest, tmp_path / "out", *FAST, "--scheduler", f"tcp://127.0.0.1:{port}")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: --scheduler tcp://127.0.0.1:{port}: cannot reach")
