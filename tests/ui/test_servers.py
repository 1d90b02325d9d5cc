"""`orch ui --backend B --spec SPEC`: a deployed pipeline's runs read from its server, beside the local records.

Against the real Prefect and Airflow servers of the session (their xdist groups: one server each, reused) and
Argo's local HTTP server speaking the Argo Server's API (tests/argo/fake_server.py): deploy a small spec, run it
(one step fails), then read the runs page and the run page over HTTP and compare with `orch runs show -b B --json`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from orch.cli.ui.app import create_app
from orch.cli.ui.servers import ServerRuns

from .real_runs import http_client, orch as orch_process, project, run_ids


def states_on(page: str) -> dict[str, str]:
    """Each step's state as the run page's graph draws it."""
    return dict(re.findall(r'<g class="node[^"]*" data-step="([^"]+)" data-state="([^"]+)"', page))


def rows_on(page: str) -> dict[str, tuple[str, str]]:
    """The runs page's rows: run id -> (status, backend)."""
    return {m[0]: (m[1], m[2]) for m in
            re.findall(r'<tr class="run" data-run-id="([^"]+)" data-pipeline="[^"]*" data-status="([^"]+)" '
                       r'data-backend="([^"]+)"', page)}


def check_pages(client, shown: dict, backend: str) -> str:
    """The runs page lists the server's run with its status; its run page draws the states `runs show --json`
    gives, its errors, params and timeline; returns the run page."""
    run_id, path = shown["run_id"], quote(shown["run_id"], safe="")
    page = client.get("/").text
    assert rows_on(page)[run_id] == (shown["status"], backend)
    assert run_id in rows_on(client.get(f"/?backend={backend}&status={shown['status']}").text)
    assert run_id not in rows_on(client.get(f"/?backend={backend}&status=running").text)
    answer = client.get(f"/runs/{path}")
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert f'data-run-id="{run_id}" data-run-status="{shown["status"]}"' in page
    leaves = {name: step["status"] for name, step in shown["steps"].items()}
    assert {k: v for k, v in states_on(page).items() if k in leaves} == leaves
    failed = [name for name, step in shown["steps"].items() if step["status"] == "failed"]
    assert re.findall(r'<div class="error" data-step="([^"]+)"', page) == failed
    for name in leaves:
        assert f'href="/runs/{path}/steps/{name}"' in page
    started = [name for name, step in shown["steps"].items() if step["started_at"]]
    lanes = re.findall(r'<div class="lane" data-step="([^"]+)" data-item="-1">', page)
    assert sorted(lanes) == sorted(started)
    assert 'id="stop"' not in page and 'id="resume"' not in page and 'id="engine-link"' in page
    step = client.get(f"/runs/{path}/steps/{failed[0]}")
    assert step.status_code == 200 and "does not read the log of a server" in step.text
    assert client.get(f"/runs/{path}/log/{failed[0]}").status_code == 404
    assert client.post(f"/runs/{path}/stop").status_code == 409
    events = client.get(f"/runs/{path}/events").text  # the run ended: one state, then the stream ends
    (state,) = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: ")]
    assert state == {"run": shown["status"], "steps": leaves | {k: v for k, v in state["steps"].items() if k not in leaves}}
    return page


STEPS = "def make(w):\n    return None\n\n\ndef fail():\n    raise RuntimeError('it broke')\n"


