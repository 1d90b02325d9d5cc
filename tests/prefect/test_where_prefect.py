"""Where a step runs on Prefect: its secrets read from Prefect Secret blocks and masked, its code shipped
through an S3 store, its packages' env; and the Kubernetes work pool's deployment and job template.

Real Prefect throughout: runs on the session's server (PREFECT_API_URL) or, for what orch saves on
Prefect's temporary server, one run there; the job template is filled by Prefect's own templating and
its pod parts checked against Kubernetes' definitions (Argo's schema holds them).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import jsonschema
import pytest
import yaml

from ..test_pyenv import NAME as PACKAGE, make_wheel

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PLACES = [ROOT.parent / "shared", ROOT / "shared"]
TOKEN = "hf_Zr8PrefectHeldOutToken"  # values: in no file, log or result
PASSWORD = "pw-Prefect-9Qx-HeldOut"
SERVER_TOKEN = "srv_Prefect-Block-Value-7Kd"

PROBE_MODULE = '''
import os, sys


def read(expected):
    """The secret, checked against its reversal (so the spec never holds it), printed for the mask to catch."""
    token = os.environ["HF_TOKEN"]
    assert token == expected[::-1], "HF_TOKEN is not the secret's value"
    print("python sees", token)
    return len(token)
'''

SECRETS_SPEC = f"""
    apiVersion: orch/v1
    name: secrets
    steps:
      py:
        python: "probe_mod:read"
        args: {{expected: "{TOKEN[::-1]}"}}
        outputs: {{length: integer}}
        env: {{HF_TOKEN: {{secret: hf-token, key: token}}}}
      cmd:
        command: [sh, -c, 'test "$DB_PASSWORD" = "$(echo "$EXPECTED" | rev)" || exit 9; echo "command sees $DB_PASSWORD"; printf %s "$DB_PASSWORD" | wc -c | tr -d " " > $ORCH_OUTPUTS/n']
        outputs: {{n: integer}}
        env: {{DB_PASSWORD: {{secret: db-pass, key: password}}, EXPECTED: "{PASSWORD[::-1]}"}}
      no-key:
        command: [sh, -c, "touch ran-no-key; echo ran"]
        env: {{OTHER: {{secret: hf-token, key: other}}}}
