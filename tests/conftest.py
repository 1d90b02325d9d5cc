"""Shared helpers: write a spec to disk, run the real `orch` entry point in-process."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

from orch.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

# Prefect keeps its database and results under these: one set per test process, never the user's.
_PREFECT_HOME = tempfile.mkdtemp(prefix="orch-tests-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = os.path.join(_PREFECT_HOME, "storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Airflow's private home (SQLite database, DAGs folder): one per test process, migrated once.
os.environ["ORCH_AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="orch-tests-airflow-")


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
