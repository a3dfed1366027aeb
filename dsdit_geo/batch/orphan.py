"""Pool workers end when the batch process that started them dies (killed, OOM, SIGKILL).

`exit_with_parent()` starts a daemon thread that polls `os.getppid()`: once the parent is gone
(the worker was re-parented to init or a subreaper) it ends the worker with `os._exit`, so no
orphan keeps writing. On Linux it also asks the kernel (prctl PR_SET_PDEATHSIG) to send SIGKILL
when the parent goes, which acts at once; the thread covers other systems and the case where
the parent died before prctl was set. Hidden temporaries the worker leaves are removed by the
next run on the same output.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

POLL_S = 1.0
ORPHAN_EXIT_CODE = 143
_PR_SET_PDEATHSIG = 1


def exit_with_parent(poll_s: float = POLL_S, *, use_prctl: bool = True) -> threading.Thread:
    """Make this process end when its current parent process ends; returns the watch thread."""
    parent = os.getppid()
    if use_prctl:
        _set_pdeathsig()
    thread = threading.Thread(
        target=_watch, args=(parent, poll_s), name="dsdit-geo-parent-watch", daemon=True
    )
    thread.start()
    return thread


def _set_pdeathsig() -> bool:
    """Linux only: SIGKILL this process when its parent thread ends (best effort)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, poll_s: float) -> None:
    stop = threading.Event()
    while not stop.wait(poll_s):
        if os.getppid() != parent:
            os._exit(ORPHAN_EXIT_CODE)
