"""A real Prefect server and a real process worker for the tests that deploy: one per test session.

`prefect server start` on a free loopback port (its own PREFECT_HOME, so its own SQLite database, in a
temporary folder, no UI), and `prefect worker start --type process` on a work pool it creates, polling every
second. The server asks for an auth string (PREFECT_SERVER_API_AUTH_STRING), as a shared one should; the
worker and every client send it (PREFECT_API_AUTH_STRING). Each runs in its own process group and is stopped
on every way out (the fixture's finally, and atexit if the test process ends otherwise): the worker takes two
SIGINTs, then its group is killed, then the server's.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orch.backends.prefect.run import free_port
from tests.server_groups import exit_on_sigterm, signal_group

WORK_POOL = "orch-tests"
AUTH = "orch:tests-Kq81-auth"  # distinctive, so a test can look for it where it must never be
START_SECONDS = 180  # a fresh database on 2 shared cores: ~15 s alone, much more beside other test processes


@dataclass
class PrefectServer:
    """What a test needs of the session's server: its API URL, the work pool its worker polls, a folder on the
    worker's PYTHONPATH for step modules, and where the worker keeps results (the test process reads the same)."""

    url: str
    work_pool: str
    steps_path: Path
    results_path: Path
    folder: Path
    start_seconds: float = 0.0
    _procs: list = field(default_factory=list, repr=False)

    def env(self) -> dict[str, str]:
        """The variables a client process (a CLI run, a plain Python) needs to talk to this server."""
        return {"PREFECT_API_URL": self.url, "PREFECT_API_AUTH_STRING": AUTH,
                "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(self.results_path),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_DEFAULT_WORK_POOL_NAME": self.work_pool}

    def settings(self, **changes):
        """The same for this process: Prefect reads its environment once, at import, so a test changes it with
        temporary_settings (`changes`: more settings by their lower-case names, e.g. api_auth_string=...)."""
        from prefect.settings import (PREFECT_API_AUTH_STRING, PREFECT_API_URL, PREFECT_DEFAULT_WORK_POOL_NAME,
                                      PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings)
        import prefect.settings as known

        updates = {PREFECT_API_URL: self.url, PREFECT_API_AUTH_STRING: AUTH, PREFECT_DEFAULT_WORK_POOL_NAME: self.work_pool,
                   PREFECT_RESULTS_LOCAL_STORAGE_PATH: self.results_path}
        updates.update({getattr(known, f"PREFECT_{name.upper()}"): value for name, value in changes.items()})
        return temporary_settings(updates)

    def log(self, name: str) -> str:
        """The tail of the server's or the worker's log, for a failing test's message."""
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _environment(folder: Path, url: str, results: Path, steps: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(folder / "home"),  # the database: <home>/prefect.db
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_API_AUTH_STRING": AUTH,
        "PREFECT_API_AUTH_STRING": AUTH,
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(results),  # PREFECT_HOME does not move it (recipes/servers.md)
        "PREFECT_SERVER_MEMO_STORE_PATH": str(folder / "home" / "memo_store.toml"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",  # default 10: each run would wait that long for its worker
        "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
        "PYTHONPATH": os.pathsep.join([str(steps), *filter(None, [os.environ.get("PYTHONPATH")])]),
    })
    return env


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(args, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _wait(what: str, ready, procs, deadline: float, folder: Path) -> None:
    while not ready():
        dead = [p for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            why = f"exited with {dead[0].returncode}" if dead else f"not ready after {START_SECONDS}s"
            raise RuntimeError(f"the Prefect {what} {why}; logs in {folder}")
        time.sleep(0.2)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
            return reply.read().strip() == b"true"
    except OSError:
        return False


def _worker_started(log: Path) -> bool:
    return log.exists() and b"started!" in log.read_bytes()


def _stop_group(proc: subprocess.Popen, interrupts: int, grace: float) -> None:
    """Stop a process group: `interrupts` SIGINTs (SIGTERM if 0) a second apart, then SIGKILL what is left."""
    if proc.poll() is None:
        for n in range(max(interrupts, 1)):
            if proc.poll() is not None:
                break
            signal_group(proc.pid, signal.SIGINT if interrupts else signal.SIGTERM)
            try:
                proc.wait(timeout=1 if n + 1 < interrupts else grace)
            except subprocess.TimeoutExpired:
                pass
    signal_group(proc.pid, signal.SIGKILL)  # the group: the flow-run processes a worker started, uvicorn's children
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def stop(server: PrefectServer) -> None:
    """The worker first (it would report the server gone), then the server; idempotent."""
    while server._procs:
        proc, interrupts, grace = server._procs.pop()
        _stop_group(proc, interrupts, grace)


def start(folder: Path) -> PrefectServer:
    """Start the server and the worker; return once the API is healthy and the worker polls."""
    began = time.monotonic()
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    # results where this test process reads them (conftest.py sets it), so a read-back gets the outputs
    steps = folder / "steps"
    results = Path(os.environ.get("PREFECT_RESULTS_LOCAL_STORAGE_PATH") or folder / "results")
    for path in (steps, results, folder / "home"):
        path.mkdir(parents=True, exist_ok=True)
    env = _environment(folder, url, results, steps)
    prefect = str(Path(sys.executable).with_name("prefect"))
    server = PrefectServer(url, WORK_POOL, steps, results, folder)
    atexit.register(stop, server)
    exit_on_sigterm()
    try:
        _run(server, env, port, prefect, folder)
    except BaseException:
        stop(server)
        raise
    server.start_seconds = time.monotonic() - began
    return server


def _run(server: PrefectServer, env: dict, port: int, prefect: str, folder: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    url = server.url
    api = _start([prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui", "--analytics-off"],
                 env, folder / "server.log")
    server._procs.append((api, 0, 15))
    _wait("server", lambda: _healthy(url), [api], deadline, folder)
    worker = _start([prefect, "worker", "start", "--pool", WORK_POOL, "--type", "process", "--name", "orch-tests-worker",
                     "--install-policy", "never"], env, folder / "worker.log")
    server._procs.append((worker, 2, 10))
    _wait("worker", lambda: _worker_started(folder / "worker.log"), [api, worker], deadline, folder)


@pytest.fixture(scope="session")
def prefect_server(s3_server):
    """The session's Prefect server and worker (see the module's docstring). The worker starts after the session's
    S3 server, so it holds that server's AWS_* as a worker holds its machine's credentials."""
    folder = Path(tempfile.mkdtemp(prefix="orch-prefect-server-"))
    os.chmod(folder, 0o755)
    server = None
    try:
        from tests.server_groups import STOPS

        server = start(folder)
        STOPS["prefect-server"] = lambda: stop(server)
        yield server
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(folder, ignore_errors=True)
