"""Where an Argo step runs (#13): pod settings, secrets, packages and shipped code in the rendered
manifests (valid against Argo's schema, as hera's models dump them, no secret value anywhere), and the
runner run here as a pod runs it: the code artifact unpacked as Argo's executor does, a missing secret
failing the step before its code runs, a hand-made wheel installed offline into the step's env, and the
code fetched over http (Airflow's pods) with its sha256 checked."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from orch.backends import codepack
from orch.backends.argo import render as rendering
from orch.backends.argo.bootstrap import unpack
from orch.backends.argo.render import render
from orch.backends.argo import where
from orch.backends.argo.script import bootstrap_source
from orch.backends.shipping import Shipped
from orch.core import SpecError, UsageError, load_spec, parse_spec

from ..test_pyenv import NAME as WHEEL_PACKAGE
from ..test_pyenv import _offline, make_wheel
from .test_fast_yaml import dumped, ordered
from .test_render import check, validator  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = "hunter2-Zq9-held-out-value"  # a secret's value in the environment while rendering: never rendered
SHA = "ab" * 32
POD_ROOT = "/tmp/orch"

KUBE = {
    "volumes": [
        {"name": "shm", "mount_path": "/dev/shm", "empty_dir": {"medium": "Memory", "size_limit": "1Gi"}},
        {"name": "data", "mount_path": "/data", "pvc": "claim", "read_only": True},
        {"name": "cfg", "mount_path": "/etc/cfg", "config_map": "cfg"},
        {"name": "creds", "mount_path": "/etc/creds/x", "secret": "creds", "sub_path": "x"},
    ],
    "limits": {"cpu": 2, "memory": "4Gi"},
    "labels": {"team": "ml"},
    "annotations": {"example.com/note": "a b"},
    "image_pull_secrets": ["reg-b", "reg-a"],
    "pod_spec_patch": {"priorityClassName": "high", "containers": [{"name": "main", "stdin": True}]},
}


def spec(steps: dict, **top) -> dict:
    return {"apiVersion": "orch/v1", "name": "where", **top, "steps": steps}


def graph_of(data: dict, path: str | None = None):
    return parse_spec(yaml.safe_dump(data, sort_keys=False), path)


STEPS = {
    "train": {"python": "mypkg.steps:work", "args": {"n": 1}, "outputs": {"n": "integer"},
              "env": {"HF_TOKEN": {"secret": "hf-token", "key": "token"}, "PLAIN": "hello"},
              "packages": ["orchtestpkg==1.0"], "resources": {"cpu": 1, "memory": "1Gi", "gpu": 1}, "kubernetes": KUBE},
    "shell": {"command": ["sh", "-c", "echo hi > $ORCH_OUTPUTS/x"], "image": "busybox:1.36", "outputs": {"x": "string"},
              "env": {"TOKEN": {"secret": "api", "key": "k"}},
              "kubernetes": {"image_pull_secrets": ["reg-a", "reg-c"], "volumes": [{"name": "scratch", "mount_path": "/scratch",
                                                                                    "empty_dir": True}]}},
    "tooled": {"command": ["orchtestpkg"], "image": "python:3.12-slim", "packages": ["orchtestpkg==1.0"]},
}


def as_hera_dumps(graph, code=None, chunk_size=rendering.MAX_TASKS):
    data = rendering.spec_data(graph, chunk_size, code)
    assert ordered(dumped("WorkflowSpec", data)) == ordered(data)
    document = rendering._document(graph, data, "workflow")
    assert ordered(dumped("Workflow", document)) == ordered(document)
    return data


def templates_of(document: dict) -> dict:
    return {t["name"]: t for t in document["spec"]["templates"]}


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# -- the manifests ------------------------------------------------------------------------------

def test_pod_settings_secrets_and_packages_on_each_steps_template(validator, monkeypatch):
    monkeypatch.setenv("ORCH_SECRET_HF_TOKEN_TOKEN", HELD_OUT)
    graph = graph_of(spec(STEPS))
    (document,) = check(graph, validator)
    as_hera_dumps(graph)
    templates = templates_of(document)
    train, shell, tooled = templates["train"], templates["shell"], templates["tooled"]
    assert train["volumes"] == [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
                                {"name": "data", "persistentVolumeClaim": {"claimName": "claim", "readOnly": True}},
                                {"name": "cfg", "configMap": {"name": "cfg"}},
                                {"name": "creds", "secret": {"secretName": "creds"}}]
    assert train["container"]["volumeMounts"] == [
        {"mountPath": "/dev/shm", "name": "shm"}, {"mountPath": "/data", "name": "data", "readOnly": True},
        {"mountPath": "/etc/cfg", "name": "cfg"}, {"mountPath": "/etc/creds/x", "name": "creds", "subPath": "x"}]
    assert train["container"]["resources"] == {"limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
                                               "requests": {"cpu": "1", "memory": "1Gi"}}
    assert train["metadata"] == {"annotations": {"example.com/note": "a b"}, "labels": {"team": "ml"}}
    assert json.loads(train["podSpecPatch"]) == KUBE["pod_spec_patch"]
    assert document["spec"]["imagePullSecrets"] == [{"name": "reg-a"}, {"name": "reg-b"}, {"name": "reg-c"}]
    env = env_of(train["container"])
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}}
    assert json.loads(env["ORCH_SECRETS"]) == [["HF_TOKEN", "hf-token", "token"]]
    assert json.loads(env["ORCH_PACKAGES"]) == ["orchtestpkg==1.0"]
    assert "PLAIN" not in env and '"PLAIN": "hello"' in train["container"]["args"][0]  # plain env: in the call
    # a plain container has no runner to check a secret: Kubernetes refuses to start it without one
    assert env_of(shell["container"])["TOKEN"] == {"secretKeyRef": {"name": "api", "key": "k", "optional": False}}
    assert shell["container"]["command"] == ["sh"] and "ORCH_SECRETS" not in env_of(shell["container"])
    assert [m["name"] for m in shell["container"]["volumeMounts"]] == ["orch-outputs", "scratch"]
    assert document["spec"]["volumes"] == [{"name": "orch-outputs", "emptyDir": {}}]
    # a command with packages goes through the runner, which makes their env
    assert tooled["container"]["command"][:2] == ["python3", "-c"]
    assert json.loads(env_of(tooled["container"])["ORCH_PACKAGES"]) == ["orchtestpkg==1.0"]
    assert HELD_OUT not in yaml.safe_dump(document) and HELD_OUT not in "".join(a.text for a in render(graph))


def test_shared_templates_are_apart_where_pod_settings_secrets_or_packages_differ(validator):
    """Past 190 steps, steps share a template by shape: one that differs in any of these must not share it."""
    base = {"python": "mypkg.steps:work"}
    variants = {"plain": {}, "secret": {"env": {"T": {"secret": "s", "key": "k"}}}, "other-key": {"env": {"T": {"secret": "s", "key": "j"}}},
                "packages": {"packages": ["a==1"]}, "volume": {"kubernetes": {"volumes": [{"name": "v", "mount_path": "/v", "pvc": "c"}]}},
                "labels": {"kubernetes": {"labels": {"a": "b"}}}, "patch": {"kubernetes": {"pod_spec_patch": {"priority": 3}}}}
    steps = {f"{name}-{i}": {**base, **extra} for name, extra in variants.items() for i in range(28)}
    graph = graph_of(spec(steps))
    assert not rendering.inline_mode(graph)
    (document,) = check(graph, validator)
    as_hera_dumps(graph)
    tasks = {t["name"]: t["template"] for d in document["spec"]["templates"] if "dag" in d for t in d["dag"]["tasks"]}
    templates = templates_of(document)
    for name in variants:
        used = {tasks[f"{name}-{i}"] for i in range(28)}
        assert len(used) == 1, name  # alike steps share
        others = {tasks[f"{other}-0"] for other in variants if other != name}
        assert used.isdisjoint(others), name
    secret = templates[tasks["secret-0"]]
    assert env_of(secret["container"])["T"] == {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}
    assert templates[tasks["patch-0"]]["podSpecPatch"] == '{"priority":3}'


def seed_with_code(store: str | None = None) -> dict:
    data = yaml.safe_load((ROOT / "specs" / "ml-training.yaml").read_text())
    data["code"] = {"ship": True}
    data["steps"]["train"]["packages"] = ["scikit-learn==1.5.*"]
    data["steps"]["train"]["env"] = {"HF_TOKEN": {"secret": "hf-token", "key": "token"}}
    if store:
        data["artifacts"] = {"store": store}
    return data


@pytest.mark.parametrize("store, key", [(None, f"code/{SHA}.tar.gz"), ("s3://bucket/team/ml", f"team/ml/code/{SHA}.tar.gz")])
def test_the_seed_shipping_its_code_reads_it_in_every_step(validator, monkeypatch, store, key):
    monkeypatch.setenv("ORCH_SECRET_HF_TOKEN_TOKEN", HELD_OUT)
    graph = graph_of(seed_with_code(store), str(ROOT / "specs" / "ml-training.yaml"))
    with pytest.raises(UsageError, match="render it with orch render, which packs the code"):
        render(graph)
    code = Shipped(SHA)
    documents = [yaml.safe_load(a.text) for a in render(graph, code=code)]
    for document in documents:
        assert not sorted(validator.iter_errors(document), key=str)
    as_hera_dumps(graph, code)
    workflow = documents[0]
    templates = templates_of(workflow)
    for step in graph.pipeline.steps:
        template = templates[step]
        assert {"name": "orch-code", "path": "/tmp/orch/code", "s3": {"key": key}} in template["inputs"]["artifacts"], step
        assert env_of(template["container"])["ORCH_CODE_DIR"] == "/tmp/orch/code"
    assert json.loads(env_of(templates["train"]["container"])["ORCH_PACKAGES"]) == ["scikit-learn==1.5.*"]
    # past 190 steps the shared templates read it too; so does a run's Workflow, from the URI it uploaded to
    shared = rendering.spec_data(graph, 3, Shipped(SHA, f"s3://repo/team/ml/code/{SHA}.tar.gz"))
    step_templates = [t for t in shared["templates"] if "container" in t and t["container"]["command"][0] == "python3"]
    assert step_templates and all({"name": "orch-code", "path": "/tmp/orch/code", "s3": {"key": f"team/ml/code/{SHA}.tar.gz"}}
                                  in t["inputs"]["artifacts"] for t in step_templates)
    assert all(HELD_OUT not in a.text for a in render(graph, code=code))


def test_a_plain_container_works_in_the_shipped_code(validator):
    graph = graph_of(spec({"a": {"command": ["python", "-m", "mypkg"], "image": "python:3.12-slim"}}, code={"ship": True}))
    (document,) = [yaml.safe_load(a.text) for a in render(graph, code=Shipped(SHA))]
    assert not list(validator.iter_errors(document))
    container = templates_of(document)["a"]["container"]
    assert container["command"] == ["python"] and container["workingDir"] == "/tmp/orch/code"
    assert env_of(container)["PYTHONPATH"] == "/tmp/orch/code"
    assert templates_of(document)["a"]["inputs"]["artifacts"] == [{"name": "orch-code", "path": "/tmp/orch/code",
                                                                   "s3": {"key": f"code/{SHA}.tar.gz"}}]


@pytest.mark.parametrize("volume, words", [
    ({"name": "orch-outputs", "mount_path": "/x", "pvc": "c"}, "orch's own"),
    ({"name": "v", "mount_path": "/tmp/orch", "pvc": "c"}, "would hide /tmp/orch"),
    ({"name": "v", "mount_path": "/tmp/orch/code", "pvc": "c"}, "would hide /tmp/orch"),
    ({"name": "v", "mount_path": "/tmp/orch/outputs/x/", "pvc": "c"}, "would hide /tmp/orch"),
])
def test_a_volume_over_orchs_own_folders_is_refused(volume, words):
    with pytest.raises(SpecError, match=words) as raised:
        render(graph_of(spec({"a": {"python": "m:f", "kubernetes": {"volumes": [volume]}}})))
    assert "E829" in str(raised.value)


def test_a_volume_may_keep_the_packages_envs_between_pods(validator):
    graph = graph_of(spec({"a": {"python": "m:f", "packages": ["a==1"],
                                 "kubernetes": {"volumes": [{"name": "envs", "mount_path": "/tmp/orch/cache", "pvc": "envs"}]}}}))
    (document,) = check(graph, validator)
    assert templates_of(document)["a"]["container"]["volumeMounts"] == [{"mountPath": "/tmp/orch/cache", "name": "envs"}]


def test_a_run_shipping_code_needs_the_repositorys_bucket(tmp_path, monkeypatch):
    from orch.backends.argo.run import run

    monkeypatch.setenv("ORCH_HOME", str(tmp_path))
    monkeypatch.delenv("ORCH_ARTIFACTS", raising=False)
    graph = graph_of(spec({"a": {"python": "m:f"}}, code={"ship": True}))
    with pytest.raises(UsageError, match="cluster's artifact repository"):
        run(graph, {})
    with pytest.raises(UsageError, match="--secrets"):
        run(graph, {}, secrets={"ORCH_SECRET_A_B": "x"})


def test_a_run_uploads_the_code_once_and_submits_its_key(tmp_path, monkeypatch, s3_server, capsys):
    """`orch run -b argo` packs the project, uploads it to the store's bucket (the repository's) unless it is there,
    under the spec store's prefix -- the key a rendered Workflow names too, whatever $ORCH_ARTIFACTS's path --
    and the submitted Workflow reads it by that key."""
    import boto3

    import orch.backends.argo.run as client

    from .fake_server import FakeArgo

    root = tmp_path / "project"
    (root / "mypkg").mkdir(parents=True)
    (root / "mypkg" / "steps.py").write_text("def work():\n    return {}\n")
    spec_path = root / "pipeline.yaml"
    spec_path.write_text(yaml.safe_dump(spec({"a": {"python": "mypkg.steps:work"}}, code={"ship": True})))
    monkeypatch.setenv("ORCH_ARTIFACTS", f"{s3_server}/team/ml")
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ARGO_NAMESPACE", "ml")
    monkeypatch.delenv("ARGO_TOKEN", raising=False)
    monkeypatch.setattr(client.time, "sleep", lambda seconds: None)
    graph = load_spec(spec_path)
    with FakeArgo(lambda name, task: {"phase": "Succeeded"}) as server:
        monkeypatch.setenv("ARGO_SERVER", server.url)
        assert client.run(graph, {}, spec_path=str(spec_path)).status == "succeeded"
        assert "code: uploaded to s3://" in capsys.readouterr().err
        assert client.run(graph, {}, spec_path=str(spec_path)).status == "succeeded"
        assert "code: already in s3://" in capsys.readouterr().err  # unchanged: nothing uploaded
        bodies = [body for method, _, body in server.requests if method == "POST"]
    pack = codepack.pack(root, cache=tmp_path / "again")
    key = f"code/{pack.sha256}.tar.gz"  # the spec names no store: no prefix, as `orch render` writes it
    assert where.code_key(graph.pipeline, Shipped(pack.sha256)) == key
    for body in bodies:
        (template,) = [t for t in body["workflow"]["spec"]["templates"] if t["name"] == "a"]
        assert template["inputs"]["artifacts"] == [{"name": "orch-code", "path": "/tmp/orch/code", "s3": {"key": key}}]
    stored = boto3.client("s3").get_object(Bucket=s3_server[len("s3://"):], Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == pack.sha256


# -- the runner, run here as a pod runs it -------------------------------------------------------

PROJECT = {
    "mypkg/__init__.py": "",
    "mypkg/steps.py": (
        "import os, sys\n"
        "def work(n):\n"
        "    open(os.environ['RAN_MARK'], 'w').write('ran')\n"
        "    import orchtestpkg\n"
        "    return {'n': n + 1, 'version': orchtestpkg.VERSION, 'token': os.environ['HF_TOKEN'],\n"
        "            'cwd': os.getcwd(), 'prefix': sys.prefix}\n"
        "def leaky(n):\n"
        "    print('the token is', os.environ['HF_TOKEN'], flush=True)\n"
        "    os.system('echo child says $HF_TOKEN >&2')\n"
        "    raise RuntimeError('bad token ' + os.environ['HF_TOKEN'])\n"
        "def plain(n):\n"
        "    open(os.environ['RAN_MARK'], 'w').write('ran')\n"
        "    return {'n': n, 'cwd': os.getcwd()}\n"),
    "pipeline.yaml": "# the spec lives here\n",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return make_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    _offline(monkeypatch)


@pytest.fixture
def project(tmp_path) -> codepack.Pack:
    root = tmp_path / "project"
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return codepack.pack(root, cache=tmp_path / "cache")


def rendered_step(step: dict, code: codepack.Pack) -> dict:
    graph = graph_of(spec({"a": step}, code={"ship": True}))
    (document,) = [yaml.safe_load(a.text) for a in render(graph, code=Shipped(code.sha256, None, code.archive))]
    return document


def pod(document: dict, disk: Path, secrets: dict, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """The step's pod: the code input placed and unpacked as Argo's executor does, env as the kubelet makes it
    from `secrets` ({(secret, key): value}; optional refs of absent ones left unset), the runner as the container's
    command with /tmp/orch moved to `disk`, run from a folder holding nothing of the project."""
    template = templates_of(document)["a"]
    container = template["container"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    for item in container.get("env", []):
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            if (ref["name"], ref["key"]) in secrets:
                env[item["name"]] = secrets[(ref["name"], ref["key"])]
            else:
                assert ref["optional"], "Kubernetes would not start this container"
        else:
            env[item["name"]] = item["value"].replace(POD_ROOT, str(disk))
    env.update(ORCH_ARGO_OUTPUTS=str(disk / "outputs"), RAN_MARK=str(disk / "ran"), **(extra_env or {}))
    runner = document["spec"]["workflowMetadata"]["annotations"]["orch/runner"]
    argv = [sys.executable if c == "python3" else c for c in container["command"]]
    argv = [runner if c == "{{workflow.annotations.orch/runner}}" else c for c in argv] + container.get("args", [])
    elsewhere = disk / "elsewhere"
    elsewhere.mkdir(parents=True, exist_ok=True)
    return subprocess.run(argv, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)


def place_code(pack: codepack.Pack, disk: Path) -> None:
    """Argo's executor: the tgz downloaded to the input's path, untarred there (a tarball of several entries
    becomes the folder)."""
    target = disk / "code"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pack.archive, target)
    unpack(str(target))
    assert (target / "mypkg" / "steps.py").is_file()


def outputs(disk: Path, texts: bool = True) -> dict:
    """A step's own template writes each output as its text and a newline; a shared one (and an Airflow pod) JSON."""
    return {p.name: p.read_text()[:-1] if texts else json.loads(p.read_text()) for p in (disk / "outputs").iterdir()}


