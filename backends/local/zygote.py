"""The local backend's process starter: forks one process per attempt, fast.

Started once per run (`python -m orch.backends.local.zygote [STORE...]`), it imports only the
standard library -- and, for a run whose steps pass artifacts, orch's transfer code and the
stores' clients -- so a fork costs about a millisecond where a fresh interpreter costs
twenty. Each attempt runs in its own session (process group), with stdout and stderr in
its log file. It speaks JSON lines:

    in : {"id": N, "kind": "python"|"command", ...}      start an attempt
    out: {"id": N, "pid": P}                              it started
    out: {"id": N, "status": S}                           it ended (S < 0: killed by signal -S)

An attempt can be killed from the moment anyone can know its pid: the child makes its
session and writes its pid file (`attempt-N.pid`: pid and start time, for a resume to
kill it should everything else be gone) before the starter goes on, so the starter only
says `pid` -- and only lets orch move on -- once `killpg(pid)` reaches the attempt.

When an attempt ends, whatever is left in its process group (a background job it
started) is killed with it, as a pod's processes end with its container; a process that
made a session or group of its own (a daemon) has left the attempt and is not followed.

When its input closes -- the run ended, or orch itself was killed -- or it gets SIGTERM
or SIGHUP, or it cannot write to orch any more, it kills every attempt still running and
exits, so nothing outlives the run unseen. Its input and output are reachable by the
steps it starts (/proc/PID/fd): a line that is not a well-formed request is ignored, and
each message goes out as one atomic write preceded by a newline, so whatever a step
writes there cannot swallow a real message. If the starter dies anyway (a step kills
it), orch fails the attempts it was running and starts a new one (executor.py).

An attempt whose step has secrets writes through a masking writer (masking.py); the starter says it
ended only once that writer has written everything. A run that ships code or installs packages
prepares each attempt inside it, under its timeout (placing.py).
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import traceback

from orch.backends.codeunpack import write_all
from orch.backends.local.masking import Tee, start_masker
from orch.backends.local.placing import prepare


class _OrchGone(Exception):
    """orch's end of our output closed: it is gone, stop and clean up."""


_LAUNCH_PATH = None  # sys.path[0] as `python -m` set it (the folder orch ran in): not a shipped step's to import from
_MASK = None  # in an attempt with secrets: their Masker, for the error its result file says


def main() -> None:
    global _LAUNCH_PATH
    _LAUNCH_PATH = sys.path[0] if sys.path and sys.path[0] in ("", os.getcwd()) else None
    _preload([a for a in sys.argv[1:] if not a.startswith("--")], {a for a in sys.argv[1:] if a.startswith("--")})
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is orch's to handle
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    children: dict[int, int] = {}  # pid -> attempt id
    tees: dict[int, Tee] = {}  # attempt id -> its masking writer
    try:
        _serve(children, tees, read_fd)
    except _OrchGone:
        pass
    finally:
        for tee in tees.values():
            tee.close()  # each writer takes what its pipe holds and exits
        for pid in children:
            _kill_group(pid)
            _kill(pid)  # (a child is in its own group before its pid is in `children` for long, but be sure)
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break


def _preload(stores: list, flags: set) -> None:
    """Import, once before any fork, what the attempts need to reach these artifact stores: orch's transfer code
    (with orch.core, 150 ms) and, for an object store, fsspec and its client (s3fs: half a second). No client
    is made here: a thread it started would not survive the fork. `--mask` (a step has secrets): the masker;
    `--code` (the run ships code): the code's fetching and unpacking; `--packages`: the envs' builder."""
    wanted = {"--mask": ("orch.core.secrets",), "--code": ("orch.backends.workspace",),
              "--packages": ("orch.backends.pyenv", "orch.backends.workspace")}
    for flag in sorted(flags):
        for module in wanted.get(flag, ()):
            try:
                __import__(module)
            except Exception:  # noqa: BLE001 - the attempt reports it, with the step's name
                pass
    for store in stores:
        try:
            import orch.backends.transfer  # noqa: F401

            if "://" in store and not store.startswith("file://"):
                import fsspec

                fsspec.get_filesystem_class(store.split("://", 1)[0])
        except Exception:  # noqa: BLE001 - the attempt reports it, with the step's name
            pass


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def _serve(children: dict[int, int], tees: dict, wakeup_fd: int) -> None:
    buffer = b""
    stdin = sys.stdin.fileno()
    while True:
        readable, _, _ = select.select([stdin, wakeup_fd], [], [])
        if wakeup_fd in readable:
            os.read(wakeup_fd, 4096)
        _reap(children, tees)
        if stdin in readable:
            chunk = os.read(stdin, 65536)
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                request = _request(line)
                if request is None:
                    continue
                pid = _start(request, children, tees)
                _say({"id": request["id"], "pid": pid} if pid else {"id": request["id"], "status": 1})


