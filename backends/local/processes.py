"""The executor's side of the zygote: start attempts, hear when they start and end, kill them."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional


class Zygote:
    """A running `orch.backends.local.zygote` process."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orch.backends.local.zygote"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
            start_new_session=True,  # Ctrl-C reaches orch, which stops the attempts itself
        )
        self._buffer = b""
        self._out = self.process.stdout.fileno()

    def start(self, request: dict) -> None:
        self.process.stdin.write((json.dumps(request, default=str) + "\n").encode())
        self.process.stdin.flush()

    def messages(self, timeout: Optional[float]) -> list[dict]:
        """What the zygote said, waiting at most `timeout` seconds (None: until it says something)."""
        readable, _, _ = select.select([self._out], [], [], timeout)
        if not readable:
            return []
        chunk = os.read(self._out, 1 << 16)
        if not chunk:
            raise RuntimeError("the local backend's process starter died")
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def close(self) -> None:
        """Close its input: it kills whatever still runs, then exits."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - it only waits for SIGKILLed children
            self.process.kill()


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def started_at(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (Linux), to tell it from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def kill_if_same(pid: int, recorded: Optional[str]) -> None:
    """Kill the process group of an attempt a killed orch left behind, if it is still that process."""
    if recorded is not None and started_at(pid) == recorded:
        kill_group(pid)