def test_the_runner_fails_a_step_whose_secret_is_missing_before_its_code_runs(tmp_path, project, wheel):
    step = {"python": "mypkg.steps:work", "args": {"n": 1}, "env": {"HF_TOKEN": {"secret": "hf-token", "key": "token"}},
            "packages": [f"{WHEEL_PACKAGE} @ {wheel.as_uri()}"], "outputs": {"n": "integer"}}
    document = rendered_step(step, project)
    disk = tmp_path / "pod"
    place_code(project, disk)
    (disk / "termination-log").write_text("")
    done = pod(document, disk, secrets={("hf-token", "other"): "x"}, extra_env={
        "ORCH_CACHE": str(tmp_path / "envs"), "ORCH_ARGO_TERMINATION_LOG": str(disk / "termination-log")})
    assert done.returncode == 1
    said = "secret 'hf-token' (key 'token') is not in the Kubernetes Secret 'hf-token'"
    assert said in done.stderr
    assert (disk / "termination-log").read_text().startswith(said)  # what Argo's node message quotes
    assert not (disk / "ran").exists()  # the step's code did not run
    assert not (tmp_path / "envs").exists()  # nor were its packages installed


def test_the_runner_runs_a_step_in_its_shipped_code_with_its_packages_and_secret(tmp_path, project, wheel):
    step = {"python": "mypkg.steps:work", "args": {"n": 1}, "env": {"HF_TOKEN": {"secret": "hf-token", "key": "token"}},
            "packages": [f"{WHEEL_PACKAGE} @ {wheel.as_uri()}"], "outputs": {"n": "integer", "version": "string",
                                                                           "token": "string", "cwd": "string", "prefix": "string"}}
    document = rendered_step(step, project)
    disk = tmp_path / "pod"
    place_code(project, disk)
    done = pod(document, disk, secrets={("hf-token", "token"): HELD_OUT}, extra_env={"ORCH_CACHE": str(tmp_path / "envs")})
    assert done.returncode == 0, done.stderr
    got = outputs(disk)
    assert got["n"] == "2" and got["version"] == "1.0" and got["token"] == HELD_OUT  # outputs are data: not masked
    assert got["cwd"] == str(disk / "code")
    assert Path(got["prefix"]).parent == tmp_path / "envs" / "envs"  # run by the env's interpreter
    assert subprocess.run([sys.executable, "-c", f"import {WHEEL_PACKAGE}"], capture_output=True).returncode != 0  # not the base


