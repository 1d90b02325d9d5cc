"""Where a step runs on Airflow (#13): shipped code, a step's packages, secrets, pod settings.

One real `dag.test()` run covers the python target: the code fetched from the S3 test server and
imported from a fresh copy (never the spec's folder), a hand-made wheel installed offline into the
step's env, secrets read from Airflow's Variables and Connections (set as AIRFLOW_VAR_/AIRFLOW_CONN_,
or given to `orch run` as ORCH_SECRET_* in a --secrets file), masked in every log orch keeps and absent
from the RunResult and the DAG file, and a missing one failing its step before the step's code runs.
The Kubernetes target is checked without a cluster: the seed spec's DAG file loads in a DagBag, its
operators carry the pod settings, the provider builds the pod they describe, and the code URL a task
signs fetches the archive from the S3 server with no credentials.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
import yaml

from orch.backends.airflow.render import dag_source
from orch.backends.airflow.run import airflow_env, airflow_home
from orch.backends.shipping import ship
from orch.core import parse_spec
from orch.core.errors import UsageError

from ..conftest import ROOT
from ..test_pyenv import NAME as PACKAGE, make_wheel

TOKEN, PASSWORD, FILE_VALUE, REGION = "tok-Q8vz1-api", "pw-Lm3kx-warehouse", "file-Zr7wq-secret", "eu-Hq2-region"
# (held out: looked for everywhere)
WRONG_TOKEN = "orch-side-token-that-loses"  # ORCH_SECRET_* under a variable Airflow already has: Airflow's wins

STEPS = {
    "shipped_steps/__init__.py": "",
    "shipped_steps/steps.py": f"""
        import os

        import {PACKAGE}


        def use():
            token = os.environ["TOKEN"]
            print("the token is", token)
            return {{"token_len": len(token), "module": __file__, "cwd": os.getcwd(), "pkg": {PACKAGE}.VERSION}}
    """,
    "shipped_steps/never.py": """
        def never(marker):
            open(marker, "w").write("it ran")
    """,
    "shipped_steps/show.py": """
        import os
        import pathlib

        print("password", os.environ["PASSWORD"], "and", os.environ["FILE_SECRET"], "in", os.environ["REGION"])
        pathlib.Path(os.environ["ORCH_OUTPUTS"], "seen").write_text(pathlib.Path("data.txt").read_text())
    """,
    "data.txt": "shipped data",
}


def project(folder: Path, spec: dict) -> Path:
    """The spec and its code in a folder of their own; the spec's path."""
    for name, text in STEPS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def offline(monkeypatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.slow
def test_a_run_ships_code_installs_packages_and_reads_masked_secrets(orch, tmp_path, monkeypatch, s3_server):
    wheel = make_wheel(tmp_path)
    marker = tmp_path / "never-ran"
    spec = project(tmp_path / "project", {
        "apiVersion": "orch/v1", "name": "where-airflow", "code": {"ship": True},
        "steps": {
            "py": {"python": "shipped_steps.steps:use", "env": {"TOKEN": {"secret": "api-creds", "key": "token"}},
                   "packages": [f"{PACKAGE} @ {wheel.as_uri()}"],
                   "outputs": {"token_len": "integer", "module": "string", "cwd": "string", "pkg": "string"}},
            "cmd": {"command": [sys.executable, "-m", "shipped_steps.show"], "outputs": {"seen": "string"},
                    "env": {"PASSWORD": {"secret": "warehouse", "key": "password"},
                            "FILE_SECRET": {"secret": "from-file", "key": "value"},
                            "REGION": {"secret": "warehouse", "key": "region"}}},  # a key of the Connection's extra
            "missing": {"python": "shipped_steps.never:never", "args": {"marker": str(marker)},
                        "env": {"NOPE": {"secret": "absent-secret", "key": "value"}}},
            "not-json": {"python": "shipped_steps.never:never", "args": {"marker": str(marker)},
                         "env": {"V": {"secret": "plain-var", "key": "value"}}},
        }})
    offline(monkeypatch)
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    monkeypatch.setenv("AIRFLOW_VAR_API-CREDS", json.dumps({"token": TOKEN}))  # Airflow's own Variable
    monkeypatch.setenv("ORCH_SECRET_API_CREDS_TOKEN", WRONG_TOKEN)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "postgres", "login": "u", "password": PASSWORD,
                                                             "host": "db.example", "extra": {"region": REGION}}))
    monkeypatch.setenv("AIRFLOW_VAR_PLAIN-VAR", "plain text, not a JSON object")
    (tmp_path / "secrets.env").write_text(f"ORCH_SECRET_FROM_FILE_VALUE={FILE_VALUE}\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither the spec's folder nor the working folder holds shipped_steps
    code, out, err = orch("run", spec, "-b", "airflow", "--json", "--artifacts", f"{s3_server}/where",
                          "--secrets", tmp_path / "secrets.env")
    result = json.loads(out)
    steps = result["steps"]
    assert code == 1 and steps["py"]["status"] == "succeeded" and steps["cmd"]["status"] == "succeeded", (result, err[-3000:])
    py = steps["py"]["outputs"]
    assert py["token_len"] == len(TOKEN) and py["pkg"] == "1.0"
    assert "orch-code-" in py["cwd"] and py["module"] == f"{py['cwd']}/shipped_steps/steps.py"
    assert str(tmp_path / "project") not in py["module"]
    assert steps["cmd"]["outputs"] == {"seen": "shipped data"}  # `python -m` in the code's folder, read from it
    assert f"code: uploaded to {s3_server}/where/code/" in err

    missing = steps["missing"]
    assert missing["status"] == "failed" and missing["attempts"] == 1 and not marker.exists()
    assert missing["error"] == ("secret 'absent-secret' (key 'value') is not set: there is no Airflow Variable 'absent-secret' "
                                "(AIRFLOW_VAR_ABSENT-SECRET) and no Airflow Connection 'absent-secret'; or set "
                                "ORCH_SECRET_ABSENT_SECRET_VALUE, or give it in the file named by --secrets")
    assert steps["not-json"]["error"] == ("secret 'plain-var' (key 'value'): the Airflow Variable 'plain-var' is not JSON; "
                                          "it must be a JSON object holding the secret's keys")

    logs = {path: path.read_text(errors="replace") for path in airflow_home().rglob("*") if path.is_file()
            and path.suffix in (".log", ".py", "") and "airflow.db" not in path.name}
    dag_file = airflow_home() / "dags" / "where_airflow_dag.py"
    assert dag_file in logs and "api-creds" in logs[dag_file]
    printed = "\n".join(logs.values())
    assert "the token is ***" in printed and "password *** and *** in ***" in printed
    for value in (TOKEN, PASSWORD, FILE_VALUE, REGION):
        assert value not in out + err and value not in printed, value


SEED_POD = {
    "volumes": [{"name": "shm", "mount_path": "/dev/shm", "empty_dir": {"medium": "Memory", "size_limit": "2Gi"}},
                {"name": "cache", "mount_path": "/cache", "pvc": "hf-cache", "read_only": True, "sub_path": "hub"},
                {"name": "conf", "mount_path": "/etc/conf", "config_map": "train-conf"},
                {"name": "keys", "mount_path": "/etc/keys", "secret": "train-keys"}],
    "limits": {"cpu": 8, "memory": "32Gi"}, "labels": {"team": "ml"}, "annotations": {"example.com/owner": "ml {team}"},
    "image_pull_secrets": ["regcred"], "pod_spec_patch": {"priorityClassName": "high", "hostIPC": True,
                                                           "nodeSelector": {"pool": "patched"}},
}

INSPECT = r"""
import importlib.util, json, os, sys
sys.modules['orch'] = None  # the DAG files need nothing of orch
from airflow.dag_processing.dagbag import DagBag
from kubernetes.client import ApiClient

folder, sha = sys.argv[1], sys.argv[2]
bag = DagBag(dag_folder=folder)
assert not bag.import_errors, bag.import_errors
dag = bag.dags['ml-training-pipeline']
task = dag.get_task('train')
loaded = importlib.util.spec_from_file_location('seed_dag', os.path.join(folder, 'seed_dag.py'))
seed = importlib.util.module_from_spec(loaded)
loaded.loader.exec_module(seed)
seed.pod_code(task, None, sha)  # what the task's pre_execute does as it starts
store = os.environ.pop('ORCH_ARTIFACTS')
try:
    seed.pod_code(dag.get_task('ingest'), '/tmp/a-folder-store', sha)
except Exception as err:
    folder_error = f'{type(err).__name__}: {err}'
task.namespace = 'default'
serial = ApiClient().sanitize_for_serialization
print(json.dumps({'pod': serial(task.build_pod_request_obj(dry_run=True)), 'cmds': task.cmds, 'bootstrap': seed.BOOTSTRAP,
                  'plain_env': serial(bag.dags['plain-pods'].get_task('plain').env_vars),
                  'notify_cmds': dag.get_task('notify').cmds, 'folder_error': folder_error}))
"""


@pytest.mark.slow
def test_the_seed_spec_renders_pods_that_fetch_their_code_and_carry_their_settings(tmp_path, monkeypatch, s3_server):
    seed = tmp_path / "seed"
    shutil.copytree(ROOT / "specs" / "ml_pipeline", seed / "ml_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    data = yaml.safe_load(re.sub(r"\bartifact\b", "string", (ROOT / "specs" / "ml-training.yaml").read_text()))
    data["code"] = {"ship": True}
    data["defaults"].update(packages=["scikit-learn==1.5.*"], kubernetes=SEED_POD)
    data["steps"]["train"]["env"] = {"HF_TOKEN": {"secret": "hf-token", "key": "token"}}
    data["steps"]["notify"] = {"command": ["sh", "-c", "echo done"], "after": ["deploy"]}
    (seed / "pipeline.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    graph = parse_spec((seed / "pipeline.yaml").read_text(), str(seed / "pipeline.yaml"))
    store = f"{s3_server}/seed"
    shipped = ship(graph, str(seed / "pipeline.yaml"), store, say=lambda line: None)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "seed_dag.py").write_text(dag_source(graph, "kubernetes", shipped), encoding="utf-8")
    plain = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "plain-pods", "steps": {"plain": {
        "image": "busybox:1", "command": ["sh", "-c", "test -n \"$DB_PASSWORD\""],
        "env": {"DB_PASSWORD": {"secret": "db", "key": "password"}}}}}))
    (dags / "plain_dag.py").write_text(dag_source(plain, "kubernetes"), encoding="utf-8")

    monkeypatch.setenv("ORCH_ARTIFACTS", store)  # the workers' store: the DAG file names only the sha
    done = subprocess.run([sys.executable, "-c", INSPECT, str(dags), shipped.sha256], env=airflow_env(airflow_home(), None),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    pod, spec = got["pod"], got["pod"]["spec"]
    container = spec["containers"][0]
    env = {e["name"]: e for e in container["env"]}

    # the code: a presigned GET of the archive, fetched with no credentials; nothing of orch in the image
    with urllib.request.urlopen(env["ORCH_CODE_URL"]["value"], timeout=30) as response:
        assert hashlib.sha256(response.read()).hexdigest() == shipped.sha256 == env["ORCH_CODE_SHA"]["value"]
    assert got["cmds"] == got["notify_cmds"] == ["python3", "-c", got["bootstrap"]]  # a command step too: it needs the code
    imports = [n for n in ast.walk(ast.parse(got["bootstrap"])) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any((getattr(n, "module", None) or n.names[0].name).split(".")[0] == "orch" for n in imports)
    assert json.loads(env["ORCH_PACKAGES"]["value"]) == ["scikit-learn==1.5.*"]
    assert got["folder_error"] == (f"AirflowFailException: the shipped code is at file:///tmp/a-folder-store/code/{shipped.sha256}"
                                   ".tar.gz, in a store a pod cannot reach (it cannot be signed for the pod to fetch): ship "
                                   "code through an object store (artifacts: {store: s3://...}, or $ORCH_ARTIFACTS on the workers)")

    # secrets: a secretKeyRef the runner checks (optional), a plain pod's required (Kubernetes will not start it)
    assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}}
    assert json.loads(env["ORCH_SECRETS"]["value"]) == [["HF_TOKEN", "hf-token", "token"]]
    assert got["plain_env"] == [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "db", "key": "password", "optional": False}}}]

    # the pod settings, as the provider builds the pod
    assert container["resources"] == {"limits": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"},
                                      "requests": {"cpu": "4", "memory": "16Gi"}}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}
    assert volumes["cache"]["persistentVolumeClaim"] == {"claimName": "hf-cache"}
    assert volumes["conf"]["configMap"] == {"name": "train-conf"} and volumes["keys"]["secret"] == {"secretName": "train-keys"}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["cache"] == {"name": "cache", "mountPath": "/cache", "readOnly": True, "subPath": "hub"}
    assert mounts["shm"]["mountPath"] == "/dev/shm" and "xcom" in volumes  # the XCom sidecar's beside ours
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["metadata"]["labels"]["team"] == "ml" and pod["metadata"]["annotations"] == {"example.com/owner": "ml {team}"}
    # the patch: the base pod, where the operator sets nothing of its own
    assert spec["priorityClassName"] == "high" and spec["hostIPC"] is True and spec["nodeSelector"] == {"pool": "patched"}
    source = (dags / "seed_dag.py").read_text()
    assert shipped.sha256 in source and "X-Amz-Signature" not in source  # signed as each task starts, never written


def test_a_shipping_pipeline_is_rendered_with_its_packed_code():
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "ships", "code": {"ship": True},
                                       "steps": {"a": {"python": "m:f"}}}))
    with pytest.raises(UsageError, match="render it with orch render, which packs the code"):
        dag_source(graph)