"""


def test_secrets_from_the_environment_and_a_file_reach_steps_masked_and_nowhere_else(spec_file, tmp_path):
    """On Prefect's temporary server orch saves the blocks: ORCH_SECRET_* and --secrets (the file winning).
    The real `orch` in a child process, so what it prints (Prefect's log lines too) is all captured."""
    (tmp_path / "probe_mod.py").write_text(PROBE_MODULE, encoding="utf-8")
    spec = spec_file(SECRETS_SPEC)
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"ORCH_SECRET_DB_PASS_PASSWORD={PASSWORD}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(ORCH_HOME=str(tmp_path / "home"), ORCH_SECRET_HF_TOKEN_TOKEN=TOKEN,
               ORCH_SECRET_DB_PASS_PASSWORD="the-environment-loses", PREFECT_HOME=str(tmp_path / "prefect-home"))
    done = subprocess.run([sys.executable, "-m", "orch.cli.main", "run", str(spec), "--backend", "prefect", "--json",
                           "--secrets", str(secrets)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    out, err = done.stdout, done.stderr
    steps = json.loads(out)["steps"]
    assert done.returncode == 1 and (steps["py"]["status"], steps["cmd"]["status"]) == ("succeeded", "succeeded"), (out, err)
    assert steps["py"]["outputs"] == {"length": len(TOKEN)} and steps["cmd"]["outputs"] == {"n": len(PASSWORD)}
    assert steps["no-key"]["status"] == "failed" and not (tmp_path / "ran-no-key").exists()  # it failed before its code ran
    assert steps["no-key"]["error"] == ("secret 'hf-token' (key 'other') is not set: the Prefect Secret block 'hf-token' "
                                        "has no key 'other' (its value must be a JSON object holding the keys)")
    assert "python sees ***" in err and "command sees ***" in err  # Prefect's console log: the lines, masked
    (module,) = (tmp_path / "home" / "prefect").glob("*.py")
    for text in (out, err, module.read_text(encoding="utf-8")):
        assert TOKEN not in text and PASSWORD not in text
    # the temporary server keeps the profile's database: the blocks orch saved are gone, no value left in it
    (database,) = (tmp_path / "prefect-home").glob("*.db")
    with sqlite3.connect(database) as db:
        assert not db.execute("SELECT name FROM block_document WHERE name IN ('hf-token', 'db-pass')").fetchall()
    for path in (tmp_path / "prefect-home").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes() and PASSWORD.encode() not in path.read_bytes(), path


SERVER_SPEC = """
    apiVersion: orch/v1
    name: on-server
    steps:
      from-block:
        command: [sh, -c, 'echo "block gives $T"; printf %s "$T" | wc -c > $ORCH_OUTPUTS/n']
        outputs: {n: integer}
        env: {T: {secret: team-token, key: token}}
      fan:
        command: [sh, -c, 'echo "item $I sees $T"']
        foreach: [1, 2]
        env: {T: {secret: team-token, key: token}, I: "${{ item }}"}
      missing:
        command: [sh, -c, "touch ran-missing"]
        env: {T: {secret: absent-block, key: token}}
"""


def test_on_a_real_server_the_blocks_are_read_and_orch_writes_none(orch, spec_file, prefect_api, tmp_path, monkeypatch):
    from prefect.blocks.system import Secret

    Secret(value={"token": SERVER_TOKEN}).save("team-token", overwrite=True)  # as the server's owner would
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_SECRET_ABSENT_BLOCK_TOKEN", "not-written-to-the-server")
    code, out, err = orch("run", spec_file(SERVER_SPEC), "--backend", "prefect", "--json")
    steps = json.loads(out)["steps"]
    assert code == 1 and steps["from-block"]["outputs"] == {"n": len(SERVER_TOKEN)}, (out, err)
    assert steps["fan"]["status"] == "succeeded"
    assert steps["missing"]["status"] == "failed" and not (tmp_path / "ran-missing").exists()
    error = steps["missing"]["error"]
    assert error.startswith("secret 'absent-block' (key 'token') is not set: there is no Prefect Secret block named "
                            "'absent-block'") and "ORCH_SECRET_ABSENT_BLOCK_TOKEN" in error
    assert SERVER_TOKEN not in out + err
    with pytest.raises(ValueError, match="Unable to find block document named absent-block"):
        Secret.load("absent-block")  # orch saved nothing on the user's server
    logs = _flow_run_logs(json.loads(out)["run_id"])  # what Prefect's API keeps
    for said in ("block gives ***", "item 1 sees ***", "item 2 sees ***"):
        assert any(said in line for line in logs), said
    assert not any(SERVER_TOKEN in line for line in logs)


def _flow_run_logs(flow_run_id: str) -> list[str]:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    from orch.backends.prefect.run import drain_workers

    drain_workers()

    async def read():
        async with get_client() as client:
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            return [log.message for log in logs]

    return asyncio.run(read())


SHIPPED_MODULE = '''
import os, sys


def where():
    return {"file": os.path.realpath(__file__), "cwd": os.path.realpath(os.getcwd()), "path": sys.path}


if __name__ == "__main__":
    print(os.path.realpath(__file__))
'''

PACKAGE_PROBE = f'''
import os, sys
import {PACKAGE}


def where():
    return {{"file": os.path.realpath({PACKAGE}.__file__), "python": sys.executable}}
'''


def test_shipped_code_and_packages(orch, prefect_api, s3_server, tmp_path, monkeypatch):
    """The step imports only from its copy of the shipped code, which is its working folder; a step with
    packages runs in their env (python: its interpreter; command: its bin first on PATH)."""
    project = tmp_path / "project"
    (project / "shipmod").mkdir(parents=True)
    (project / "shipmod" / "__init__.py").write_text(SHIPPED_MODULE, encoding="utf-8")
    (project / "shipmod" / "__main__.py").write_text("from shipmod import where\nimport os\nprint(os.path.realpath("
                                                      "__import__('shipmod').__file__))\n", encoding="utf-8")
    (project / "pkgprobe.py").write_text(PACKAGE_PROBE, encoding="utf-8")
    wheel = make_wheel(tmp_path)
    requirement = f"{PACKAGE} @ {wheel.as_uri()}"
    spec = project / "pipeline.yaml"
    spec.write_text(textwrap.dedent(f"""
        apiVersion: orch/v1
        name: shipped
        code: {{ship: true}}
        steps:
          py: {{python: "shipmod:where", outputs: {{file: string, cwd: string, path: json}}}}
          cmd: {{command: [python, -m, shipmod], outputs: {{file: {{type: string, from: stdout}}}}}}
          pkg-py: {{python: "pkgprobe:where", packages: ["{requirement}"], outputs: {{file: string, python: string}}}}
          pkg-cmd: {{command: [{PACKAGE}], packages: ["{requirement}"], after: [pkg-py],
                     outputs: {{said: {{type: string, from: stdout}}}}}}
    """).lstrip(), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    for name, value in (("PIP_NO_INDEX", "1"), ("PIP_CONFIG_FILE", os.devnull)):
        monkeypatch.setenv(name, value)
    store = f"{s3_server}/{uuid.uuid4().hex[:8]}"
    code, out, err = orch("run", spec, "--backend", "prefect", "--json", "--artifacts", store)
    steps = json.loads(out)["steps"]
    assert code == 0, (out, err)
    assert f"code: uploaded to {store}/code/" in err
    py = steps["py"]["outputs"]
    here = str(project.resolve())
    assert py["file"] == os.path.join(py["cwd"], "shipmod", "__init__.py") and not py["cwd"].startswith(here)
    assert not any(entry.startswith(here) for entry in py["path"])  # the spec's folder is not on the step's path
    command_file = steps["cmd"]["outputs"]["file"].strip()
    assert command_file.endswith("/shipmod/__init__.py") and not command_file.startswith(here)
    assert os.path.dirname(os.path.dirname(command_file)) != os.path.dirname(os.path.dirname(py["file"]))  # a copy each
    assert not Path(py["cwd"]).exists()  # the attempt's copy is removed when it ends
    envs = tmp_path / "cache" / "envs"
    package = steps["pkg-py"]["outputs"]
    assert package["file"].startswith(str(envs.resolve())) and package["python"].startswith(str(envs))
    assert steps["pkg-cmd"]["outputs"]["said"].strip() == f"{PACKAGE} 1.0"


# ---- a Kubernetes work pool: prefect.yaml and the base job template

POD_SPEC = """
    apiVersion: orch/v1
    name: podded
    params: {rows: 10}
    schedule: {cron: "0 3 * * *", timezone: Europe/Paris}
    defaults:
      image: registry.example/trainer:1
      resources: {cpu: 2, memory: 4Gi, gpu: 1}
      kubernetes:
        node_selector: {pool: gpu}
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
        service_account: trainer
        image_pull_policy: Always
        limits: {cpu: 4, memory: 8Gi}
        labels: {team: ml}
        annotations: {note: "hello world"}
        image_pull_secrets: [regcred]
        volumes:
          - {name: shm, mount_path: /dev/shm, empty_dir: {medium: Memory, size_limit: 1Gi}}
          - {name: data, mount_path: /data, pvc: datasets, read_only: true, sub_path: v1}
          - {name: cfg, mount_path: /cfg, config_map: settings}
          - {name: creds, mount_path: /creds, secret: creds}
        pod_spec_patch: {priorityClassName: high, hostIPC: true, tolerations: [{key: spot, operator: Exists}],
                         volumes: [{name: scratch, emptyDir: {}}]}
    steps:
      a: {python: "m:f", args: {n: "${{ params.rows }}"}}
"""


@pytest.fixture(scope="module")
def kubernetes_definitions():
    for place in SCHEMA_PLACES:
        path = place / "schemas" / "argo-workflows.schema.json"
        if path.exists():
            schema = json.loads(path.read_text(encoding="utf-8"))
            schema["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
            return schema
    raise AssertionError(f"Argo's JSON schema not found in {[str(p) for p in SCHEMA_PLACES]}")


def valid(definitions: dict, name: str, value) -> None:
    schema = {"$ref": f"#/definitions/io.k8s.api.core.v1.{name}", "definitions": definitions["definitions"]}
    jsonschema.Draft7Validator(schema).validate(value)


def job_manifest(template: dict, job_variables: dict) -> dict:
    """The job a Kubernetes worker would create: the variables' defaults, the deployment's job variables over
    them, put into the template by Prefect's own templating (a placeholder with no value: its key removed)."""
    from prefect.utilities.templating import apply_values
    from prefect.workers.base import BaseJobConfiguration

    variables = BaseJobConfiguration._get_base_config_defaults(template["variables"]["properties"])
    variables.update(job_variables)
    return apply_values(template["job_configuration"], variables)["job_manifest"]


def test_a_kubernetes_work_pool_gets_a_deployment_and_a_job_template(orch, spec_file, prefect_api, tmp_path,
                                                                     kubernetes_definitions):
    code, out, err = orch("render", spec_file(POD_SPEC), "--backend", "prefect", "--out", tmp_path / "out")
    assert code == 0, err
    deployment = yaml.safe_load((tmp_path / "out" / "prefect.yaml").read_text(encoding="utf-8"))["deployments"][0]
    assert (deployment["name"], deployment["entrypoint"]) == ("podded", "podded_flow.py:podded_flow")
    assert deployment["parameters"] == {"rows": 10}
    assert deployment["schedules"] == [{"cron": "0 3 * * *", "timezone": "Europe/Paris"}]
    variables = deployment["work_pool"]["job_variables"]
    assert {k: variables[k] for k in ("image", "image_pull_policy", "service_account_name", "cpu_request", "memory_request",
                                      "cpu_limit", "memory_limit", "gpu_limit", "pod_labels", "pod_annotations")} == {
        "image": "registry.example/trainer:1", "image_pull_policy": "Always", "service_account_name": "trainer",
        "cpu_request": "2", "memory_request": "4Gi", "cpu_limit": "4", "memory_limit": "8Gi", "gpu_limit": "1",
        "pod_labels": {"team": "ml"}, "pod_annotations": {"note": "hello world"}}
    template = json.loads((tmp_path / "out" / "kubernetes-job-template.json").read_text(encoding="utf-8"))

    job = job_manifest(template, variables)
    pod = job["spec"]["template"]
    assert pod["metadata"] == {"labels": {"team": "ml"}, "annotations": {"note": "hello world"}}
    spec = pod["spec"]
    (container,) = spec["containers"]
    valid(kubernetes_definitions, "Container", container)
    assert container["resources"] == {"limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"},
                                      "requests": {"cpu": "2", "memory": "4Gi"}}
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/dev/shm", "/data", "/cfg", "/creds"]
    assert [v["name"] for v in spec["volumes"]] == ["shm", "data", "cfg", "creds", "scratch"]  # the patch's merged by name
    assert spec["volumes"][0] == {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}
    for volume in spec["volumes"]:
        valid(kubernetes_definitions, "Volume", volume)
    assert [t["key"] for t in spec["tolerations"]] == ["nvidia.com/gpu", "spot"]
    for toleration in spec["tolerations"]:
        valid(kubernetes_definitions, "Toleration", toleration)
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    valid(kubernetes_definitions, "LocalObjectReference", spec["imagePullSecrets"][0])
    assert spec["nodeSelector"] == {"pool": "gpu"} and spec["serviceAccountName"] == "trainer"
    assert (spec["priorityClassName"], spec["hostIPC"]) == ("high", True)  # the patch's other fields, placeholders of their own
    assert (spec["restartPolicy"], spec["parallelism"], spec["completions"]) == ("Never", 1, 1)  # what Prefect's worker checks

    bare = job_manifest(template, {})  # a deployment without pod settings: no empty placeholder is left
    bare_spec = bare["spec"]["template"]["spec"]
    assert not {"volumes", "nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName"} & set(bare_spec)
    assert "{{" not in json.dumps(bare)
    _the_server_takes(template, variables)


def _the_server_takes(template: dict, job_variables: dict) -> None:
    """Prefect's API accepts the template for a Kubernetes pool, and the deployment's job variables against it."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async def create():
        async with get_client() as client:
            pool = f"k8s-{uuid.uuid4().hex[:6]}"
            await client.create_work_pool(WorkPoolCreate(name=pool, type="kubernetes", base_job_template=template))
            flow_id = await client.create_flow_from_name("podded")
            await client.create_deployment(flow_id=flow_id, name=f"podded-{pool}", work_pool_name=pool,
                                           job_variables=job_variables, entrypoint="podded_flow.py:podded_flow")
            return (await client.read_work_pool(pool)).base_job_template

    assert asyncio.run(create()) == template


def test_a_patch_merges_into_the_variables_it_meets_and_leaves_the_job_container_alone():
    from orch.backends.prefect.pool import job_variables
    from orch.core import parse_spec

    graph = parse_spec(textwrap.dedent("""
        apiVersion: orch/v1
        name: patched
        defaults:
          kubernetes:
            node_selector: {pool: gpu}
            pod_spec_patch:
              serviceAccountName: runner
              nodeSelector: {zone: a}
              containers: [{name: main, securityContext: {privileged: true}}]
              restartPolicy: OnFailure
              dnsPolicy: None
        steps:
          a: {python: "m:f"}
    """))
    assert job_variables(graph.pipeline) == {"service_account_name": "runner", "node_selector": {"pool": "gpu", "zone": "a"},
                                             "pod_spec_dns_policy": "None"}


def test_without_pod_settings_only_the_flow_module_is_rendered(spec_file, tmp_path):
    from orch.backends.prefect.render import render
    from orch.core import load_spec

    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: plain
        steps:
          a: {python: "m:f", kubernetes: {node_selector: {pool: gpu}}}
    """))
    (module,) = render(graph)
    assert module.path == "plain_flow.py"
    assert "class Place" not in module.text and "def read_secret" not in module.text  # nothing it does not use


def test_a_shipping_pipeline_needs_its_packed_code_to_render(spec_file):
    from orch.backends.prefect.render import render
    from orch.backends.shipping import Shipped
    from orch.core import load_spec
    from orch.core.errors import UsageError

    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: shipping
        code: {ship: true}
        steps:
          a: {python: "m:f", env: {T: {secret: tok, key: k}}}
    """))
    with pytest.raises(UsageError, match="orch render, which packs it"):
        render(graph)
    (module,) = render(graph, code=Shipped("ab" * 32))
    assert "code='" + "ab" * 32 + "'" in module.text and "secrets={'T': ('tok', 'k')}" in module.text
