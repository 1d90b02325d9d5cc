"""A command step with an image and outputs on Airflow's `--target kubernetes`: a CommandPod
(backends/airflow/command_pod.py) whose command writes its output files to the XCom volume, read in
the XCom sidecar and parsed by their declared types in the task.

There is no Kubernetes cluster here, so no pod runs. What is real: the DAG file rendered and loaded
by Airflow's DagBag in a child process that cannot import orch; the pod that the provider builds from
each task (`build_pod_request_obj`, against a kubeconfig naming a server nothing contacts); and the
task's own `extract_xcom`, run with the exec stream replaced by the very command it asks for, run
here with /bin/sh (and busybox's sh and od, alpine's, when installed) on a folder standing for the
XCom volume, and the pod's status and the sidecar's kill replaced by stand-ins (Kubernetes', not
orch's). Each result is compared with what orch's own reading of the same files gives
(`outputs_from_files`: the local backend's), errors word for word.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orch.backends.airflow.render import dag_source
from orch.backends.airflow.run import airflow_env, airflow_home
from orch.core import load_spec, parse_spec
from orch.core.errors import SpecError
from orch.core.typed import OutputError, outputs_from_files, to_text

from ..test_generated_names import _check_module

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = {"text": "string", "uni": "string", "n": "integer", "e": "number", "flag": "boolean", "data": "json",
           "empty": "string"}  # 'n' and 'e': what `echo -n` / `echo -e` would swallow
SPEC = {
    "apiVersion": "orch/v1", "name": "outputs",
    "steps": {
        "make": {"image": "busybox:1", "command": ["sh", "-c", "echo made > \"$ORCH_OUTPUTS/text\""],
                 "env": {"ORCH_OUTPUTS": "{{ ds }}"}, "outputs": OUTPUTS},
        "use": {"image": "busybox:1", "command": ["echo", "${{ steps.make.outputs.text }}|${{ steps.make.outputs.n }}|"
                                                  "${{ steps.make.outputs.data }}|{{ ds }}"]},
        "py": {"image": "python:3", "python": "m:f", "args": {"d": "${{ steps.make.outputs.data }}"}},
        "local": {"command": ["true"], "outputs": {"x": "string"}},
    },
}
GOOD = {"text": "v{{ ds }}'\r\n".encode(), "uni": "naïve ☃\n".encode(), "n": b" 42\n", "e": b"2.5e3", "flag": b"true\n",
        "data": '{"k": [1, "é", "{{ x }}"]}\n\n'.encode(), "empty": b""}
CASES = {  # name -> the files the command wrote (None: not written), and the base container's exit code
    "good": (GOOD, 0),
    "missing": ({**GOOD, "n": None, "e": None}, 0),  # '-n', '-e': no echo
    "wrong-type": ({**GOOD, "n": b"forty-two\n"}, 0),
    "empty-integer": ({**GOOD, "n": b""}, 0),
    "not-utf8": ({**GOOD, "text": b"ok\xff\xfe"}, 0),
    "every-ascii-byte": ({**GOOD, "text": bytes(range(1, 128)) + b"\n"}, 0),
    "large": ({**GOOD, "uni": "é☃".encode() * 50_000, "text": b"x" * 4096}, 0),
    "a-folder": ({**GOOD, "data": "folder"}, 0),
    "container-failed": ({**GOOD, "n": None}, 1),
}
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""

CHILD = r'''
import json, os, subprocess, sys
from types import SimpleNamespace
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.execution_time.context import set_current_context
from kubernetes.client import models as k8s

folder, cases_file = sys.argv[1], sys.argv[2]
bag = DagBag(dag_folder=folder)
dag = bag.dags["outputs"]
found = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "tasks": {}, "cases": {}, "rendered": {}}
for task in dag.tasks:
    about = {"type": type(task).__name__, "do_xcom_push": task.do_xcom_push, "orch_outputs": getattr(task, "orch_outputs", None)}
    if hasattr(task, "build_pod_request_obj"):
        pod = task.build_pod_request_obj(None)
        about["containers"] = {c.name: {"image": c.image, "mounts": [[m.name, m.mount_path] for m in c.volume_mounts or []],
                                        "env": {e.name: e.value for e in c.env or []}} for c in pod.spec.containers}
        about["volumes"] = {v.name: v.empty_dir is not None for v in pod.spec.volumes or []}
    found["tasks"][task.task_id] = about

make = dag.get_task("make")
code = type(make).extract_xcom.__globals__  # the DAG file's own module
MOUNT = code["PodDefaults"].XCOM_MOUNT_PATH


class Exec:
    """Kubernetes' exec stream, for the command the task asks for: run here, with `volume` where the pod has MOUNT."""

    def __init__(self, command, volume, shell):
        argv = [volume if arg == MOUNT else arg for arg in command]
        env = dict(os.environ)
        if shell:  # busybox's sh and od, as in the alpine sidecar
            argv, env["PATH"] = [shell["sh"], "sh"] + argv[1:], shell["path"]
        self.command = command
        self.done = subprocess.run(argv, capture_output=True, text=True, env=env)

    def run_forever(self, timeout=None):
        pass

    def read_stdout(self, timeout=None):
        return self.done.stdout

    def read_stderr(self, timeout=None):
        return self.done.stderr

    def close(self):
        pass