def write_spec(folder: Path, name: str, module: str = "ui_steps", steps_folder: Path | None = None) -> Path:
    """A three-step spec: `make`, then `broken` (fails), then `never` (upstream_failed); its module written to
    `steps_folder` (where the server's workers import it from), else beside the spec."""
    folder.mkdir(parents=True, exist_ok=True)
    (steps_folder or folder).joinpath(f"{module}.py").write_text(STEPS)
    spec = {"apiVersion": "orch/v1", "name": name, "params": {"word": {"type": "string", "default": "hi"}},
            "steps": {"make": {"python": f"{module}:make", "args": {"w": "${{ params.word }}"}},
                      "broken": {"python": f"{module}:fail", "after": ["make"]},
                      "never": {"python": f"{module}:make", "args": {"w": "x"}, "after": ["broken"]}}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# -- Argo: the API's shape from a local HTTP server -----------------------------------------------------------

@pytest.fixture
def argo(monkeypatch, tmp_path):
    import time

    from tests.argo.fake_server import FakeArgo
    from tests.argo.test_run import by_function

    monkeypatch.chdir(tmp_path)
    for name in ("ARGO_SERVER", "ARGO_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARGO_NAMESPACE", "ml")
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    with FakeArgo(by_function) as server:
        yield server


def test_argo_runs_are_listed_beside_the_local_ones_and_drawn_from_the_server(argo, orch, tmp_path):
    local = project(tmp_path / "local")
    orch_process(local, "run", "grouped.yaml")
    (local_run,) = run_ids(local)
    spec = write_spec(tmp_path / "proj", "shown")
    assert orch("deploy", spec, "-b", "argo", "--server", argo.url)[0] == 0
    code, out, err = orch("run", spec, "-b", "argo", "--server", argo.url, "--json")
    assert code == 1, err
    run_id = json.loads(out)["run_id"]
    code, out, err = orch("runs", "show", run_id, "-b", "argo", "--spec", spec, "--server", argo.url, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["status"] == "failed" and shown["steps"]["broken"]["status"] == "failed"
    client = http_client(create_app(local / ".orch", server=ServerRuns.open("argo", spec, argo.url)),
                         raise_server_exceptions=False)
    page = check_pages(client, shown, "argo")
    assert f'href="{argo.url}/workflows/ml/{run_id}"' in page
    assert rows_on(client.get("/").text)[local_run][1] == "local"
    assert set(rows_on(client.get("/?backend=local").text)) == {local_run}
    # the report: the same page as one file
    code, out, err = orch("runs", "show", run_id, "--html", tmp_path / "r.html", "-b", "argo", "--spec", spec,
                          "--server", argo.url)
    report = (tmp_path / "r.html").read_text()
    assert code == 0 and states_on(report) == states_on(page) and "argo logs" in report
    assert client.get("/runs/nope-1").status_code == 404
    # the server gone: a banner on the runs page, the local runs still there; its run's page a 502, not a 500
    argo.__exit__(None, None, None)
    page = client.get("/")
    assert page.status_code == 200 and 'id="server-problem"' in page.text and "cannot reach" in page.text
    assert set(rows_on(page.text)) == {local_run}
    assert client.get(f"/runs/{run_id}").status_code == 502


@pytest.mark.parametrize("args, words", [
    (["-b", "argo"], "--spec SPEC together"),
    (["-b", "local", "--spec", "x.yaml"], "--spec SPEC together"),
    (["-b", "nomad", "--spec", "{spec}"], "prefect, airflow or argo"),
    (["-b", "argo", "--spec", "missing.yaml"], "missing.yaml"),
])
def test_a_bad_backend_or_spec_is_exit_2_before_serving(orch, tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path, "shown")
    code, out, err = orch("ui", "--port", "0", *[a.replace("{spec}", str(spec)) for a in args])
    assert code == 2 and words in err and "Traceback" not in err


# -- Prefect and Airflow: the session's real servers ---------------------------------------------------------

@pytest.mark.slow
@pytest.mark.xdist_group("prefect-server")
def test_prefect_runs_are_read_from_the_real_server(prefect_server, orch, tmp_path):
    spec = write_spec(tmp_path / "proj", "ui-shown-prefect")
    with prefect_server.settings():
        assert orch("deploy", spec, "-b", "prefect")[0] == 0
        code, out, err = orch("run", spec, "-b", "prefect", "--deployed", "--json")
        assert code == 1, err
        run_id = json.loads(out)["run_id"]
        code, out, err = orch("runs", "show", run_id, "-b", "prefect", "--spec", spec, "--json")
        shown = json.loads(out)
        assert code == 0 and shown["steps"]["broken"]["status"] == "failed", err
        client = http_client(create_app(tmp_path / "home", server=ServerRuns.open("prefect", spec, prefect_server.url)),
                             raise_server_exceptions=False)
        page = check_pages(client, shown, "prefect")
        assert f'href="{prefect_server.url.removesuffix("/api")}/runs/flow-run/{run_id}"' in page
        assert "it broke" in page
        code, out, err = orch("runs", "show", run_id, "--html", tmp_path / "r.html", "-b", "prefect", "--spec", spec)
        assert code == 0 and states_on((tmp_path / "r.html").read_text()) == states_on(page), err


@pytest.fixture
def airflow(airflow_server, monkeypatch):
    for name, value in airflow_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AIRFLOW_CLI_TOKEN", raising=False)
    return airflow_server


@pytest.mark.slow
@pytest.mark.xdist_group("airflow-server")
def test_airflow_runs_are_read_from_the_real_server(airflow, orch, tmp_path):
    spec = write_spec(tmp_path / "proj", "ui-shown-airflow", "orch_ui_server_steps", airflow.steps_path)
    assert orch("deploy", spec, "-b", "airflow")[0] == 0
    code, out, err = orch("run", spec, "-b", "airflow", "--deployed", "--json")
    assert code == 1, err
    run_id = json.loads(out)["run_id"]
    code, out, err = orch("runs", "show", run_id, "-b", "airflow", "--spec", spec, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["steps"]["broken"]["status"] == "failed", err
    client = http_client(create_app(tmp_path / "home", server=ServerRuns.open("airflow", spec, None)),
                         raise_server_exceptions=False)
    page = check_pages(client, shown, "airflow")
    assert f'/dags/ui-shown-airflow/runs/{quote(run_id, safe="")}"' in page
