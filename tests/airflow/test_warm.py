"""The warm Airflow (backends/airflow/warm.py): a run's driver forked from it where its Airflow settings are the
warm process's, a fresh driver where they differ or none listens -- the same RunResult either way."""

from __future__ import annotations

import json
import os

from orch.backends.airflow.warm import ENV

SPEC = """
    apiVersion: orch/v1
    name: forked
    steps:
      where: {python: "ancestry:driver", outputs: {parent: string, path: json}}
      after: {command: [sh, -c, "printf '%s' \\"$V\\" > $ORCH_OUTPUTS/v"], env: {V: "${{ steps.where.outputs.parent }}"},
              outputs: {v: string}}
"""

ANCESTRY = '''
import os, sys

def driver():
    """The command line of the process that started the task's driver (a step runs in a child of the driver)."""
    stat = open(f"/proc/{os.getppid()}/stat").read()
    grandparent = stat.rsplit(")", 1)[1].split()[1]
    cmdline = open(f"/proc/{grandparent}/cmdline", "rb").read().replace(b"\\0", b" ").decode()
    return {"parent": cmdline, "path": [entry for entry in sys.path if entry.endswith("proj")]}
'''


def _run(orch, spec_file, tmp_path):
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    (project / "ancestry.py").write_text(ANCESTRY)
    path = spec_file(SPEC, name="proj/forked.yaml")
    code, out, err = orch("run", path, "-b", "airflow", "--json")
    assert code == 0, err
    result = json.loads(out)
    return result["steps"]["where"]["outputs"], result["steps"]["after"]["outputs"]["v"]


def test_a_run_forks_from_the_warm_airflow_with_its_own_path(orch, spec_file, tmp_path, monkeypatch):
    assert os.environ.get(ENV), "the test session starts one (tests/conftest.py)"
    monkeypatch.chdir(tmp_path)
    where, passed = _run(orch, spec_file, tmp_path)
    assert "orch.backends.airflow.warm" in where["parent"]
    assert where["path"] == [str(tmp_path / "proj")]  # the spec's folder on the step's path, as in a fresh driver
    assert passed == where["parent"]


def test_other_airflow_settings_or_none_listening_start_a_fresh_driver(orch, spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "31")  # read once, at import: the warm one has another
    where, _ = _run(orch, spec_file, tmp_path)
    assert "orch.backends.airflow.warm" not in where["parent"] and "pytest" in where["parent"]
    monkeypatch.delenv("AIRFLOW__CORE__PARALLELISM")
    monkeypatch.setenv(ENV, str(tmp_path / "nobody.sock"))
    where, _ = _run(orch, spec_file, tmp_path)
    assert "orch.backends.airflow.warm" not in where["parent"]
    assert where["path"] == [str(tmp_path / "proj")]
