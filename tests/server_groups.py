"""What the session's server fixtures share: a server stops once the last test of its xdist group has run, not
at the session's end; a process group signalled; SIGTERM unwinding as an exit.

The tests that use a server (the `prefect-server` and `airflow-server` groups) run one after another on the
worker that owns it (`--dist loadgroup`); idle, a scheduler, a dag-processor and a Prefect server still take
much of two cores from every test after them. Each server fixture registers its stop under its group's name;
the stop is idempotent, so the fixture's own teardown at the session's end still runs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

STOPS: dict = {}  # xdist group name -> the stop of the server its tests share


def _group(item):
    if item is None:
        return None
    mark = item.get_closest_marker("xdist_group")
    return mark.args[0] if mark and mark.args else None


def pytest_runtest_teardown(item, nextitem):
    group = _group(item)
    if group in STOPS and _group(nextitem) != group:
        STOPS.pop(group)()


def signal_group(pid: int, sig: int) -> None:
    """`sig` to the process group `pid` leads, if it is still there."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def exit_on_sigterm() -> None:
    """SIGTERM (a CI's cancel) unwinds as an exit, so the finally and atexit stops run; Python's default dies silently."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
