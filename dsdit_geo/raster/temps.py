"""Hidden temporary files beside an output: their names, and removing those of dead runs.

A temporary of output `NAME` is `.NAME.<8 hex>.p<pid><suffix>` (suffix `.strips.tif`, `.cog.tif`,
`.prev.tif` (the file an output replaced, kept until its companions are published) or
`.probe`), plus GDAL side files after it (`.ovr.tmp`, `.aux.xml`, `.msk`). The PID names the
process that owns it, so a later run on the same output can tell a killed run's leftovers (owner
not running) from a live run's files. Names without a PID (older versions) count as stale once
untouched for `STALE_AFTER_S`; a running owner's files only after `REUSED_PID_AFTER_S` (the PID
was then reused). The PID test holds on one machine only: on a folder
shared by several machines, a live run on another host can look dead to this one.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterable

STALE_AFTER_S = 6 * 3600  # a temporary without an owner PID, untouched this long, is a dead run's
REUSED_PID_AFTER_S = 7 * 24 * 3600  # a live owner PID this old has been reused by another process
SUFFIX_PATTERN = r"\.[0-9a-f]{8}(?:\.p(?P<pid>\d+))?\.(?:strips\.tif|cog\.tif|prev\.tif|probe)(?:\..*)?"


def temp_name(name: str, suffix: str) -> str:
    """A fresh hidden name for a temporary of output file `name` owned by this process."""
    return f".{name}.{secrets.token_hex(4)}.p{os.getpid()}{suffix}"


def temp_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """Matches the temporaries (and their side files) of any of the output file `names`."""
    alternatives = "|".join(map(re.escape, sorted(set(names))))
    return re.compile(r"^\.(?:" + alternatives + ")" + SUFFIX_PATTERN + r"\Z")


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID runs on this machine (permission errors count as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def is_stale(path: str, pid: int | None, now: float | None = None) -> bool:
    """A temporary at `path` owned by `pid` (None: unknown) belongs to a dead run."""
    if pid == os.getpid():
        return False
    if pid is not None and not pid_alive(pid):
        return True
    try:
        age = (time.time() if now is None else now) - os.lstat(path).st_mtime
    except OSError:
        return False
    return age > (STALE_AFTER_S if pid is None else REUSED_PID_AFTER_S)


def remove_stale(out_path: str) -> list[str]:
    """Delete the temporaries of dead runs beside `out_path`; returns the removed paths."""
    folder, name = os.path.split(os.path.abspath(out_path))
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    pattern = temp_pattern([name])
    removed = []
    for entry in entries:
        match = pattern.match(entry)
        if not match:
            continue
        path = os.path.join(folder, entry)
        pid = int(match.group("pid")) if match.group("pid") else None
        if is_stale(path, pid):
            with contextlib.suppress(OSError):
                os.remove(path)
                removed.append(path)
    return removed
