"""What every rendered Python artifact runs: one attempt of a step in a child process, and
the null-safe reading of upstream values that `when` and references need.

Standard library only, and copied (after orch.core.typed) into the Prefect flow module and
the Airflow DAG file. A child process can be killed with its whole tree when a timeout
or the pipeline's deadline runs out; a thread cannot. A python step is forked from the
engine's process where that is safe (`_forkable`: an Airflow task's), else started afresh.
"""

import atexit
import json
import operator
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from orch.backends.codeunpack import write_all  # embedded: codeunpack
from orch.core.artifacts import artifact_outputs  # embedded: artifacts
from orch.core.typed import OutputError, outputs_from_files, outputs_from_return  # embedded: typed


MAX_STDOUT_OUTPUT_BYTES = 262_143  # orch.core.limits.MAX_STDOUT_OUTPUT_BYTES (this file imports nothing of orch's)


class StepError(Exception):
    """A step's own failure: what it raised, its exit status, or outputs that do not match."""


class AttemptError(StepError):
    """The attempt could not run or was lost, the step's code aside (docs/semantics.md#retries): an artifact it
    wrote could not be stored. Retried under `retries.on: error` or `any`, never `failure`."""


# what an engine raises for an attempt whose pod never started or was lost (Airflow's KubernetesPodOperator)
POD_ERRORS = ("PodLaunchTimeoutException", "PodNotFoundException")


def is_error(err):
    """Whether a failed attempt's exception is an error (it could not run or was lost: an AttemptError, an
    artifact that could not be fetched or stored, a pod that never started or vanished) rather than the step's
    own failure. By name: this file imports none of the modules that define them."""
    names = [kind.__name__ for kind in type(err).__mro__]
    if "MissingArtifact" in names:
        return False
    return any(name in names for name in ("AttemptError", "ArtifactError", *POD_ERRORS))


def retried(on, err):
    """Whether `retries.on` (any, failure, error) retries an attempt that failed with `err`."""
    return on == "any" or (on == "error") == is_error(err)


class PipelineTimeout(Exception):
    """The pipeline's timeout ran out while the step ran (never retried)."""


def call_python(target, args, outputs, env=None, timeout=None, left=None, budget=None, log=print, publish=None, place=None):
    """Call `module:function` with `args` in a child process; the outputs it returned, checked, its artifacts
    stored by `publish(name, path, movable)`. `left`: seconds before the pipeline's deadline of `budget` seconds;
    `log` takes its output; `place` (stepplace.Place) says where it runs."""
    python, path, env, log, mask = _placed(place, env, log)
    with tempfile.TemporaryDirectory(prefix="orch-step-") as folder:
        request = os.path.join(folder, "request.json")
        with open(request, "w", encoding="utf-8") as handle:
            json.dump({"target": target, "args": args, "path": path, "result": os.path.join(folder, "result.json")}, handle)
        code, last = _child([python, "-c", CHILD, request], env, timeout, left, budget, log, cwd=place and place.cwd,
                            fork=_forkable(python, place))
        try:
            with open(os.path.join(folder, "result.json"), encoding="utf-8") as handle:
                result = json.load(handle)
        except FileNotFoundError:
            raise StepError(mask(_exit_reason(code, last))) from None
    if not result["ok"]:
        raise StepError(mask(printable(result["error"])))
    try:
        values = outputs_from_return(result["returned"], outputs)
    except OutputError as err:
        raise StepError(str(err)) from None
    for name in artifact_outputs(outputs):
        values[name] = stored(publish, name, values[name], False)
    return values


def _placed(place, env, log):
    """The interpreter, import path, environment and log of an attempt where `place` says; and what masks its text."""
    if place is None:
        return sys.executable, sys.path, env, log, str
    mask = place.mask.text
    # shipped code: its copy only, never what the engine's process imports from (a worker's checkout); the
    # child's interpreter has its own site-packages
    path = place.path if place.code else sys.path
    return place.python, path, dict(env or {}, **place.env), (lambda text: log(mask(text))), mask


def stored(publish, name, path, movable):
    """The URI of artifact `name` once stored from `path`; a failure to store it fails the step, in its words."""
    if publish is None:
        raise StepError(f"output {name!r} is an artifact, and this call was given no store to put it in")
    try:
        return publish(name, path, movable)
    except Exception as err:  # noqa: BLE001 - the store's own error (ArtifactError), said as the step's
        kind = StepError if type(err).__name__ == "MissingArtifact" else AttemptError  # the store's, an error
        raise kind(printable(str(err))) from None


