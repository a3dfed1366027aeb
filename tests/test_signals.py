"""SIGTERM raised like Ctrl-C; signals held back (not lost) while a file is being finished."""

from __future__ import annotations

import os
import signal

import pytest

from dsdit_geo.signals import Terminated, deferred_signals, sigterm_as_interrupt


def test_sigterm_raises_terminated_inside_and_is_restored_after():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before
    assert issubclass(Terminated, KeyboardInterrupt)


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)])
def test_deferred_signals_take_effect_at_the_end(signum, raised):
    finished = []
    with pytest.raises(raised), sigterm_as_interrupt():
        with deferred_signals():
            os.kill(os.getpid(), signum)
            finished.append("the critical section ran to its end")
        finished.append("not reached")
    assert finished == ["the critical section ran to its end"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
