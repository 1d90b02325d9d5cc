"""A killed run resumes: SIGKILL or Ctrl-C the real `orch` process mid-run, then --resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

STEPS = Path(__file__).resolve().parent.parent / "conformance" / "steps.py"

SPEC = {
    "apiVersion": "orch/v1",
    "name": "resumable",
    "steps": {
        "first": {"python": "conformance_steps:record", "args": {"label": "first", "value": 1}, "outputs": {"n": "integer"}},
        "second": {"python": "conformance_steps:record", "args": {"label": "second", "value": "${{ steps.first.outputs.n }}"},
                   "outputs": {"n": "integer"}},
        "fan": {"python": "conformance_steps:record", "foreach": ["a", "b"], "args": {"label": "fan-${{ item }}"}, "after": ["second"]},
        "blocked": {"python": "conformance_steps:block_while_flagged", "args": {"label": "blocked"}, "after": ["fan"]},
        "last": {"python": "conformance_steps:record", "args": {"label": "last", "value": "${{ steps.second.outputs.n }}"},
                 "after": ["blocked"], "outputs": {"n": "integer"}},
    },
}


@pytest.fixture
def project(tmp_path):
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    (tmp_path / "resumable.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    (tmp_path / "block").write_text("")
    return tmp_path


def orch(project: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "ORCH_HOME": str(project / ".orch")}
    return subprocess.Popen([sys.executable, "-m", "orch.cli.main", *args], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for_trace(project: Path, label: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        trace = project / "trace"
        if trace.exists() and label in trace.read_text().split():
            return
        time.sleep(0.05)
    raise AssertionError(f"{label!r} never ran")


def run_id_of(project: Path) -> str:
    (run_dir,) = (project / ".orch" / "runs").iterdir()
    return run_dir.name


@pytest.mark.parametrize("how", ["sigkill", "sigint"])
def test_a_killed_run_resumes_without_redoing_finished_steps(project, how):
    first = orch(project, "run", "resumable.yaml")
    wait_for_trace(project, "blocked")
    time.sleep(0.3)  # 'blocked' is mid-attempt now
    first.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
    out, err = first.communicate(timeout=30)
    if how == "sigint":
        assert first.returncode == 130, err
        assert "resume with: orch run" in err
    else:
        assert first.returncode == -signal.SIGKILL
    run_id = run_id_of(project)
    time.sleep(0.3)
    (project / "block").unlink()
    before = (project / "trace").read_text().split()
    time.sleep(0.3)
    assert (project / "trace").read_text().split() == before, "an attempt of the killed run outlived it"

    resumed = orch(project, "run", "--resume", run_id, "--json")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["run_id"] == run_id and result["status"] == "succeeded"
    assert result["steps"]["last"]["outputs"] == {"n": 1}  # outputs of kept steps are still there
    trace = (project / "trace").read_text().split()
    for label in ("first", "second", "fan-a", "fan-b", "last"):
        assert trace.count(label) == 1, trace  # finished steps never ran twice
    assert trace.count("blocked") == 2  # the interrupted step ran again ...
    assert trace.count("blocked-done") == 1  # ... and only the resumed attempt got to finish

