"""A batch worker ends when its parent process dies, instead of writing on as an orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

# parent: starts a child that watches it, prints the child's PID, then waits to be killed;
# the child prints 'ready' once it watches.
PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
    print(child.pid, flush=True)
    time.sleep(60)
    """
)
CHILD = textwrap.dedent(
    """
    import time
    from dsdit_geo.batch.orphan import exit_with_parent
    exit_with_parent(0.1, use_prctl={use_prctl})
    print("ready", flush=True)  # to the pipe it shares with its parent
    time.sleep(60)
    """
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.parametrize("use_prctl", [False, True])
def test_the_worker_dies_with_its_parent(use_prctl):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD.format(use_prctl=use_prctl)], stdout=subprocess.PIPE, text=True
    )
    child = int(parent.stdout.readline())
    assert parent.stdout.readline().strip() == "ready" and alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(child):
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its parent")


def test_pool_workers_watch_their_parent(monkeypatch):
    from dsdit_geo.batch import placement, task

    calls = []
    monkeypatch.setattr(task, "exit_with_parent", lambda: calls.append("watch"))
    monkeypatch.setattr(placement, "configure_process", lambda slot, threads: calls.append(slot))

    class Slots:
        def get(self):
            return 3

    task.init_pool_worker(Slots(), 1)
    assert calls == ["watch", 3]
