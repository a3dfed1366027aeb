"""One batch item, run wherever an engine puts it: the unit of distribution.

`run_item(item, options, verify, slot)` takes plain values only (the item's paths as a dict, the
UpscaleOptions as a dict) and returns a plain record dict, so it runs unchanged in this process,
in a spawned pool process or on a Dask worker; nothing is shared but file paths. It never raises
for a problem with the item: the record says `failed` with a one-line error. Ctrl-C
(KeyboardInterrupt) still propagates. Each process keeps one `Engine` (`process_engine`), built
by its first item, so the model is loaded once per worker, not once per item.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from typing import Any

from dsdit_geo.batch import placement
from dsdit_geo.batch.completeness import check_item, item_key, provenance_tags
from dsdit_geo.batch.orphan import exit_with_parent
from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import DsditGeoError

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
_ENGINE: dict[tuple, Any] = {}  # this process's engine, keyed by its method options (one at most)
_ENGINE_LOCK = threading.Lock()


def run_item(item: dict, options: dict, verify: str = "quick", slot: int | None = None) -> dict:
    """Skip the item when its output is complete (unless options say overwrite), else upscale
    it; return {index, lr, ref, out, status, error, seconds, megapixels}."""
    started = time.perf_counter()
    record = {
        "index": item["index"],
        "lr": item["lr"],
        "ref": item["ref"],
        "out": item["out"],
        "status": FAILED,
        "error": None,
        "seconds": 0.0,
        "megapixels": None,
    }
    try:
        status, megapixels = _run(item, options, verify, slot)
        record.update(status=status, megapixels=round(megapixels, 6))
    except DsditGeoError as exc:
        record["error"] = exc.message
    except Exception as exc:  # noqa: BLE001 - one item's bug or crash must not stop the batch
        record["error"] = one_line(f"{type(exc).__name__}: {exc}")
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record


def _run(item: dict, options: dict, verify: str, slot: int | None) -> tuple[str, float]:
    if item.get("problem"):
        raise DsditGeoError(item["problem"])
    opts = replace(UpscaleOptions(**options), trust_map=item.get("trust_map"))
    key = item_key(item["lr"], item["ref"], opts)
    if not opts.overwrite:
        state = check_item(item["out"], item.get("trust_map"), key, verify)
        if state.complete:
            return SKIPPED, state.megapixels
    opts = replace(
        opts,
        overwrite=True,  # whatever is there is stale or damaged (or --overwrite asked for it)
        extra={**opts.extra, **provenance_tags(item["lr"], item["ref"], key)},
        device=placement.assign_device(opts.device, slot or 0, _cuda_count(opts.device)),
    )
    for path in filter(None, (item["out"], item.get("trust_map"))):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    report = process_engine(opts).upscale_file(item["lr"], item["ref"], item["out"], opts)
    return DONE, report.megapixels


def process_engine(options: UpscaleOptions) -> Any:
    """This process's `Engine` for `options` (built on first use, then reused by every item
    with the same method options: one model load per worker process)."""
    from dsdit_geo.engine import Engine, _method_key  # heavy: torch, rasterio

    key = _method_key(options)
    with _ENGINE_LOCK:
        engine = _ENGINE.get(key)
        if engine is None:
            _ENGINE.clear()  # one batch's options per process: keep one engine
            engine = _ENGINE[key] = Engine(replace(options, trust_map=None, extra={}))
        return engine


def release_engine() -> None:
    """Forget this process's engine (and its models): the end of an in-process batch."""
    with _ENGINE_LOCK:
        _ENGINE.clear()


def _cuda_count(device: str) -> int:
    return placement.cuda_device_count() if (device or "auto") in ("auto", "cuda") else 0


def run_item_in_pool(item: dict, options: dict, verify: str) -> dict:
    """`run_item` in a local pool process (its slot was set by `init_pool_worker`)."""
    return run_item(item, options, verify, placement.process_slot())


def init_pool_worker(slots, threads: int, quiet_libtiff: bool = False) -> None:
    """Pool initializer: end with the parent (orphan.py), take a free slot number from the
    `slots` queue, limit torch threads; `quiet_libtiff` (the parent's state: the CLI without
    -v): libtiff's raw error lines kept off the stderr this process shares with the parent."""
    exit_with_parent()
    if quiet_libtiff:
        from dsdit_geo.raster.gdal_errors import quiet_libtiff_for_good  # loads rasterio

        quiet_libtiff_for_good()
    placement.configure_process(slots.get(), threads)


def run_item_on_dask(item: dict, options: dict, verify: str) -> dict:
    """`run_item` on a Dask worker (slot and threads chosen by the worker itself)."""
    return run_item(item, options, verify, placement.configure_dask_worker())


def one_line(text: str) -> str:
    """Collapse whitespace so a message fits one log line."""
    return " ".join(str(text).split())


def failed_record(item: dict, error: str) -> dict:
    """The record of an item that failed outside `run_item` (a dead worker, a lost task)."""
    return {
        "index": item["index"],
        "lr": item["lr"],
        "ref": item["ref"],
        "out": item["out"],
        "status": FAILED,
        "error": one_line(error),
        "seconds": 0.0,
        "megapixels": None,
    }
