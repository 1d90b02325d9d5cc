"""The real `orch` as a child process, and waiting on what its steps leave behind: shared by the
local backend's process tests (kills, resumes, locks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STEPS = Path(__file__).resolve().parent.parent / "conformance" / "steps.py"


def env_for(project: Path, home: Path | None = None) -> dict:
    return {**os.environ, "ORCH_HOME": str(home or project / ".orch")}


def start(project: Path, *args, home: Path | None = None, **kwargs) -> subprocess.Popen:
    """`orch ARGS` running in `project`, its records under `home` (default `project/.orch`), with SIGINT's default
    disposition as under a terminal: a suite started in the background (`cmd &`) ignores SIGINT, which its
    children would inherit, and the tests that send it would wait out their timeout."""
    return subprocess.Popen([sys.executable, "-m", "orch.cli.main", *map(str, args)], cwd=project,
                            env=env_for(project, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint(kwargs.pop("preexec_fn", None)), **kwargs)


def _default_sigint(then=None):
    def prepare() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if then is not None:
            then()
    return prepare


def traced(project: Path) -> list[str]:
    """The labels steps recorded in `project/trace` (conformance_steps.record), in order."""
    path = project / "trace"
    return path.read_text().split() if path.exists() else []


def wait_for(condition, seconds: float = 30, what: str = "it") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def only_run_id(project: Path) -> str:
    (run_dir,) = (project / ".orch" / "runs").iterdir()
    return run_dir.name
