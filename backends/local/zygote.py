"""The local backend's process starter: forks one process per attempt, fast.

Started once per run (`python -m orch.backends.local.zygote`), it imports only the
standard library, so a fork costs about a millisecond where a fresh interpreter costs
twenty. Each attempt runs in its own session (a timeout kills its whole process group),
with stdout and stderr in its log file. It speaks JSON lines:

    in : {"id": N, "kind": "python"|"command", ...}      start an attempt
    out: {"id": N, "pid": P}                              it started
    out: {"id": N, "status": S}                           it ended (S < 0: killed by signal -S)

When its input closes -- the run ended, or orch itself was killed -- it kills every
attempt still running and exits, so nothing outlives the run unseen.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import traceback


def main() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is orch's to handle
    children: dict[int, int] = {}  # pid -> attempt id
    buffer = b""
    stdin = sys.stdin.fileno()
    while True:
        readable, _, _ = select.select([stdin, read_fd], [], [])
        if read_fd in readable:
            os.read(read_fd, 4096)
        _reap(children)
        if stdin in readable:
            chunk = os.read(stdin, 65536)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    request = json.loads(line)
                    pid = _start(request)
                    children[pid] = request["id"]
                    _say({"id": request["id"], "pid": pid})
    for pid in children:
        _kill_group(pid)
    while children:
        _reap(children, block=True)


def _reap(children: dict[int, int], block: bool = False) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        attempt = children.pop(pid, None)
        if attempt is not None:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _say({"id": attempt, "status": code})


def _say(message: dict) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _start(request: dict) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        try:
            _become_attempt(request)
        except OSError as err:  # its log cannot be made (a full disk): say so as the attempt's error
            _write_result(request["result"], {"ok": False, "error": f"cannot start the attempt: {err}"})
            os._exit(1)
        code = _run(request)
    except BaseException:  # noqa: BLE001 - a child must always end here, never return to the loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _become_attempt(request: dict) -> None:
    """Own session, default signals, stdin from /dev/null, stdout and stderr to the log."""
    os.setsid()
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # each attempt has its own file
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 1 << 16)
    sys.stdout.reconfigure(line_buffering=True)  # a killed attempt keeps what it printed
    os.environ.update(request["env"])


def _run(request: dict) -> int:
    if request["kind"] == "command":
        argv = request["argv"]
        try:
            os.execvp(argv[0], argv)
        except OSError as err:
            _write_result(request["result"], {"ok": False, "error": f"cannot run {argv[0]!r}: {err.strerror}"})
            return 127
    sys.path.insert(0, request["path"])
    module_name, function_name = request["python"].split(":")
    try:
        import importlib

        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as err:
        traceback.print_exc()
        _write_result(request["result"], {"ok": False, "error": f"cannot load {request['python']}: {type(err).__name__}: {err}"})
        return 1
    try:
        returned = function(**request["args"])
    except BaseException as err:  # noqa: BLE001 - the step's own failure, reported as such
        traceback.print_exc()
        _write_result(request["result"], {"ok": False, "error": f"{type(err).__name__}: {err}"})
        return 1
    try:
        _write_result(request["result"], {"ok": True, "returned": returned})
    except (TypeError, ValueError) as err:
        _write_result(request["result"], {"ok": False, "error": f"the return value is not JSON data: {err}"})
        return 1
    return 0


def _write_result(path: str, result: dict) -> None:
    text = json.dumps(result, default=_plain, allow_nan=False)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _plain(value):
    """numpy scalars and arrays, and other objects that know their plain value.

    The Argo bootstrap has the same five lines: this process must import nothing of orch.
    """
    for method in ("item", "tolist"):
        if hasattr(value, method):
            return getattr(value, method)()
    raise TypeError(f"{type(value).__name__} is not JSON data")


if __name__ == "__main__":
    main()
