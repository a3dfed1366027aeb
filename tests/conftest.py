"""Shared fixtures. Tiny rasters are written in tmp dirs by the tests that need them."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# A shell starts background jobs (`pytest &`) with SIGINT ignored, and Python then keeps it
# ignored; the signal tests need Ctrl-C to raise KeyboardInterrupt as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout; tests using it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA
