"""The conformance suite: one set of cases, every backend.

In the manner of ibis's backend suite: the `backend` fixture runs each case on every
backend named in BACKENDS; a gap is a marker on the case naming the backend and the
reason -- `notimpl` (we could, and have not yet), `notyet` (the engine lacks it),
`never` (it cannot be expressed there) -- and becomes a strict xfail, so a gap that
closes fails the build until its marker is removed. Only a gap whose outcome depends on the
order an engine happens to pick says `strict: false`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from orch.cli.main import main

BACKENDS = ["local", "prefect", "airflow"]  # later backends join by adding their name here
HERE = Path(__file__).resolve().parent
GAP_MARKERS = ("notimpl", "notyet", "never")


@pytest.fixture(params=BACKENDS)
def backend(request):
    for marker in GAP_MARKERS:
        for mark in request.node.iter_markers(marker):
            if request.param in mark.args[0]:
                request.applymarker(pytest.mark.xfail(reason=f"{marker}: {mark.kwargs.get('reason', '')}",
                                                      strict=mark.kwargs.get("strict", True)))
    if request.param == "prefect":
        request.getfixturevalue("prefect_api")
    return request.param


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh working folder and ORCH_HOME for each run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    return tmp_path


@pytest.fixture
def run_spec(backend, workdir, capsysbinary):
    """Run a spec (a dict) with `orch run --backend B --json`; return (exit code, RunResult dict)."""

    def run(spec: dict, params: dict | None = None, flags: list[str] = ()) -> tuple[int, dict]:
        folder = workdir / "spec"
        folder.mkdir(exist_ok=True)
        shutil.copy(HERE / "steps.py", folder / "conformance_steps.py")
        path = folder / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
        args = ["run", str(path), "--backend", backend, "--json", *flags]
        for key, value in (params or {}).items():
            args += ["-p", f"{key}={value}"]
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        out = capsysbinary.readouterr().out.decode()
        return exit_info.value.code, json.loads(out)

    return run
