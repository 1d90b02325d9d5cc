"""Shared helpers: write a spec to disk, run the real `orch` entry point in-process."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

from orch.cli.main import main
from tests.airflow.server import airflow_server  # noqa: F401 - a real Airflow deployment, one per session
from tests.prefect.server import prefect_server  # noqa: F401 - a real Prefect server and worker, one per session
from tests.server_groups import STOPS, pytest_runtest_teardown  # noqa: F401 - a server stops with its group's last test
from tests.server_groups import exit_on_sigterm

ROOT = Path(__file__).resolve().parent.parent
exit_on_sigterm()  # a CI's cancel unwinds the session, so the servers' stops run (before any test: signals_kept)
SPECS = ROOT / "specs"

# Prefect keeps its database and results under these: one set per test process, never the user's.
_PREFECT_HOME = tempfile.mkdtemp(prefix="orch-tests-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = os.path.join(_PREFECT_HOME, "storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Airflow's private home (SQLite database, DAGs folder): one per test process, migrated once.
os.environ["ORCH_AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="orch-tests-airflow-")


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: a worker per CPU, and at least 3 -- the worker holding a server's group mostly waits on that
    server's scheduler, and a third worker uses that time on two cores."""
    return max(3, os.cpu_count() or 1)


def pytest_collection_finish(session):
    """Runs with dag.test() fork from one warm Airflow per test process (backends/airflow/warm.py: Airflow's own
    start, ~12 s of CPU a run, paid once); it ends with this process. tests/airflow/test_warm.py checks both ways."""
    controller = session.config.getoption("numprocesses", None) and not hasattr(session.config, "workerinput")
    if controller or not any("airflow" in item.nodeid for item in session.items):
        return
    import subprocess
    import sys

    from orch.backends.airflow.run import airflow_home
    from orch.backends.airflow.warm import ENV

    socket_path = os.path.join(tempfile.mkdtemp(prefix="orch-warm-"), "airflow.sock")
    with open(airflow_home() / "warm.log", "w") as log:
        subprocess.Popen([sys.executable, "-m", "orch.backends.airflow.warm", socket_path], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True)
    os.environ[ENV] = socket_path


def _signal_state() -> dict:
    """This process's SIGINT and SIGTERM handlers, and the kernel's view: the signals it ignores and those its main
    thread blocks (a C library's sigaction or sigprocmask, which `signal.getsignal` does not see). All are inherited
    by every process a test starts."""
    import signal

    state = {sig.name: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with open("/proc/self/status") as status:
        state.update(line.split(":") for line in status.read().splitlines() if line.startswith(("SigIgn", "SigBlk")))
    return state


@pytest.fixture(autouse=True)
def signals_kept():
    """A test leaves this process's signal handling as it found it: what it changed would reach every process a
    later test starts here (an ignored or blocked SIGINT is inherited), far from its cause."""
    before = _signal_state()
    yield
    after = _signal_state()
    assert after == before, f"the test changed this process's signal handling: {before} -> {after}"


@pytest.fixture(scope="session")
def prefect_api():
    """One Prefect API server for this test process (as PREFECT_API_URL), so each run skips the
    temporary server's start; the temporary server itself has its own test."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from orch.backends.prefect.run import drain_workers, free_port

    server = SubprocessASGIServer(port=free_port())
    server.start(timeout=120)  # several test processes start theirs at once
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
            drain_workers()
    finally:
        server.stop()


S3_BUCKET = "orch-tests"
S3_SECRET = "orch-tests-secret-Zq9x"  # distinctive, so a test can look for it where it must never be


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's server mode) on a loopback port, one per test process, with the
    bucket `orch-tests`; its endpoint and dummy credentials are set as AWS_* for everything the tests start."""
    import subprocess
    import sys
    import time
    import urllib.request

    from orch.backends.prefect.run import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    settings = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "orch-tests-key", "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                "AWS_DEFAULT_REGION": "us-east-1"}
    before = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{S3_BUCKET}", method="PUT"), timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the S3 test server did not start on {endpoint}") from None
                time.sleep(0.2)
        yield f"s3://{S3_BUCKET}"
    finally:
        for key, value in before.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def spec_file(tmp_path):
    """Write dedented YAML to a file and return its path."""

    def write(text: str, name: str = "pipeline.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def orch(capsysbinary):
    """Run `orch ARGS...` as the console script does; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        captured = capsysbinary.readouterr()
        return exit_info.value.code, captured.out.decode(errors="replace"), captured.err.decode(errors="replace")

    return run
