"""The executor's side of the zygote: start attempts, hear when they start and end, kill them.

Everything read from the zygote is checked: its output pipe can be written to by the steps
it starts (/proc/PID/fd/1), so a line that is not a well-formed message is dropped, and a
`pid` is believed only for a process that is the zygote's child leading its own group.
The zygote dying (a step killed it) is not an error here: `dead` says so, and the executor
fails the attempts it was running and starts another zygote when it needs one.
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Optional

from orch.core.secrets import PREFIX as SECRET_PREFIX

LIVENESS_CHECK_S = 1.0  # how often a quiet zygote is checked to be alive (a step may hold its output open)
MAX_LINE = 1 << 20  # longer is not one of its messages (they are a few dozen bytes)


class Zygote:
    """A running `orch.backends.local.zygote` process."""

    def __init__(self, stores: tuple[str, ...] = (), preload: tuple[str, ...] = ()):
        """`stores`: the artifact stores its attempts reach; `preload`: zygote.py's flags (--mask, --code,
        --packages) for what the run's attempts do. Its environment has no ORCH_SECRET_* variable: an attempt
        gets the secrets its step names, in its request, and no others."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orch.backends.local.zygote", *preload, *stores],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
            env={k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIX)},
            start_new_session=True,  # Ctrl-C reaches orch, which stops the attempts itself
        )
        self.pid = self.process.pid
        self.dead = False  # it ended on its own: nothing more will come from it
        self._buffer = b""
        self._out = self.process.stdout.fileno()

    def start(self, request: dict) -> None:
        """Ask for an attempt; if the zygote is dead, nothing happens and `messages` says it died."""
        try:
            self.process.stdin.write(("\n" + json.dumps(request, default=str) + "\n").encode())
            self.process.stdin.flush()
        except (OSError, ValueError):  # BrokenPipeError; ValueError: the pipe was closed
            pass

    def messages(self, timeout: Optional[float]) -> list[dict]:
        """What the zygote said, waiting at most `timeout` seconds (None: until it says something).

        Only well-formed messages come back; when it has died, `dead` is set and the messages
        it wrote before dying are still returned.
        """
        if self.dead:
            return []
        limit = LIVENESS_CHECK_S if timeout is None else min(timeout, LIVENESS_CHECK_S)
        ended = False
        readable, _, _ = select.select([self._out], [], [], limit)
        if readable:
            ended = not self._read()
        if not ended and self.process.poll() is not None:
            ended = True  # gone, though a step may still hold its output open: take what is there now
            while select.select([self._out], [], [], 0)[0] and self._read():
                pass
        if ended:
            self.dead = True
            self._buffer += b"\n"
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > MAX_LINE:
            self._buffer = b""
        return [m for m in map(_message, lines) if m is not None]

    def _read(self) -> bool:
        """Read what is there; False at end of file."""
        chunk = os.read(self._out, 1 << 16)
        self._buffer += chunk
        return bool(chunk)

    def exit_reason(self) -> str:
        """How it ended; its output closes a moment before the kernel has its exit status, so wait a little."""
        try:
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "closed its output"
        return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"

    def close(self) -> None:
        """Close its input: it kills whatever still runs, then exits."""
        try:
            self.process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - it only waits for SIGKILLed children
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


def _message(line: bytes) -> Optional[dict]:
    """{"id": N, "pid": P} or {"id": N, "status": S} with integers, else None."""
    if not line.strip() or len(line) > MAX_LINE:
        return None
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or type(message.get("id")) is not int:
        return None
    if type(message.get("pid")) is int and message["pid"] > 0:
        return {"id": message["id"], "pid": message["pid"]}
    if type(message.get("status")) is int and "pid" not in message:
        return {"id": message["id"], "status": message["status"]}
    return None


def kill_group(pid: int) -> None:
    if pid <= 1:  # never a group anyone here started: killpg(0 or 1) would reach far too much
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _stat(pid: int) -> Optional[list[str]]:
    """The fields of /proc/PID/stat after the command name (Linux), None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def started_at(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (Linux), to tell it from a reused pid."""
    fields = _stat(pid)
    return None if fields is None else fields[19]


def is_child_group_leader(pid: int, parent: int) -> bool:
    """Whether `pid` is a child of `parent` leading its own process group: what an attempt the zygote
    reports is. True where there is no /proc to ask (the report is then taken as it is)."""
    fields = _stat(pid)
    if fields is None:
        return not os.path.isdir("/proc/self")
    return int(fields[1]) == parent and int(fields[2]) == pid


def kill_if_same(pid: int, recorded: Optional[str]) -> None:
    """Kill the process group of an attempt a killed orch left behind, if it is still that process."""
    if recorded is not None and started_at(pid) == recorded:
        kill_group(pid)


def read_regular_file(path: Path, limit: int, *, tail: bool = False) -> Optional[bytes]:
    """At most `limit` bytes of a regular file (its last ones with `tail`); None if it does not exist.

    Opened without blocking and checked to be a regular file before it is read, so what a step
    left in its place (a FIFO, a folder, /dev/zero, a socket) raises ValueError, never hangs,
    and every failure is an OSError naming the path, or that ValueError.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"is {_kind(info.st_mode)}, not a regular file")
        if tail and info.st_size > limit:
            os.lseek(fd, info.st_size - limit, os.SEEK_SET)
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a file"


def read_pid_file(path: Path) -> tuple[Optional[int], Optional[str]]:
    """An attempt's `PID STARTTIME` file (zygote.py): (pid, start time), (None, None) if unreadable."""
    try:
        fields = (read_regular_file(path, 100) or b"").decode().split()
        pid = int(fields[0])
    except (OSError, ValueError, IndexError):
        return None, None
    started = fields[1] if len(fields) > 1 and fields[1] != "-" else None
    return (pid, started) if pid > 1 else (None, None)
