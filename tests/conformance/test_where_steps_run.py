"""The seed pipeline where its steps really run: its code shipped through an S3 store, each step in a
copy that is not the project's folder, a secret read from the backend's own store and never written.

The project (specs/ml_pipeline and the seed spec) is copied to a folder of its own; a probe step
checks that what it imports comes from its working folder, not from that project, and prints the
secret, which must then appear in no output orch gives.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from orch.cli.main import main

from .conftest import SERVERS, _deploy_then_run, _param, _signed_in

SPECS = Path(__file__).resolve().parents[2] / "specs"
HELD_OUT = "hf_7Ruq2mXw9HeldOutSecretValue"  # the secret's value: in no file, log or result
PROBE = ("import os, ml_pipeline; here = os.path.realpath(ml_pipeline.__file__); "
         "assert not here.startswith(os.environ['PROJECT']), here; "
         "assert here.startswith(os.path.realpath(os.getcwd())), (here, os.getcwd()); "
         "assert os.environ['HF_TOKEN'] == os.environ['EXPECTED'][::-1]; print('token', os.environ['HF_TOKEN'])")


def _project(root: Path) -> Path:
    """The seed's project, copied, shipping its code, with the probe step reading the secret."""
    project = root / "project"
    shutil.copytree(SPECS / "ml_pipeline", project / "ml_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    spec = yaml.safe_load((SPECS / "ml-training.yaml").read_text(encoding="utf-8"))
    spec["code"] = {"ship": True}
    spec.pop("schedule")
    spec["steps"]["probe"] = {"command": ["python", "-c", PROBE], "after": ["ingest"],
                              "env": {"PROJECT": str(project.resolve()), "EXPECTED": HELD_OUT[::-1],
                                      "HF_TOKEN": {"secret": "hf-token", "key": "token"}}}
    (project / "ml-training.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return project / "ml-training.yaml"


def _give_secret(backend: str, server, monkeypatch) -> None:
    """The secret where each backend reads it: local ORCH_SECRET_*, which `orch run -b airflow` turns into
    Airflow's AIRFLOW_VAR_; Prefect: a Secret block on the server the run uses; Airflow's server: its Variable."""
    monkeypatch.setenv("ORCH_SECRET_HF_TOKEN_TOKEN", HELD_OUT)
    if backend in ("prefect", "prefect-server"):
        from prefect.blocks.system import Secret

        Secret(value={"token": HELD_OUT}).save("hf-token", overwrite=True)
    elif backend == "airflow-server":
        from orch.backends.airflow.api import Client

        client = Client(server.url, username=server.username, password=server.password)
        client.request("DELETE", "/api/v2/variables/hf-token") if _has_variable(client, "hf-token") else None
        client.request("POST", "/api/v2/variables", {"key": "hf-token", "value": json.dumps({"token": HELD_OUT})})


def _has_variable(client, key: str) -> bool:
    from orch.backends.airflow.api import ApiError

    try:
        client.get(f"/api/v2/variables/{key}")
    except ApiError as err:
        if err.status == 404:
            return False
        raise
    return True


@pytest.mark.slow
@pytest.mark.parametrize("backend", [_param(b) for b in ("local", *SERVERS)], indirect=True)  # a worker on another machine: the servers
def test_the_seed_runs_from_shipped_code(request, backend, workdir, s3_server, monkeypatch, capsysbinary):
    spec = _project(workdir)
    server = request.getfixturevalue(SERVERS[backend]) if backend in SERVERS else None
    data = workdir / "data"
    store = ["--artifacts", f"{s3_server}/{uuid.uuid4().hex[:8]}"]
    params = ["-p", f"bucket={data / 'bucket'}", "-p", f"registry={data / 'registry'}"]
    with _signed_in(server, monkeypatch):
        _give_secret(backend, server, monkeypatch)
        args = _deploy_then_run(server, backend, spec, store, workdir, capsysbinary) if server else \
            ["run", str(spec), "-b", backend, "--json", *store]
        with pytest.raises(SystemExit) as exit_info:
            main([*args, *params])
    captured = capsysbinary.readouterr()
    result = json.loads(captured.out.decode())
    assert exit_info.value.code == 0, {n: s.get("error") for n, s in result["steps"].items()}
    assert result["status"] == "succeeded"
    assert result["steps"]["probe"]["status"] == "succeeded"
    assert result["steps"]["deploy"]["status"] == "succeeded"
    assert HELD_OUT.encode() not in captured.out + captured.err
    for path in workdir.rglob("*"):  # orch's state, logs, rendered files: anything written under the run's folder
        if path.is_file() and path.stat().st_size < 50 << 20:
            assert HELD_OUT.encode() not in path.read_bytes(), path