class Manager:
    """The pod's status (its base container ended with `exit_code`) and the sidecar's kill."""

    def __init__(self, exit_code):
        self.exit_code, self.killed = exit_code, 0

    def read_pod(self, pod):
        ended = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=self.exit_code))
        status = k8s.V1ContainerStatus(name="base", image="x", image_id="", ready=False, restart_count=0, state=ended)
        return k8s.V1Pod(status=k8s.V1PodStatus(container_statuses=[status]))

    def extract_xcom_kill(self, pod):
        self.killed += 1


cases = json.load(open(cases_file))
for key, case in cases["cases"].items():
    execs = []

    def stream(api, name, namespace, **options):
        execs.append({"container": options["container"], "command": options["command"]})
        return Exec(options["command"], case["folder"], case["shell"])

    code["kubernetes_stream"] = stream
    manager = Manager(case["exit_code"])
    make.__dict__.update(pod_manager=manager, client=SimpleNamespace(connect_get_namespaced_pod_exec=None))
    pushed = []
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.append([key, value]))
    with set_current_context({"ti": ti}):
        try:
            result = {"xcom": make.extract_xcom(k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="p", namespace="ns")))}
        except Exception as err:
            result = {"raised": type(err).__name__, "error": str(err)}
    found["cases"][key] = {**result, "pushed": pushed, "killed": manager.killed, "execs": execs}

found["cut"] = {}
for key, printed in cases["cut"].items():
    try:
        found["cut"][key] = type(make).orch_outputs_of(printed, {"text": "string"}, "od: text: Permission denied\n")
    except Exception as err:
        found["cut"][key] = f"{type(err).__name__}: {err}"

xcom = found["cases"]["good/sh"]["xcom"]  # what downstream tasks read of `make`, as the XCom it pushed
ti = SimpleNamespace(xcom_pull=lambda task_ids: {"make": xcom}[task_ids])
for name in ("use", "py"):
    task = dag.get_task(name)
    task.render_template_fields({"ti": ti, "macros": SimpleNamespace(json=json), "params": {}, "run_id": "r", "dag_run": None})
    found["rendered"][name] = {"argv": task.cmds + task.arguments, "env": {e.name: e.value for e in task.env_vars or []}}
