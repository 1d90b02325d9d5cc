"""Stop the step processes this process started, when a run on an engine is interrupted.

Each step attempt runs in its own session (steprun.py), so a Ctrl-C meant for orch never
reaches it, and a worker thread waiting on it would keep the process alive until it ends.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def kill_step_processes(parent: int | None = None) -> None:
    """SIGKILL the process group of every child of `parent` (this process) that leads its own session."""
    me = str(parent or os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent, session = int(stat.parent.name), fields[1], int(fields[3])
        if parent == me and session == pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