def _request(line: bytes):
    """A well-formed request, or None for anything else (an empty line, or what a step wrote here)."""
    if not line.strip():
        return None
    try:
        request = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if (not isinstance(request, dict) or type(request.get("id")) is not int
            or request.get("kind") not in ("python", "command")
            or not all(isinstance(request.get(key), str) for key in ("log", "result"))
            or not isinstance(request.get("env"), dict)):
        return None
    return request


def _reap(children: dict[int, int], tees: dict) -> None:
    """Report each attempt that ended, after killing what is left of its process group.

    The ended child is found with WNOWAIT and killed as a group before it is reaped: until
    then its pid (so its group's id) cannot be taken by another process. An attempt with a
    masking writer is reported when both have ended: the writer is told (its control pipe
    closed) once the attempt is gone, and its end is the attempt's.
    """
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == 0:
            return
        pid = info.si_pid
        writer = next((a for a, tee in tees.items() if tee.pid == pid), None)
        if writer is not None:
            os.waitpid(pid, 0)
            _writer_ended(writer, tees)
            continue
        _kill_group(pid)
        _, status = os.waitpid(pid, 0)
        attempt = children.pop(pid, None)
        if attempt is not None:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            tee = tees.get(attempt)
            if tee is not None and tee.pid is not None:
                tee.code = code
                tee.close()  # the writer takes what the pipe holds, then ends: then the attempt is said to end
            else:
                tees.pop(attempt, None)
                _say({"id": attempt, "status": code})


def _writer_ended(attempt: int, tees: dict) -> None:
    """A masking writer ended: its attempt's end is said now if it came first (else when it comes)."""
    tee = tees[attempt]
    tee.pid = None
    if tee.code is not None:
        del tees[attempt]
        _say({"id": attempt, "status": tee.code})


def _say(message: dict) -> None:
    """One write of at most PIPE_BUF bytes, so atomic; the leading newline ends whatever a step left unended."""
    try:
        os.write(1, ("\n" + json.dumps(message) + "\n").encode())
    except OSError:
        raise _OrchGone from None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _start(request: dict, children: dict[int, int], tees: dict):
    """Fork the attempt (and its masking writer first, when it has secrets); return its pid once it is in its
    own session, or None if it could not be forked."""
    masked = _masked(request)
    try:
        output = start_masker(request, masked, tees) if masked else None
    except OSError as err:  # its log cannot be made (a full disk), or no fork
        _cannot_start(request, err)
        return None
    ready_r, ready_w = os.pipe()
    try:
        pid = os.fork()
    except OSError as err:  # out of processes or memory: the attempt fails, the run goes on
        os.close(ready_r)
        os.close(ready_w)
        if output is not None:
            os.close(output)
            tees.pop(request["id"]).close()  # the writer ends on its own, unreported
        _cannot_start(request, err)
        return None
    if pid:
        children[pid] = request["id"]
        if output is not None:
            os.close(output)
        os.close(ready_w)
        try:
            os.read(ready_r, 1)  # end of file once the child has its session and pid file (or died)
        finally:
            os.close(ready_r)
        return pid
    code = 1
    try:
        os.close(ready_r)
        try:
            os.setsid()
            _write_pid_file(request.get("pidfile"))
            os.close(ready_w)  # the starter may go on: killpg(pid) now reaches this attempt
            _become_attempt(request, output, masked)
        except OSError as err:  # its log cannot be made (a full disk): say so as the attempt's error
            _write_result(request["result"], {"ok": False, "error": f"cannot start the attempt: {err}"})
            os._exit(1)
        failure = prepare(request, _LAUNCH_PATH)
        lost = {"not_run": True} if request.get("not_run") is True else {}
        code = _answer(request, 1, {"ok": False, "error": failure, **lost}) if failure else _run(request)
    except BaseException:  # noqa: BLE001 - a child must always end here, never return to the loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _cannot_start(request: dict, err: OSError) -> None:
    try:
        _write_result(request["result"], {"ok": False, "error": f"cannot start the attempt: {err.strerror or err}"})
    except OSError:
        pass


