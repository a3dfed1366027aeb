"""Run a batch: check, prepare OUTDIR, dispatch items to an engine, log, count.

    run_batch(items, options, outdir, workers=1, scheduler=None, log_path=None, ...) -> BatchSummary

Before any item runs: the options are validated once (a bad option is one error, not one per
item), OUTDIR is created and locked (two batches writing the same OUTDIR at once would fight over
its temporary files), and hidden temporary files that a killed run left beside this batch's
outputs are removed. Then each item is skipped when its output is complete (completeness.py) or
upscaled; a failing item is recorded and the others go on.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, replace

from tqdm import tqdm

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: batches are not locked
    fcntl = None

from dsdit_geo.batch import engines
from dsdit_geo.batch.completeness import VERIFY_MODES
from dsdit_geo.batch.log import BatchSummary, failure_line, open_log
from dsdit_geo.batch.manifest import BatchItem
from dsdit_geo.config import UpscaleOptions
from dsdit_geo.errors import OptionError, OutputError
from dsdit_geo.raster.temps import temp_pattern

LOCK_NAME = ".dsdit-geo-batch.lock"


def run_batch(
    items: list[BatchItem],
    options: UpscaleOptions,
    outdir: str,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    log_path: str | None = None,
    verify: str = "quick",
    report: bool = True,
) -> BatchSummary:
    """Run every item with `options` (trust maps come from the items); `report`: a progress bar
    over items (on a terminal) and a line per failure on stderr. Raises DsditGeoError only for problems that
    stop the whole batch (options, OUTDIR, scheduler); per-item problems are in the summary."""
    started = time.perf_counter()
    _check_run(options, workers, scheduler, verify)
    parallel = scheduler is not None or workers > 1
    show_tiles = report and not parallel and sys.stderr.isatty()
    item_options = asdict(replace(options, trust_map=None, quiet=not report, progress=show_tiles))
    plain_items = [item.to_dict() for item in items]
    summary = BatchSummary()
    with _locked(outdir), open_log(log_path) as log:
        remove_temporaries(items)
        if scheduler is not None:
            records = engines.run_dask(plain_items, item_options, verify, scheduler)
        elif workers > 1:
            records = engines.run_pool(plain_items, item_options, verify, workers)
        else:
            records = engines.run_sequential(plain_items, item_options, verify)
        with _progress(len(items), report) as bar:
            for record in records:
                log.write(record)
                summary.add(record)
                if record["status"] == "failed" and report:
                    bar.write(failure_line(record), file=sys.stderr)
                bar.set_postfix(
                    done=summary.done, skipped=summary.skipped, failed=summary.failed, refresh=False
                )
                bar.update(1)
    summary.seconds = time.perf_counter() - started
    return summary


def _check_run(options: UpscaleOptions, workers: int, scheduler: str | None, verify: str) -> None:
    if not isinstance(workers, int) or workers < 1:
        raise OptionError(f"--workers must be a positive integer, got {workers}")
    if scheduler is not None and workers > 1:
        raise OptionError("--workers and --scheduler exclude each other (the cluster has its own workers)")
    if scheduler is not None and not scheduler.strip():
        raise OptionError("--scheduler needs an address such as tcp://host:8786")
    if verify not in VERIFY_MODES:
        raise OptionError(f"--verify must be one of {', '.join(VERIFY_MODES)}, got {verify!r}")
    from dsdit_geo.pipeline import validate_options  # heavy (torch, rasterio)

    validate_options(options)


@contextlib.contextmanager
def _locked(outdir: str) -> Iterator[None]:
    """Create OUTDIR and hold an exclusive lock on it for the batch (advisory, where supported)."""
    try:
        os.makedirs(outdir, exist_ok=True)
        handle = open(os.path.join(outdir, LOCK_NAME), "a")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise OutputError(f"cannot use the output folder {outdir}: {exc.strerror or exc}") from None
    with handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError(f"another batch is writing to {outdir}: wait for it to finish") from None
            except OSError:
                pass  # a filesystem without locks (some network mounts): go on unlocked
        yield


def remove_temporaries(items: list[BatchItem]) -> list[str]:
    """Delete hidden temporary files left beside the items' outputs by a killed run; returns them."""
    by_folder: dict[str, set[str]] = {}
    for item in items:
        for path in filter(None, (item.out, item.trust_map)):
            by_folder.setdefault(os.path.dirname(path), set()).add(os.path.basename(path))
    removed = []
    for folder, names in by_folder.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        pattern = temp_pattern(names)  # raster/temps.py: '.<name>.<8 hex>[.p<pid>].strips.tif' ...
        for entry in entries:
            if pattern.match(entry):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, entry))
                    removed.append(os.path.join(folder, entry))
    return removed


def _progress(total: int, enabled: bool) -> tqdm:
    """The bar over items: on stderr when it is a terminal (a log file gets the failure lines
    and the summary, not carriage-return redraws)."""
    return tqdm(
        total=total,
        unit="item",
        desc="batch",
        file=sys.stderr,
        disable=not (enabled and sys.stderr.isatty()),
        dynamic_ncols=True,
        position=0,
    )
