"""An attempt's masking writer: what a step with secrets prints reaches its log with each value as `***`.

A small process forked by the starter (zygote.py), outside the attempt's process group, so killing the
attempt (its timeout) cannot kill it; it writes what came, masked, into the log. The starter says the
attempt ended only once that writer has written everything and exited, so the log orch reads the
attempt's last line from is complete and masked. Standard library only (orch.core.secrets when used).
"""

from __future__ import annotations

import os
import select
import signal

from orch.backends.codeunpack import write_all

DRAIN_READS = 256  # reads of 64 KiB a masking writer makes after its attempt ended: far over a pipe's buffer


class Tee:
    """An attempt's masking writer, as the starter sees it: its pid (None once reaped), the pipe whose
    closing tells it the attempt ended, and the attempt's exit status, held until the writer is done."""

    def __init__(self, pid: int, control: int):
        self.pid, self.control, self.code = pid, control, None

    def close(self) -> None:
        if self.control is not None:
            os.close(self.control)
            self.control = None


def start_masker(request: dict, values: list, tees: dict) -> int:
    """Fork the attempt's masking writer; the write end of its pipe (the attempt's stdout and stderr).

    The writer is the starter's child in the starter's process group, not the attempt's: a timeout
    kills the attempt's group, and the writer, reading on, sees the pipe end and writes the rest.
    It also stops, once the pipe is empty, when told the attempt ended (`control` closed), so a
    daemon the step left holding the pipe cannot keep the attempt from ending."""
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    data_r, data_w = os.pipe()
    control_r, control_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (log, data_r, data_w, control_r, control_w):
            os.close(fd)
        raise
    if pid == 0:
        try:
            os.close(data_w)
            os.close(control_w)
            become_masker(data_r, control_r, log, values)
        finally:
            os._exit(0)
    for fd in (log, data_r, control_r):
        os.close(fd)
    os.set_inheritable(control_w, False)
    tees[request["id"]] = Tee(pid, control_w)
    return data_w


def become_masker(data: int, control: int, log: int, values: list) -> None:
    """The masking writer: the attempt's output to its log, each secret value as `***`, until the pipe ends
    (everyone that could write to it is gone) or the starter says the attempt ended and the pipe is empty."""
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    keep = sorted({data, control, log})
    for low, high in zip([2] + keep, keep + [1 << 16]):
        os.closerange(low + 1, high)  # the starter's other pipes (orch's, other attempts') are not its to hold
    from orch.core.secrets import Masker

    mask = Masker(values)
    left = None  # once the attempt ended: how many more reads (a daemon writing on cannot hold it here)
    while left is None or left > 0:
        readable, _, _ = select.select([data] if left is not None else [data, control], [], [], None if left is None else 0)
        if data not in readable:
            if left is None and control in readable:  # the attempt ended: take what the pipe holds, no more
                left = DRAIN_READS
                continue
            break
        left = None if left is None else left - 1
        chunk = os.read(data, 1 << 16)
        if not chunk:
            break
        write_all(log, mask.feed(chunk))
    write_all(log, mask.flush())
