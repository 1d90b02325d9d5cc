"""A python step forked from a single-threaded engine process (an Airflow task's) runs as a fresh interpreter
would: its own session, only stdin/stdout/stderr open, no secret variable it does not name, the engine's
logging handlers and signal handlers gone; a timeout, an exit status and a signal read as for a started one.
It ends as an interpreter does (its threads joined, its own exit handlers run). With another thread running
(a Prefect flow's), or on another interpreter, it is started afresh instead.

Each case runs in a process of its own: pytest's xdist workers run threads, so they never fork."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

ENGINE = textwrap.dedent('''
    import json, logging, os, signal, sys, threading, time, types
    sys.path.insert(0, sys.argv[1])
    from orch.backends.steprun import StepError, call_python
    sys.modules["engine_marker"] = types.ModuleType("engine_marker")  # only a fork of this process has it
    engine_log = []
    class Handler(logging.Handler):
        def emit(self, record):
            engine_log.append(record.getMessage())
    logging.root.addHandler(Handler())
    signal.signal(signal.SIGTERM, lambda *_: engine_log.append("engine's SIGTERM handler"))
    import atexit
    atexit.register(print, "the engine's exit handler", file=sys.stderr)  # never the step's
    os.environ["AIRFLOW_VAR_TOKEN"] = "held"
    engine_socket = os.open(os.devnull, os.O_WRONLY)
    if sys.argv[2] == "threaded":
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    printed = []
    try:
        got = call_python("probe:" + sys.argv[3], {"fd": engine_socket}, {"report": "json"}, log=printed.append,
                          timeout=float(sys.argv[4]) if len(sys.argv) > 4 else None)
    except (StepError, TimeoutError) as err:
        got = {"error": type(err).__name__ + ": " + str(err)}
    print(json.dumps({"got": got, "printed": printed, "engine_log": engine_log, "pid": os.getpid()}))
''')

PROBE = textwrap.dedent('''
    import logging, os, signal, sys, time

    def look(fd):
        logging.warning("a step's warning")
        print("a step's print")
        try:
            os.fstat(fd)
            engine_fd = "open"
        except OSError:
            engine_fd = "closed"
        return {"forked": "engine_marker" in sys.modules, "session_leader": os.getsid(0) == os.getpid(),
                           "parent": os.getppid(), "engine_fd": engine_fd, "fds": sorted(int(f) for f in os.listdir("/proc/self/fd")),
                           "secret_seen": "AIRFLOW_VAR_TOKEN" in os.environ,
                "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL}

    def exits(fd):
        print("leaving")
        sys.stdout.flush()
        os._exit(3)

    def killed(fd):
        os.kill(os.getpid(), signal.SIGKILL)

    def leaves(fd):
        import atexit, threading
        atexit.register(print, "the step's exit handler")
        threading.Thread(target=lambda: (time.sleep(0.3), print("the step's thread, joined"))).start()
        return "returned"

    def sleeps(fd):
        print("before the timeout")
        time.sleep(30)
''')


def engine(tmp_path, function: str, threads: str = "alone", timeout: float | None = None) -> dict:
    (tmp_path / "probe.py").write_text(PROBE)
    argv = [sys.executable, "-c", ENGINE, str(tmp_path), threads, function] + ([str(timeout)] if timeout else [])
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_single_threaded_engine_forks_a_step_that_runs_as_a_fresh_interpreter(tmp_path):
    found = engine(tmp_path, "look")
    report = found["got"]["report"]
    assert report["forked"] and report["parent"] == found["pid"]
    assert report["session_leader"] and report["sigterm_default"]
    assert report["engine_fd"] == "closed" and report["fds"][:3] == [0, 1, 2] and len(report["fds"]) <= 4  # + listdir's
    assert not report["secret_seen"]
    assert found["engine_log"] == []  # neither the step's logging nor its signals reached the engine's handlers
    assert found["printed"] == ["WARNING:root:a step's warning\na step's print"] or \
        sorted(found["printed"][0].splitlines()) == ["WARNING:root:a step's warning", "a step's print"]


def test_a_threaded_engine_starts_the_step_afresh(tmp_path):
    report = engine(tmp_path, "look", threads="threaded")["got"]["report"]
    assert not report["forked"] and report["session_leader"] and not report["secret_seen"]


@pytest.mark.parametrize("function, timeout, error", [
    ("exits", None, "StepError: exited with status 3: leaving"),
    ("killed", None, "StepError: killed by signal 9"),
    ("sleeps", 0.5, "TimeoutError: timed out after 0.5s"),
])
def test_a_forked_steps_end_reads_as_a_started_ones(tmp_path, function, timeout, error):
    forked, started = (engine(tmp_path, function, threads, timeout) for threads in ("alone", "threaded"))
    assert forked["got"] == started["got"] == {"error": error}
    if function == "sleeps":  # line-buffered: what it printed before it was killed is kept
        assert forked["printed"] == ["before the timeout"]


def test_a_forked_step_ends_as_an_interpreter_does(tmp_path):
    """Its own threads are joined and its own exit handlers run; the engine's exit handlers are not its."""
    forked, started = (engine(tmp_path, "leaves", threads) for threads in ("alone", "threaded"))
    for found in (forked, started):
        assert found["got"] == {"report": "returned"}
        assert found["printed"] == ["the step's thread, joined\nthe step's exit handler"], found["printed"]