def _masked(request: dict) -> list:
    """The secret values to mask in the attempt's log (none: it writes its log directly)."""
    values = request.get("mask")
    return [v for v in values if isinstance(v, str) and v] if isinstance(values, list) else []


def _write_pid_file(path) -> None:
    """`PID STARTTIME`: what a resume needs to kill this attempt if orch and the starter are both gone."""
    if not isinstance(path, str):
        return
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            started = handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        started = "-"  # no /proc (macOS): nothing can tell this process from a reused pid
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, f"{pid} {started}\n".encode())
    finally:
        os.close(fd)


def _become_attempt(request: dict, output, masked: list) -> None:
    """Default signals, stdin from /dev/null, stdout and stderr to the log, or to its masking writer's pipe
    (`output`) when it has secrets (its session is made already)."""
    global _MASK
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    null = os.open(os.devnull, os.O_RDONLY)
    if output is None:
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # each attempt has its own file
    else:
        from orch.core.secrets import Masker

        log, _MASK = output, Masker(masked)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 1 << 16)
    sys.stdout.reconfigure(line_buffering=True)  # a killed attempt keeps what it printed
    os.environ.update(request["env"])


def _run(request: dict) -> int:
    if isinstance(request.get("artifacts"), dict):
        return _run_with_artifacts(request, request["artifacts"])
    if request["kind"] == "command" and isinstance(request.get("stdout"), str) and type(request.get("keep")) is int:
        return _run_teeing(request)
    if request["kind"] == "command":
        argv = request["argv"]
        try:
            os.execvp(argv[0], argv)
        except OSError as err:
            _write_result(request["result"], {"ok": False, "error": f"cannot run {argv[0]!r}: {err.strerror}"})
            return 127
    code, result = _call_python(request)
    return _answer(request, code, result)


def _call_python(request: dict) -> tuple[int, dict]:
    """Call the step's function: its exit status and what the result file should say."""
    sys.path.insert(0, request["path"])
    module_name, function_name = request["python"].split(":")
    try:
        import importlib

        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as err:
        traceback.print_exc()
        return 1, {"ok": False, "error": f"cannot load {request['python']}: {type(err).__name__}: {err}"}
    try:
        returned = function(**request["args"])
    except BaseException as err:  # noqa: BLE001 - the step's own failure, reported as such
        traceback.print_exc()
        return 1, {"ok": False, "error": f"{type(err).__name__}: {err}"}
    return 0, {"ok": True, "returned": _fields(returned)}


def _fields(value):
    """A NamedTuple or a dataclass returned as the dict of its fields: a typed step's outputs (builder.outputs_of).

    The Argo bootstrap and steprun's child have the same lines: this process must import nothing of orch."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return value._asdict()
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses

        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return value


def _answer(request: dict, code: int, result: dict) -> int:
    try:
        _write_result(request["result"], result)
    except (TypeError, ValueError) as err:
        _write_result(request["result"], {"ok": False, "error": f"the return value is not JSON data: {err}"})
        return 1
    return code


def _run_with_artifacts(request: dict, artifacts: dict) -> int:
    """Fetch the step's input artifacts, run it, then store its artifact outputs: all inside the attempt, so
    its timeout bounds the transfers too and a killed attempt stops them. The transfer code is imported here,
    in the attempt (the starter has it loaded when a run has artifacts), never by a run without them."""
    from orch.backends.transfer import ArtifactError, Destination, MissingArtifact, fetch

    plain = {**request, "artifacts": None}
    where = Destination(artifacts["store"], *artifacts["key"])
    names = artifacts["outputs"]
    try:
        for uri, place, archived in artifacts["fetch"]:  # archived: orch stored it; else an artifact param's URI
            os.makedirs(os.path.dirname(place), exist_ok=True)
            fetch(uri, place, archived=archived)
        if request["kind"] == "command":
            code = _run_in_child(plain)
            if code != 0:
                return code
            left = {name: os.path.join(request["env"]["ORCH_OUTPUTS"], name) for name in names}
            stored = {name: where.publish(name, path, True) for name, path in left.items() if os.path.lexists(path)}
            return _answer(request, 0, {"ok": True, "artifacts": stored})  # (one not there: the executor says so)
        code, result = _call_python(plain)
        if code == 0:
            result["returned"] = _published(result["returned"], names, artifacts["single"], where)
        return _answer(request, code, result)
    except ArtifactError as err:  # not fetched or not stored: the attempt could not run (an error), unless missing
        lost = {} if isinstance(err, MissingArtifact) else {"not_run": True}
        return _answer(request, 1, {"ok": False, "error": str(err), **lost})


def _published(returned, names: list, single: bool, where):
    """What a python step returned, each artifact's path replaced by its URI once stored (a value that is no
    path is left for the executor to report as of the wrong type)."""
    def is_path(value):
        return isinstance(value, str) or hasattr(value, "__fspath__")

    if single:
        return where.publish(names[0], returned) if names and is_path(returned) else returned
    if isinstance(returned, dict):
        stored = {name: where.publish(name, returned[name]) for name in names if is_path(returned.get(name))}
        return {**returned, **stored}
    return returned


def _run_in_child(request: dict) -> int:
    """The command in a child of this attempt (same group), waited for; its status as this process's exit status."""
    if isinstance(request.get("stdout"), str) and type(request.get("keep")) is int:
        return _run_teeing(request)
    pid = _fork_command(request)
    if pid is None:
        return 1
    _, status = os.waitpid(pid, 0)
    return _as_own(status)


