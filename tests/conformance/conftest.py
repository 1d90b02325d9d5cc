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
from contextlib import nullcontext
from pathlib import Path

import pytest
import yaml

from orch.cli.main import main

# `<engine>-server`: the same cases through `orch deploy` + `orch run --server` on the session's real server
BACKENDS = ["local", "prefect", "airflow", "prefect-server", "airflow-server"]
SERVERS = {"prefect-server": "prefect_server", "airflow-server": "airflow_server"}  # backend -> its session fixture
HERE = Path(__file__).resolve().parent
GAP_MARKERS = ("notimpl", "notyet", "never")


def _param(backend: str):
    """A case on a server runs on the one worker that owns that server (one server per test session)."""
    if backend not in SERVERS:
        return backend
    return pytest.param(backend, marks=[pytest.mark.xdist_group(backend), pytest.mark.slow], id=backend)


@pytest.fixture(params=[_param(backend) for backend in BACKENDS])
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
def workdir(request, tmp_path, monkeypatch):
    """A fresh working folder and ORCH_HOME for each run. On Airflow's server it is the scheduler's working
    folder, emptied (a task works where the scheduler does: the steps' relative files land there)."""
    if "backend" in request.fixturenames and request.getfixturevalue("backend") == "airflow-server":
        tmp_path = request.getfixturevalue("airflow_server").workdir
        for path in list(tmp_path.iterdir()):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    return tmp_path


@pytest.fixture
def run_spec(request, backend, workdir, capsysbinary, monkeypatch):
    """Run a spec (a dict) with `orch run --backend B --json`; return (exit code, RunResult dict). On a server:
    `orch deploy` it there first (the store named by --artifacts, else the folder a local run would use), then
    `orch run --server URL`."""
    server = request.getfixturevalue(SERVERS[backend]) if backend in SERVERS else None

    def run(spec: dict, params: dict | None = None, flags: list[str] = ()) -> tuple[int, dict]:
        folder = workdir if server else workdir / "spec"  # a deployment's source is the spec's folder: its cwd
        folder.mkdir(exist_ok=True)
        shutil.copy(HERE / "steps.py", folder / "conformance_steps.py")
        path = folder / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
        args = ["run", str(path), "--backend", backend, "--json", *flags]
        with _signed_in(server, monkeypatch):
            if server:
                args = _deploy_then_run(server, backend, path, list(flags), workdir, capsysbinary)
            for key, value in (params or {}).items():
                args += ["-p", f"{key}={value}"]
            code, out, err = _orch(args, capsysbinary)
        assert out, err  # --json prints the RunResult whatever the outcome
        return code, json.loads(out)

    return run


def _signed_in(server, monkeypatch):
    """How orch finds and signs in to the session's server: its variables, and Prefect's settings (Prefect reads
    its environment once, at import)."""
    if server is None:
        return nullcontext()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    return server.settings() if hasattr(server, "settings") else nullcontext()


def _deploy_then_run(server, backend: str, path: Path, flags: list[str], workdir: Path, capsysbinary) -> list[str]:
    """Deploy the spec on the session's server; the arguments of `orch run` that trigger it there."""
    engine = backend.removesuffix("-server")
    shutil.copy(HERE / "steps.py", server.steps_path / "conformance_steps.py")  # the worker's own copy
    store = flags[flags.index("--artifacts") + 1] if "--artifacts" in flags else f"file://{workdir / '.orch' / 'artifacts'}"
    flags = [flag for i, flag in enumerate(flags) if "--artifacts" not in (flag, flags[i - 1] if i else None)]
    where = ["--work-pool", server.work_pool] if engine == "prefect" else ["--dags-folder", str(server.dags_folder)]
    code, _, err = _orch(["deploy", str(path), "-b", engine, "--server", server.url, "--artifacts", store, *where],
                      capsysbinary)
    assert code == 0, err
    return ["run", str(path), "-b", engine, "--server", server.url, "--json", *flags]


def _orch(args: list[str], capsysbinary) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in args])
    captured = capsysbinary.readouterr()
    return exit_info.value.code, captured.out.decode(), captured.err.decode()
