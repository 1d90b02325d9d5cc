"""On --target kubernetes, after Jinja renders a pod's templates, Kubernetes expands `$(VAR)` and `$$` in its
command, args and env (not in its image): what the container gets is still the step's text byte for byte,
literals, params and run ids alike, for command pods and for a python pod's call and references.

Rendered by Airflow's own template fields in a child process that cannot import orch; the expansion is
played by the model of Kubernetes' third_party/forked/golang/expansion in the Argo tests."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from orch.backends.airflow.render import dag_source
from orch.backends.airflow.run import airflow_env, airflow_home
from orch.core import parse_spec

from ..argo.test_plain_containers import kubernetes_expand
from .test_kubernetes_outputs import ROOT

HOSTILE = "$(HOME) $$ $$$ $(X $ {{ ds }} ${X} end$"
RENDER = r'''
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
found = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "pods": {}}
for task in bag.dags["dollars"].tasks:
    if hasattr(task, "cmds"):
        task.render_template_fields({"params": json.loads(sys.argv[2]), "ti": None, "run_id": "manual__$(R)$$", "dag_run": None})
        found["pods"][task.task_id] = {"argv": task.cmds + task.arguments, "env": {e.name: e.value for e in task.env_vars or []}}
print(json.dumps(found))
'''


def test_a_pods_text_survives_kubernetes_expansion(tmp_path):
    spec = {"apiVersion": "orch/v1", "name": "dollars", "params": {"p": {"type": "string", "default": "x"}},
            "steps": {"cmd": {"image": "busybox:1.36", "command": ["echo", HOSTILE, "<${{ params.p }}|${{ run.id }}>"],
                              "env": {"E": HOSTILE, "F": "${{ params.p }}"}},
                      "py": {"image": "python:3.12", "python": "m:f", "args": {"a": HOSTILE, "b": "${{ params.p }}"}}}}
    (tmp_path / "dollars_dag.py").write_text(dag_source(parse_spec(yaml.safe_dump(spec)), "kubernetes"), encoding="utf-8")
    value = "v$(HOME)$$w"
    script = f"import sys; sys.modules['orch'] = None; exec({RENDER!r})"
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), json.dumps({"p": value})],
                          env=airflow_env(airflow_home(), ROOT), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    cmd, py = found["pods"]["cmd"], found["pods"]["py"]
    defined = {"HOME": "/root", "X": "x", "R": "r"}  # what Kubernetes would substitute, were it asked to
    env = {name: kubernetes_expand(text, defined) for name, text in cmd["env"].items()}
    assert [kubernetes_expand(arg, env | defined) for arg in cmd["argv"]] == ["echo", HOSTILE, f"<{value}|manual__$(R)$$>"]
    assert env["E"] == HOSTILE and env["F"] == value
    env = {name: kubernetes_expand(text, defined) for name, text in py["env"].items()}
    payload = json.loads(env["ORCH_PAYLOAD"])
    assert payload["args"]["a"] == HOSTILE
    (ref,) = [text for name, text in env.items() if name.startswith("ORCH_R")]
    assert ref == value