def _fork_command(request: dict, pipe=None):
    """The command, forked as a child of this attempt (same group), its stdout into `pipe` (read, write) if
    given; its pid, or None when it could not be forked (said as the attempt's error)."""
    try:
        pid = os.fork()
    except OSError as err:
        _write_result(request["result"], {"ok": False, "error": f"cannot start the attempt: fork: {err.strerror}"})
        return None
    if pid == 0:
        code = 127
        try:
            if pipe is not None:
                os.dup2(pipe[1], 1)
                os.close(pipe[0])
                os.close(pipe[1])
            code = _run({**request, "stdout": None, "artifacts": None})
        finally:
            os._exit(code)
    return pid


def _run_teeing(request: dict) -> int:
    """A command whose stdout is an output: it runs in a child of this attempt (same group), whose stdout this
    process copies to the log, keeping its first `keep` bytes in the `stdout` file; then it ends as the command did.

    The command has ended when it exits, though a background child of it may hold its stdout open: what it
    wrote before it ended is taken, and the rest of the group is killed with the attempt (the starter does that).
    """
    read_fd, write_fd = os.pipe()
    pid = _fork_command(request, (read_fd, write_fd))
    os.close(write_fd)
    if pid is None:
        os.close(read_fd)
        return 1
    status = None
    with open(request["stdout"], "wb") as kept:
        left = request["keep"]
        while True:
            readable, _, _ = select.select([read_fd], [], [], 0.05)
            if readable:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    break
                write_all(1, chunk)
                if left > 0:
                    kept.write(chunk[:left])
                    left -= min(left, len(chunk))
            elif status is None:
                done, status = os.waitpid(pid, os.WNOHANG)
                status = status if done else None
            else:
                break  # it ended and nothing more came: a leftover child holds the pipe
    if status is None:
        _, status = os.waitpid(pid, 0)
    return _as_own(status)


def _as_own(status: int) -> int:
    """A child's wait status as this process's: killed by the same signal, so orch reads "killed by signal N"
    as it would without the process in between; else its exit code."""
    if os.WIFSIGNALED(status):
        if os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _write_result(path: str, result: dict) -> None:
    """The result file; its error masked when the attempt has secrets (what it returned is its data: not masked)."""
    if _MASK is not None and isinstance(result.get("error"), str):
        result = {**result, "error": _MASK.text(result["error"])}
    text = json.dumps(result, default=_plain, allow_nan=False)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _plain(value):
    """numpy scalars and arrays, and other objects that know their plain value.

    The Argo bootstrap has the same lines: this process must import nothing of orch. A path (an artifact) is its text.
    """
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    for method in ("item", "tolist"):
        if hasattr(value, method):
            return getattr(value, method)()
    raise TypeError(f"{type(value).__name__} is not JSON data")


if __name__ == "__main__":
    main()
