"""Ctrl-C during a run on Prefect or Airflow: exit 130 with what to do, and no step process left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

SPEC = """
apiVersion: orch/v1
name: interrupted
steps:
  long: {command: [sh, -c, "echo $$ > started; sleep 60"]}
"""


def ctrl_c_once_started(folder, prefect_api: str, *args: str) -> str:
    """`orch run spec.yaml ARGS` in `folder`, Ctrl-C'd once a step wrote `started`: it must exit 130 and say so; its
    stderr."""
    env = dict(os.environ, PREFECT_API_URL=prefect_api, ORCH_HOME=str(folder / ".orch"))
    run = subprocess.Popen([sys.executable, "-m", "orch.cli.main", "run", "spec.yaml", *args],
                           cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    deadline = time.monotonic() + 120
    while not (folder / "started").exists():
        assert time.monotonic() < deadline and run.poll() is None, run.communicate()
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130 and "interrupted:" in err
    return err


@pytest.mark.parametrize("backend", ["prefect", "airflow"])
def test_ctrl_c_is_exit_130(backend, tmp_path, prefect_api):
    (tmp_path / "spec.yaml").write_text(SPEC)
    ctrl_c_once_started(tmp_path, prefect_api, "--backend", backend, "--json")
    step = int((tmp_path / "started").read_text())
    time.sleep(0.5)
    assert not os.path.exists(f"/proc/{step}") or open(f"/proc/{step}/stat").read().split(") ")[1][0] == "Z"
