"""SIGTERM handled like Ctrl-C, and signals held back while a file is being finished.

- `sigterm_as_interrupt()`: inside it SIGTERM raises `Terminated` (a KeyboardInterrupt), so the
  clean-up that Ctrl-C gets (temporary files removed) runs for `kill` too; the CLI exits 143.
- `deferred_signals()`: inside it SIGINT / SIGTERM are only recorded and re-delivered at its
  end. GDAL's long calls (the COG copy) call back into Python; an exception raised inside such a
  callback is printed and swallowed, and the run would then go on and succeed. Held back, the
  signal stops the run before anything is published.
Both act only in the main thread (Python delivers signals there); elsewhere they do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

TERMINATED_EXIT_CODE = 143  # 128 + SIGTERM
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM was received (raised in the main thread like Ctrl-C's KeyboardInterrupt)."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises Terminated inside the block (main thread only)."""
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Record SIGINT / SIGTERM inside the block; re-deliver them (first one first) at its end."""
    if not _main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be restored from here
                signal.signal(sig, handler)
        for sig in dict.fromkeys(received):
            signal.raise_signal(sig)
