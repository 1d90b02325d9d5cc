"""One process per run: an exclusive flock on `runs/RUN_ID/lock`, held for the process's life.

The kernel drops a flock when its holder dies (SIGKILL included), so a dead holder's lock
is simply taken; the holder's pid is written in the file so a refused process can name it.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Optional

from orch.core.errors import UsageError

LOCK_NAME = "lock"
_PROBE_GRACE = 0.25  # seconds a refused locker waits out a `runs list` that only probes the lock


class RunLock:
    """The held lock of one run; `release()` (or the process's end) lets it go."""

    def __init__(self, fd: int, path: Path):
        self.fd, self.path = fd, path

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def acquire(run_dir: Path, run_id: str) -> RunLock:
    """Hold the run's lock, or UsageError (exit 2) naming the live holder's pid."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + _PROBE_GRACE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                pid = holder_pid(run_dir)
                raise UsageError(f"run {run_id} is in progress, pid {pid if pid else 'unknown'}; "
                                 "wait for it to end, or stop that process first") from None
            time.sleep(0.02)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return RunLock(fd, path)


def is_held(run_dir: Path) -> bool:
    """Whether a live process holds the run's lock (probed without keeping it)."""
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # never locked (a run recorded before locks existed): no live holder
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's shared lock at once
    return False


def holder_pid(run_dir: Path) -> Optional[int]:
    """The pid the current holder wrote; None when it has not written it yet."""
    for _ in range(10):
        try:
            text = (run_dir / LOCK_NAME).read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.01)  # the holder is between truncating and writing
    return None