def test_a_command_step_with_packages_runs_their_scripts(tmp_path, project, wheel):
    step = {"command": ["sh", "-c", f"{WHEEL_PACKAGE} > $ORCH_OUTPUTS/said && python -c 'import mypkg.steps' && pwd > $ORCH_OUTPUTS/cwd"],
            "image": "python:3.12-slim", "packages": [f"{WHEEL_PACKAGE} @ {wheel.as_uri()}"],
            "outputs": {"said": "string", "cwd": "string"}}
    document = rendered_step(step, project)
    assert templates_of(document)["a"]["container"]["command"][:2] == ["python3", "-c"]
    disk = tmp_path / "pod"
    place_code(project, disk)
    done = pod(document, disk, secrets={}, extra_env={"ORCH_CACHE": str(tmp_path / "envs")})
    assert done.returncode == 0, done.stderr
    assert outputs(disk) == {"said": f"{WHEEL_PACKAGE} 1.0", "cwd": str(disk / "code")}


@pytest.mark.parametrize("kind", ["python", "command"])
def test_a_secrets_value_is_masked_in_what_the_pod_prints(tmp_path, project, wheel, kind):
    """The pod's log is Argo's (or Airflow's, from a KubernetesPodOperator): the runner masks it as orch masks the
    logs it captures, the step's prints, its children's and its traceback alike (a command with packages runs
    through the runner too)."""
    step = {"python": "mypkg.steps:leaky", "args": {"n": 1}} if kind == "python" else {
        "command": ["sh", "-c", "echo the token is $HF_TOKEN; echo child says $HF_TOKEN >&2; exit 3"],
        "packages": [f"{WHEEL_PACKAGE} @ {wheel.as_uri()}"]}
    document = rendered_step({**step, "env": {"HF_TOKEN": {"secret": "hf-token", "key": "token"}}}, project)
    disk = tmp_path / "pod"
    place_code(project, disk)
    done = pod(document, disk, secrets={("hf-token", "token"): HELD_OUT}, extra_env={"ORCH_CACHE": str(tmp_path / "envs")})
    assert done.returncode == (1 if kind == "python" else 3)
    assert HELD_OUT not in done.stdout + done.stderr
    assert "the token is ***" in done.stdout and "child says ***" in done.stderr
    if kind == "python":
        assert "RuntimeError: bad token ***" in done.stderr