print(json.dumps(found))
'''


def _busybox(folder: Path) -> dict | None:
    """busybox's sh, and a PATH whose od is busybox's (alpine's sidecar has both); None when not installed."""
    busybox = shutil.which("busybox")
    if not busybox:
        return None
    (folder / "bin").mkdir()
    (folder / "bin" / "od").symlink_to(busybox)
    return {"sh": busybox, "path": str(folder / "bin")}


def _write(folder: Path, files: dict) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        if data == "folder":
            (folder / name).mkdir()
        elif data is not None:
            (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """The DAG file rendered, loaded in Airflow, its pods built, and `make`'s extract_xcom run on every case."""
    tmp = tmp_path_factory.mktemp("pods")
    source = dag_source(parse_spec(yaml.safe_dump(SPEC, allow_unicode=True, sort_keys=False)), "kubernetes")
    (tmp / "dags").mkdir()
    (tmp / "dags" / "outputs_dag.py").write_text(source, encoding="utf-8")
    shells = {"sh": None, "busybox": _busybox(tmp)}
    cases = {f"{case}/{shell}": {"folder": str(_write(tmp / case / shell, files)), "exit_code": exit_code, "shell": how}
             for case, (files, exit_code) in CASES.items() for shell, how in shells.items() if how or shell == "sh"}
    cut = {"no-end": "+text\n 6f 6b\n", "nothing": ""}
    (tmp / "cases.json").write_text(json.dumps({"cases": cases, "cut": cut}), encoding="utf-8")
    (tmp / "kubeconfig").write_text(KUBECONFIG, encoding="utf-8")
    env = airflow_env(airflow_home(), ROOT)
    env.update(KUBECONFIG=str(tmp / "kubeconfig"), AIRFLOW_CONN_KUBERNETES_DEFAULT='{"conn_type": "kubernetes"}')
    script = f"import sys; sys.modules['orch'] = None; exec({CHILD!r})"
    done = subprocess.run([sys.executable, "-c", script, str(tmp / "dags"), str(tmp / "cases.json")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return source, json.loads(done.stdout.strip().splitlines()[-1])


def _expected(files: dict, exit_code: int) -> dict:
    """What orch's own reading of these files gives (the local backend's), as the task would end."""
    if exit_code:
        return {"xcom": None, "pushed": []}
    read = {name: None if data in (None, "folder") else data for name, data in files.items()}
    try:
        return {"xcom": json.dumps(outputs_from_files(read, OUTPUTS)), "pushed": []}
    except OutputError as err:
        return {"raised": "StepError", "error": str(err), "pushed": [["orch_error", str(err)]]}


def test_the_dag_loads_with_a_command_pod_that_pushes_its_outputs(outcome):
    source, found = outcome
    assert found["errors"] == {}
    tasks = found["tasks"]
    make = tasks["make"]
    assert (make["type"], make["do_xcom_push"], make["orch_outputs"]) == ("CommandPod", True, OUTPUTS)
    base, sidecar = make["containers"]["base"], make["containers"]["airflow-xcom-sidecar"]
    assert base["env"] == {"ORCH_OUTPUTS": "/airflow/xcom"}  # orch's, over the user's own variable of that name
    assert base["mounts"] == [["xcom", "/airflow/xcom"]] and sidecar["mounts"] == [["xcom", "/airflow/xcom"]]
    assert make["volumes"] == {"xcom": True} and sidecar["image"].startswith("alpine:")  # an emptyDir, the provider's sidecar
    assert (tasks["use"]["type"], tasks["use"]["do_xcom_push"], list(tasks["use"]["containers"])) == \
        ("KubernetesPodOperator", False, ["base"])  # no outputs: no sidecar
    assert (tasks["py"]["type"], tasks["py"]["do_xcom_push"]) == ("KubernetesPodOperator", True)  # the bootstrap's return.json
    assert tasks["local"]["type"] == "_PythonDecoratedOperator"  # no image: a task of its own, outputs as ever
    assert source.count("\nclass CommandPod(KubernetesPodOperator):") == 1 and source.count("\nBOOTSTRAP = ") == 1


@pytest.mark.parametrize("case", CASES)
def test_the_outputs_are_read_in_the_sidecar_and_parsed_as_on_every_backend(outcome, case):
    _, found = outcome
    files, exit_code = CASES[case]
    ran = [key for key in found["cases"] if key.split("/")[0] == case]
    assert ran
    for key in ran:
        got = found["cases"][key]
        assert {k: got[k] for k in ("xcom", "raised", "error", "pushed") if k in got} == _expected(files, exit_code), key
        assert got["killed"] == 1  # the sidecar is ended, whatever came of the outputs
        if exit_code:
            assert got["execs"] == []  # a failed container's files are not read: the provider fails the task
        else:
            (run,) = got["execs"]
            assert run["container"] == "airflow-xcom-sidecar"
            assert run["command"][:2] == ["/bin/sh", "-c"] and run["command"][3:] == ["sh", "/airflow/xcom", *OUTPUTS]


def test_alpines_sh_and_od_read_the_same(outcome):
    """The sidecar is alpine: busybox's sh and od must give what /bin/sh and this machine's od give."""
    assert shutil.which("busybox"), "busybox is not installed (apt-get install busybox; .ci/run does): alpine's sh and od untried"
    _, found = outcome
    for case in CASES:
        assert found["cases"][f"{case}/busybox"] == found["cases"][f"{case}/sh"], case


def test_what_the_sidecar_gives_keeps_every_byte(outcome):
    _, found = outcome
    good = json.loads(found["cases"]["good/sh"]["xcom"])
    assert good == {"text": "v{{ ds }}'\r", "uni": "naïve ☃", "n": 42, "e": 2500.0, "flag": True,
                    "data": {"k": [1, "é", "{{ x }}"]}, "empty": ""}
    assert json.loads(found["cases"]["every-ascii-byte/sh"]["xcom"])["text"] == bytes(range(1, 128)).decode()
    assert json.loads(found["cases"]["large/sh"]["xcom"])["uni"] == "é☃" * 50_000
    assert "is not UTF-8 text: byte 0xff at offset 2" in found["cases"]["not-utf8/sh"]["error"]
    assert found["cases"]["wrong-type/sh"]["error"] == "output 'n': 'forty-two' is not an integer; it is declared integer"
    assert found["cases"]["missing/sh"]["error"] == "output 'n' was not written to $ORCH_OUTPUTS/n"


def test_a_read_cut_short_fails_saying_why(outcome):
    _, found = outcome
    said = "StepError: the outputs could not be read in the pod's XCom sidecar: od: text: Permission denied"
    assert found["cut"] == {"no-end": said, "nothing": said}


def test_downstream_pods_read_a_command_pods_outputs_like_any_steps(outcome):
    _, found = outcome
    data = {"k": [1, "é", "{{ x }}"]}
    assert found["rendered"]["use"]["argv"] == ["echo", "v{{ ds }}'\r|42|" + to_text(data) + "|{{ ds }}"]
    env = found["rendered"]["py"]["env"]
    assert [json.loads(value) for key, value in env.items() if key.startswith("ORCH_R")] == [data]


def test_the_pod_code_comes_only_where_a_pod_needs_it():
    plain = dag_source(parse_spec(yaml.safe_dump({**SPEC, "steps": {"use": {"image": "b:1", "command": ["true"]}}})),
                       "kubernetes")
    assert "CommandPod" not in plain and "BOOTSTRAP" not in plain and "kubernetes_stream" not in plain
    only = dag_source(parse_spec(yaml.safe_dump({**SPEC, "steps": {"make": SPEC["steps"]["make"]}})), "kubernetes")
    assert "class CommandPod(" in only and "BOOTSTRAP" not in only
    assert "CommandPod" not in dag_source(parse_spec(yaml.safe_dump(SPEC)))  # the python target: tasks, as before


def test_shell_pipeline_renders_for_kubernetes_with_its_outputs():
    source = dag_source(load_spec(ROOT / "specs" / "shell-pipeline.yaml"), "kubernetes")
    tree = ast.parse(source)
    made = {node.targets[0].id: node.value.func.id for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.endswith("_task")
            and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)}
    assert made == {"_split_task": "CommandPod", "_count_task": "CommandPod", "_top_word_task": "CommandPod",
                    "_report_task": "KubernetesPodOperator"}


def test_an_output_from_stdout_is_refused_naming_the_step_and_output():
    spec = {**SPEC, "steps": {"say": {"image": "b:1", "command": ["echo", "hi"],
                                      "outputs": {"said": {"type": "string", "from": "stdout"}, "kept": "string"}}}}
    with pytest.raises(SpecError) as raised:
        dag_source(parse_spec(yaml.safe_dump(spec)), "kubernetes")
    (diagnostic,) = raised.value.diagnostics
    assert (diagnostic.code, diagnostic.path) == ("E814", ("steps", "say", "outputs", "said", "from"))
    assert "step 'say'" in diagnostic.message and "$ORCH_OUTPUTS/said" in diagnostic.hint
    dag_source(parse_spec(yaml.safe_dump(spec)))  # the python target runs it in its task, stdout and all


HOSTILE = ["command-pod", "read-outputs", "closing", "json", "pod-defaults", "api-exception", "orch-outputs", "k8s",
           "kubernetes-stream", "generic-api-retry", "container-is-succeeded", "get-current-context", "error", "self"]


def test_names_like_the_pod_codes_own_stay_apart():
    """Steps, outputs and params named like what command_pod.py binds: the module's scopes keep them apart."""
    steps = {name: {"image": "b:1", "command": ["echo", "${{ params.%s }}" % name], "outputs": {name: "string"}}
             for name in HOSTILE}
    spec = {"apiVersion": "orch/v1", "name": "command-pod", "steps": steps,
            "params": {name: {"type": "string", "default": "v"} for name in HOSTILE}}
    graph = parse_spec(yaml.safe_dump(spec))
    _check_module(dag_source(graph, "kubernetes"), graph, flow_parameters=False)


IMAGES = r'''
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
images = {}
for dag_id, dag in sorted(bag.dags.items()):
    for task in dag.tasks:
        if hasattr(task, "image"):
            task.render_template_fields({"params": json.loads(sys.argv[2]), "ti": None, "run_id": "r", "dag_run": None})
            images[f"{dag_id}/{task.task_id}"] = task.image
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "images": images}))
'''


def test_params_in_an_image_reach_the_pod_as_their_text(tmp_path):
    """`image` is one of the pod's templates: each param in it as the param's text, the rest as written."""
    spec = {"apiVersion": "orch/v1", "name": "images",
            "params": {"tag": {"type": "string", "default": "1"}, "reg": {"type": "string", "default": "r.io"},
                       "n": {"type": "integer", "default": 3}},
            "defaults": {"image": "${{ params.reg }}/base:${{ params.n }}"},
            "steps": {"cmd": {"image": "busybox:${{ params.tag }}", "command": ["true"]},
                      "out": {"command": ["true"], "outputs": {"o": "string"}},
                      "py": {"python": "m:f"},
                      "fixed": {"image": "busybox:1.36", "command": ["true"]}}}
    (tmp_path / "images_dag.py").write_text(dag_source(parse_spec(yaml.safe_dump(spec)), "kubernetes"), encoding="utf-8")
    python_pods = {**spec, "name": "python-pods", "steps": {"py": {"python": "m:f"}}}  # no command pod: MACROS all the same
    (tmp_path / "python_pods_dag.py").write_text(dag_source(parse_spec(yaml.safe_dump(python_pods)), "kubernetes"),
                                                 encoding="utf-8")
    params = {"tag": "1.36", "reg": "r.io/{{ ds }}", "n": 3}
    script = f"import sys; sys.modules['orch'] = None; exec({IMAGES!r})"
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), json.dumps(params)],
                          env=airflow_env(airflow_home(), ROOT), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    assert found["images"] == {"images/cmd": "busybox:1.36", "images/out": "r.io/{{ ds }}/base:3",
                               "images/py": "r.io/{{ ds }}/base:3", "images/fixed": "busybox:1.36",
                               "python-pods/py": "r.io/{{ ds }}/base:3"}
