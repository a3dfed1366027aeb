"""The batch's account of itself: the JSON-lines log and the closing summary.

Log records (one line per item, written and flushed as each item finishes, so a killed run
leaves a log of what it finished): index (0-based manifest position), lr, ref, out,
status (done | skipped | failed), error (one line, or null), seconds (wall time),
megapixels (of the output; null when it failed). The log file is replaced by each run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from dsdit_geo.errors import OutputError

RECORD_FIELDS = ("index", "lr", "ref", "out", "status", "error", "seconds", "megapixels")


class JsonLinesLog:
    """Writes one JSON object per line to `path` (nothing when path is None); use `open_log`."""

    def __init__(self, handle: TextIO | None) -> None:
        self._handle = handle

    def write(self, record: dict) -> None:
        if self._handle is None:
            return
        line = json.dumps({key: record.get(key) for key in RECORD_FIELDS}, ensure_ascii=False)
        self._handle.write(line + "\n")
        self._handle.flush()


@contextlib.contextmanager
def open_log(path: str | None) -> Iterator[JsonLinesLog]:
    """A JsonLinesLog replacing the file at `path` (OutputError when it cannot be written)."""
    if path is None:
        yield JsonLinesLog(None)
        return
    try:
        handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise OutputError(f"cannot write the log {path}: {exc.strerror or exc}") from None
    with handle:
        yield JsonLinesLog(handle)


@dataclass
class BatchSummary:
    """Counts and totals over a batch's records (megapixels count outputs written this run)."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    megapixels: float = 0.0
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)

    def add(self, record: dict) -> None:
        status = record["status"]
        if status == "done":
            self.done += 1
            self.megapixels += record.get("megapixels") or 0.0
        elif status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append(record)

    @property
    def total(self) -> int:
        return self.done + self.skipped + self.failed

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def text(self) -> str:
        """One line, e.g. 'Batch: 3 done, 1 skipped, 1 failed of 5 items; 1.2 MP written in 4.0 s'."""
        rate = f" ({self.megapixels / self.seconds:.2f} MP/s)" if self.done and self.seconds > 0 else ""
        return (
            f"Batch: {self.done} done, {self.skipped} skipped, {self.failed} failed of {self.total} items; "
            f"{self.megapixels:.2f} MP written in {self.seconds:.1f} s{rate}"
        )


def failure_line(record: dict) -> str:
    """'Failed: <lr name> + <ref name>: <error>' for the terminal."""
    lr = os.path.basename(str(record["lr"]).rstrip("/")) or record["lr"]
    ref = os.path.basename(str(record["ref"]).rstrip("/")) or record["ref"]
    return f"Failed: {lr} + {ref}: {record.get('error')}"