class _Archive(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        if not self.path.startswith("/code.tar.gz?"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_):
        pass


@pytest.fixture
def served(project):
    handler = type("Handler", (_Archive,), {"body": project.archive.read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/code.tar.gz?X-Amz-Signature=s3cr3t-signature"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def airflow_pod(tmp_path, url: str, sha: str) -> tuple[subprocess.CompletedProcess, Path]:
    """An Airflow pod's environment: the code by URL and sha256, the call in ORCH_PAYLOAD."""
    payload = {"kind": "python", "python": "mypkg.steps:plain", "args": {"n": 3}, "env": {}, "outputs": {"n": "integer", "cwd": "string"},
               "refs": []}
    disk = tmp_path / "airflow-pod"
    (disk / "elsewhere").mkdir(parents=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}, "ORCH_PAYLOAD": json.dumps(payload),
           "ORCH_CODE_URL": url, "ORCH_CODE_SHA": sha, "ORCH_ARGO_CODE": str(disk / "code"),
           "ORCH_ARGO_OUTPUTS": str(disk / "outputs"), "RAN_MARK": str(disk / "ran")}
    done = subprocess.run([sys.executable, "-c", bootstrap_source()], cwd=disk / "elsewhere", env=env,
                          capture_output=True, text=True, timeout=120)
    return done, disk


def test_the_runner_fetches_the_code_by_url_and_checks_its_sha(tmp_path, project, served):
    done, disk = airflow_pod(tmp_path, served, project.sha256)
    assert done.returncode == 0, done.stderr
    assert outputs(disk, texts=False) == {"n": 3, "cwd": str(disk / "code")}
    assert (disk / "code" / "pipeline.yaml").is_file()


def test_code_that_is_not_the_rendered_code_fails_the_step_unrun(tmp_path, project, served):
    wrong = hashlib.sha256(b"other code").hexdigest()
    done, disk = airflow_pod(tmp_path, served, wrong)
    assert done.returncode == 1
    assert f"is not the code this pipeline was rendered with (its sha256 differs from {wrong[:12]})" in done.stderr
    assert "s3cr3t-signature" not in done.stderr  # a presigned URL's query is a credential
    assert not (disk / "ran").exists() and not any((disk / "code").iterdir())


def test_an_unreachable_code_url_fails_naming_it_without_its_query(tmp_path, project, served):
    done, disk = airflow_pod(tmp_path, served.replace("/code.tar.gz", "/gone.tar.gz"), project.sha256)
    assert done.returncode == 1 and "cannot fetch or unpack the step's code from http://127.0.0.1" in done.stderr
    assert "s3cr3t-signature" not in done.stderr and not (disk / "ran").exists()


def test_the_runner_carries_pyenv_and_stays_free_of_tag_delimiters():
    import re

    source = bootstrap_source()
    assert "def ensure_env(" in source and "import orch" not in source and "from orch" not in source
    assert not re.search(r"\{[{%#]|\}\}", source)  # Argo's and Jinja's openers (airflow/kubernetes.py checks it too)