def call_command(argv, outputs, env=None, timeout=None, left=None, budget=None, log=print, stdout=None, publish=None,
                 place=None):
    """Run `argv`; the outputs it wrote to $ORCH_OUTPUTS/<name>, and the one named `stdout` that it printed, checked;
    the artifacts it left there stored by `publish`; `place` (stepplace.Place) says where it runs."""
    kept = _Stdout(MAX_STDOUT_OUTPUT_BYTES + 1) if stdout is not None else None
    _, _, env, log, mask = _placed(place, env, log)
    with tempfile.TemporaryDirectory(prefix="orch-outputs-") as folder:
        code, last = _child(argv, dict(env or {}, ORCH_OUTPUTS=folder), timeout, left, budget, log, kept, place and place.cwd)
        if code != 0:
            raise StepError(mask(_exit_reason(code, last)))
        written = {}
        for name in outputs:
            path = os.path.join(folder, name)
            if name == stdout:
                problem = stdout_problem(name, kept.data, kept.total)
                if problem:
                    raise StepError(problem)
                written[name] = bytes(kept.data)
            elif outputs[name] == "artifact":
                written[name] = stored(publish, name, path, True).encode() if os.path.lexists(path) else None
            elif os.path.exists(path):
                with open(path, "rb") as handle:  # bytes: every one kept, '\r' too; bad UTF-8 fails the step
                    written[name] = handle.read()
            else:
                written[name] = None
    try:
        return outputs_from_files(written, outputs)
    except OutputError as err:
        raise StepError(str(err)) from None


def stdout_problem(name, kept, total):
    """Why stdout cannot be output `name` (None if it can): `total` bytes, of which `kept` are the first.
    The bound is Argo's (it keeps a container's last 256 KiB as its result), counted without one trailing newline."""
    size = total - 1 if total == len(kept) and kept.endswith(b"\n") else total
    if size <= MAX_STDOUT_OUTPUT_BYTES:
        return None
    return (f"output {name!r} is read from stdout, which is longer than {MAX_STDOUT_OUTPUT_BYTES} bytes, the most such an "
            f"output may be; write it to $ORCH_OUTPUTS/{name} instead (from: file)")


class _Stdout:
    """A command's stdout on its way to the log: its first `keep` bytes kept for an output, and its length."""

    def __init__(self, keep):
        self.keep, self.data, self.total = keep, bytearray(), 0

    def take(self, source, log):
        """Copy what `source` has to `log` (both file descriptors); False at end of file."""
        chunk = os.read(source, 1 << 16)
        write_all(log, chunk)
        self.data += chunk[:max(self.keep - len(self.data), 0)]
        self.total += len(chunk)
        return bool(chunk)


RUNNING = {}  # pid -> Popen: the attempts this process runs now, each the leader of its own session
ENDED = {}  # pid -> why end_attempts killed it: the attempt's error
STOPPED = []  # why end_attempts ran, once it has: an attempt starting after it is ended too


