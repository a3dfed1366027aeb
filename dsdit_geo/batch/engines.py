"""Where items run: in this process, in a local process pool, or on a Dask cluster.

Each engine takes plain item dicts and an options dict and yields one record per item as items
finish (see `task.run_item`); a lost worker or task becomes that item's `failed` record.

- `run_sequential`: one item after another in this process (tile progress may show).
Every process keeps one `Engine` for its items (`task.process_engine`): one model load per
process, not per item.
- `run_pool`: `concurrent.futures.ProcessPoolExecutor` with the *spawn* start method (no fork
  of a process holding torch / GDAL threads), at most N items in flight so a dead worker
  (out of memory, killed) costs only the items it was running: those are retried once in a
  fresh pool, then failed. Process i gets slot i (GPU choice) and max(1, cores // N) torch
  threads; libtiff's raw error lines are kept off stderr there when they are here
  (gdal_errors.quiet_libtiff: the CLI without -v).
- `run_dask`: `distributed.Client(ADDRESS)` (or a scheduler JSON file); one task per item,
  results as they complete. The workers need dsdit-geo installed and the paths visible.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from dsdit_geo.batch import placement
from dsdit_geo.batch.task import (
    failed_record,
    init_pool_worker,
    one_line,
    release_engine,
    run_item,
    run_item_in_pool,
    run_item_on_dask,
)
from dsdit_geo.errors import OptionError
from dsdit_geo.raster.gdal_errors import libtiff_quieted

POOL_ATTEMPTS = 2  # an item running when its pool broke is retried once
DASK_CONNECT_TIMEOUT_S = 30


def run_sequential(items: list[dict], options: dict, verify: str) -> Iterator[dict]:
    """Run the items in this process, in manifest order (one engine for all of them)."""
    try:
        for item in items:
            yield run_item(item, options, verify, slot=0)
    finally:
        release_engine()


def run_pool(items: list[dict], options: dict, verify: str, workers: int) -> Iterator[dict]:
    """Run the items on `workers` spawned local processes, yielding records as they finish."""
    pending = deque(items)
    attempts: dict[int, int] = {}
    context = multiprocessing.get_context("spawn")
    threads = placement.pool_threads(os.cpu_count(), workers)
    while pending:
        slots = context.Queue()
        for slot in range(workers):
            slots.put(slot)
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=init_pool_worker,
            initargs=(slots, threads, libtiff_quieted()),  # the workers' stderr is ours
        )
        in_flight: dict[Future, dict] = {}
        try:
            broken = False
            while (pending and not broken) or in_flight:
                while pending and not broken and len(in_flight) < workers:
                    item = pending.popleft()
                    in_flight[pool.submit(run_item_in_pool, item, options, verify)] = item
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    item = in_flight.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken = True
                        attempts[item["index"]] = attempts.get(item["index"], 0) + 1
                        if attempts[item["index"]] >= POOL_ATTEMPTS:
                            yield failed_record(item, "its worker process died (out of memory or killed?)")
                        else:
                            pending.appendleft(item)
                    except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable result
                        yield failed_record(item, f"{type(exc).__name__}: {exc}")
        except BaseException:
            _stop_pool(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            slots.close()
            slots.join_thread()


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Ctrl-C or an abandoned run: end the worker processes now rather than after their item
    (their hidden temporary files are cleaned by the next run)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def run_dask(items: list[dict], options: dict, verify: str, scheduler: str) -> Iterator[dict]:
    """Submit one task per item to the Dask scheduler at `scheduler` (an address such as
    tcp://host:8786, or a scheduler JSON file) and yield records as tasks complete."""
    from distributed import Client, as_completed

    client = _connect(Client, scheduler)
    token = uuid.uuid4().hex[:8]
    futures = {}
    try:
        for item in items:
            future = client.submit(
                run_item_on_dask,
                item,
                options,
                verify,
                key=f"dsdit-geo-item-{item['index']}-{token}",
                pure=False,
            )
            futures[future] = item
        for future in as_completed(list(futures)):
            item = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost connection, ...
                yield failed_record(item, f"{type(exc).__name__}: {exc}")
            future.release()
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        client.close()


def _connect(client_class, scheduler: str):
    """A connected Client, or a one-line OptionError naming the address."""
    try:
        if os.path.isfile(scheduler):
            return client_class(scheduler_file=scheduler, timeout=DASK_CONNECT_TIMEOUT_S)
        return client_class(scheduler, timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise OptionError(
            f"--scheduler {scheduler}: cannot reach the Dask scheduler ({one_line(exc)})"
        ) from None