def end_attempts(reason):
    """Kill every attempt running now with its whole session: an engine that stops this process (a cancelled
    flow run's SIGTERM) does not reach them, each in a session of its own, and none may outlive the run; nor may one
    start after (a fan-out group's next item, a task that was waiting)."""
    STOPPED.append(reason)
    for pid in list(RUNNING):
        ENDED[pid] = reason
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def attempts_end_on_sigterm(reason):
    """An engine stops a run's process with SIGTERM (a worker cancelling a flow run, Airflow stopping a task): the
    attempts running then lead sessions of their own, out of its reach, so end them first (`reason`: their error),
    then let the engine's own handler go on. Called from the main thread; elsewhere signals are not ours."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
        if getattr(previous, "ends_attempts", False):  # ours already: no handler wraps its own
            return

        def stop(signum, frame):
            end_attempts(reason)
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        stop.ends_attempts = True
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        pass


def _child(argv, env, timeout, left, budget, log, stdout=None, cwd=None, fork=False):
    """Run one attempt in its own session; kill its whole process tree when it ends, times out or is interrupted.
    Its output goes to `log` (its stdout through `stdout` too, when given); returns (exit status, last line of output).
    `fork`: `argv` is `python -c CHILD request`, run in a fork of this process (`_forked`)."""
    if STOPPED:
        raise StepError(STOPPED[0])
    limits = [t for t in (timeout, left) if t is not None]
    limit = min(limits) if limits else None
    environ = dict(_unnamed(os.environ), **(env or {}))
    with tempfile.TemporaryFile() as printed:
        try:
            process = _forked(argv, environ, cwd, printed.fileno()) if fork else subprocess.Popen(
                argv, env=environ, stdin=subprocess.DEVNULL, cwd=cwd, stdout=printed if stdout is None else subprocess.PIPE,
                stderr=subprocess.STDOUT if stdout is None else printed, start_new_session=True)
        except OSError as err:
            raise StepError(printable(f"cannot run {argv[0]!r}: {err.strerror}")) from None
        RUNNING[process.pid] = process
        if STOPPED:  # end_attempts ran as it started
            end_attempts(STOPPED[0])
        try:
            code = process.wait(timeout=limit) if stdout is None else _wait_teeing(process, limit, stdout, printed.fileno())
        except subprocess.TimeoutExpired:
            if left is not None and limit == left:
                raise PipelineTimeout(f"the pipeline's timeout of {budget:g}s ran out") from None
            raise TimeoutError(f"timed out after {timeout:g}s") from None
        finally:
            _end_session(process)
            RUNNING.pop(process.pid, None)
            if process.stdout is not None:
                process.stdout.close()
            printed.seek(0)  # logged however it ended: what a timed-out step printed says where it was
            text = printed.read().decode("utf-8", "replace")
            if text.strip():
                log(text.rstrip("\n"))
        if process.pid in ENDED:
            raise StepError(ENDED.pop(process.pid))
    lines = [line for line in text.splitlines() if line.strip()]
    return code, lines[-1].strip() if lines else ""


def _forkable(python, place):
    """Whether a python step may be forked from this process rather than started afresh (some 40 ms less a step):
    it runs this interpreter with this process's import path (no shipped code of its own), and this process runs
    one thread, its main one -- a fork copies the calling thread alone, and a lock another held would stay held
    (a Prefect flow runs its tasks in threads, so it is never forked; an Airflow task runs alone in its process).
    Without /proc (macOS, where forking a process that has loaded system frameworks is unsafe): never."""
    if python != sys.executable or (place is not None and place.code) or threading.current_thread() is not threading.main_thread():
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _forked(argv, environ, cwd, output):
    """`python -c CHILD request` (`argv`) run in a fork of this process as a fresh interpreter would run it: its own
    session, stdin from /dev/null, stdout and stderr to `output` and no other descriptor (the engine's sockets and
    logs are out of its reach), default signal handlers and no logging handlers, `environ`, `cwd`. A Popen's face."""
    for stream in (sys.stdout, sys.stderr):  # what they buffer would be written twice
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        try:
            os.read(ready_r, 1)  # end of file once the child leads its session: a kill of its group reaches it
        finally:
            os.close(ready_r)
        return _Fork(pid, argv)
    code = 1
    try:
        os.setsid()
        os.close(ready_w)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.closerange(3, 1 << 16)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(-1)
        # line-buffered: a killed attempt keeps what it printed
        sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False, buffering=1)
        sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False,
                                           buffering=1)
        if "logging" in sys.modules:  # the engine's handlers write where this process no longer can
            root = sys.modules["logging"].root
            root.handlers.clear()
            root.setLevel(sys.modules["logging"].WARNING)
        os.environ.clear()
        os.environ.update(environ)
        if cwd:
            os.chdir(cwd)
        atexit._clear()  # the engine's exit handlers are not the step's
        sys.argv = [argv[1], *argv[3:]]  # as `python -c CODE ARG` has it
        try:
            exec(compile(argv[2], "<string>", "exec"), {"__name__": "__main__"})
            code = 0
        finally:  # an interpreter's exit: the step's own threads joined, its exit handlers run
            for thread in threading.enumerate():
                if thread is not threading.current_thread() and not thread.daemon:
                    thread.join()
            atexit._run_exitfuncs()
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else int(exited.code is not None)
    except BaseException:  # noqa: BLE001 - a forked child must end here, never return into the engine's code
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class _Fork:
    """What `_child` uses of a Popen, for a forked attempt: its pid, `poll` and `wait` (Popen's exit codes)."""

    stdout = None

    def __init__(self, pid, args):
        self.pid, self.args, self.returncode = pid, args, None

    def poll(self, block=False):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: as Popen says it
                pid, status = self.pid, 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        if timeout is None:
            return self.poll(block=True)
        deadline, delay = time.monotonic() + timeout, 0.0005
        while self.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return self.returncode


SECRET_SOURCES = ("ORCH_SECRET_", "AIRFLOW_VAR_", "AIRFLOW_CONN_")  # variables secrets are read from, not steps'


def _unnamed(environ):
    """The environment less the variables secrets are read from (orch's, Airflow's environment backend): a step
    gets the secrets it names only, as its own variables."""
    return {k: v for k, v in environ.items() if not k.startswith(SECRET_SOURCES)}


def _wait_teeing(process, limit, stdout, log):
    """`process.wait(limit)`, copying its stdout to the log meanwhile. It has ended when it exits, though a
    background child may hold its stdout open: what it wrote before it ended is taken, then the session is killed.
    (poll, not select: a busy engine's descriptors may be past select's 1024.)"""
    deadline = None if limit is None else time.monotonic() + limit
    source = process.stdout.fileno()
    ready = select.poll()
    ready.register(source, select.POLLIN)
    while process.poll() is None:
        wait = 0.05 if deadline is None else min(deadline - time.monotonic(), 0.05)
        if wait <= 0:
            raise subprocess.TimeoutExpired(process.args, limit)
        if ready.poll(wait * 1000) and not stdout.take(source, log):
            return process.wait(timeout=None if deadline is None else max(deadline - time.monotonic(), 0))
    while ready.poll(0) and stdout.take(source, log):
        pass
    return process.returncode


def _end_session(process):
    """Kill what is left of the attempt's session -- the step itself on a timeout, and any background
    child it left behind -- as a pod's processes end with its container."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left in it
    if process.poll() is None:
        process.wait()


def printable(text):
    """`text` as UTF-8 can carry it: a lone surrogate (from bytes that were not UTF-8) as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _exit_reason(code, last):
    reason = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
    return f"{reason}: {last}" if last else reason



def output(result, name):
    """An upstream step's output; None when that step did not succeed."""
    return result.get(name) if isinstance(result, dict) else None


def compare(left, op, right):
    """A `when` comparison: false when an operand is null or the operands cannot be compared."""
    if left is None or right is None:
        return False
    try:
        return bool(COMPARISONS[op](left, right))
    except TypeError:
        return False


COMPARISONS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
               ">=": operator.ge, "in": lambda a, b: a in b, "not in": lambda a, b: a not in b}


CHILD = '''
import importlib, json, os, sys, traceback
with open(sys.argv[1], encoding="utf-8") as handle:
    request = json.load(handle)
sys.path[:0] = [p for p in request["path"] if p not in sys.path]

def plain(value):
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    for method in ("item", "tolist"):
        if hasattr(value, method):
            return getattr(value, method)()
    raise TypeError(type(value).__name__ + " is not JSON data")

def answer(result):
    with open(request["result"], "w", encoding="utf-8") as handle:
        handle.write(json.dumps(result, default=plain, allow_nan=False))

module, function = request["target"].split(":")
try:
    function = getattr(importlib.import_module(module), function)
except (ImportError, AttributeError) as err:
    traceback.print_exc()
    answer({"ok": False, "error": "cannot load " + request["target"] + ": " + type(err).__name__ + ": " + str(err)})
    sys.exit(1)
try:
    returned = function(**request["args"])
except BaseException as err:
    traceback.print_exc()
    answer({"ok": False, "error": type(err).__name__ + ": " + str(err)})
    sys.exit(1)
if isinstance(returned, tuple) and hasattr(returned, "_asdict"):  # a typed step's NamedTuple: its fields
    returned = returned._asdict()
elif hasattr(returned, "__dataclass_fields__") and not isinstance(returned, type):  # or its dataclass
    import dataclasses
    returned = {field.name: getattr(returned, field.name) for field in dataclasses.fields(returned)}
try:
    answer({"ok": True, "returned": returned})
except (TypeError, ValueError) as err:
    answer({"ok": False, "error": "the return value is not JSON data: " + str(err)})
    sys.exit(1)
'''
