"""`orch import argo` of resource templates: the conditions parsed as Kubernetes' label-selector parser does and
read by jq as Argo's executor reads the resource (gjson), and the step's script run against a stand-in kubectl
that records its calls -- the same kubectl calls Argo's executor makes, the resource polled until a condition
decides, the outputs written where orch reads them. The Argo examples with resource templates, where unpacked,
import clean and render on every backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from orch.backends.argo.importer import import_
from orch.backends.argo.importer.resource import KUBECTL_IMAGE, jq_output
from orch.backends.argo.importer.selector import Requirement, parse, verdict_program
from orch.backends.argo.importer.tags import Unsupported
from orch.core.fidelity import APPROXIMATED, UNSUPPORTED
from orch.core.load import parse_spec

CASES = Path(__file__).parent / "import_cases"


@pytest.mark.parametrize("text, expected", [
    ("status.phase == Succeeded", [Requirement("status.phase", "==", ("Succeeded",))]),
    ("status.phase in (Failed, Error)", [Requirement("status.phase", "in", ("Error", "Failed"))]),
    ("status.succeeded > 9,status.x", [Requirement("status.succeeded", ">", ("9",)), Requirement("status.x", "exists")]),
    ("!status.y, a.b notin (x,)", [Requirement("status.y", "!"), Requirement("a.b", "notin", ("", "x"))]),
    ("a=, b in ()", [Requirement("a", "=", ("",)), Requirement("b", "in", ("",))]),
    ("", []),
])
def test_a_condition_parses_as_a_label_selector(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["a b", "a in b", "a >= 1", "a > x", "a < -1", "a,", "Big/b=1", "a == x y",
                                  "a in (x,,)", "a=" + "y" * 64])
def test_what_the_label_selector_parser_refuses_is_unsupported(text):
    with pytest.raises(Unsupported, match="Argo's executor"):
        parse(text)


def _verdict(success: str, failure: str, resource: dict) -> str:
    program = verdict_program(parse(success), parse(failure))
    done = subprocess.run(["jq", "-r", program], input=json.dumps(resource), capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize("success, failure, resource, verdict", [
    ("status.phase == Succeeded", "status.phase in (Failed, Error)", {"status": {"phase": "Succeeded"}}, "succeeded"),
    ("status.phase == Succeeded", "status.phase in (Failed, Error)", {"status": {"phase": "Error"}}, "failed"),
    ("status.phase == Succeeded", "status.phase in (Failed, Error)", {"status": {}}, "waiting"),
    ("status.succeeded > 2", "status.failed > 1", {"status": {"succeeded": 2, "failed": 2}}, "failed"),
    ("status.replicaStatuses.Worker.succeeded = 2", "", {"status": {"replicaStatuses": {"Worker": {"succeeded": 2}}}},
     "succeeded"),
    ("status.n > 1", "", {"status": {"n": "two"}}, "waiting"),  # not an integer: ParseInt fails, no match
    ("status.n > 1", "", {"status": {"n": "+5"}}, "succeeded"),  # ParseInt takes a sign
    ("status.items.1 = b", "", {"status": {"items": ["a", "b"]}}, "succeeded"),  # a number indexes a list (gjson)
    ("status.x", "", {"status": {"x": None}}, "succeeded"),  # a null is there (gjson's Exists)
    ("status.x=", "", {"status": {"x": None}}, "succeeded"),  # and reads as ""
    ("status.ok=true", "", {"status": {"ok": True}}, "succeeded"),
    ("status.o!=x,status.gone notin (a)", "", {"status": {"o": {"a": 1}}}, "succeeded"),
    ("!status.phase", "", {"status": {"phase": "x"}}, "waiting"),
    ("", "status.failed > 0", {"status": {}}, "succeeded"),  # no success requirement: done once not failed
    ("a=1,b=1", "", {"a": 1, "b": 2}, "waiting"),  # success needs every requirement
    ("", "a=1,b=1", {"a": 2, "b": 1}, "failed"),  # failure any
])
def test_the_verdict_reads_the_resource_as_argos_executor_does(success, failure, resource, verdict):
    assert _verdict(success, failure, resource) == verdict


def test_a_jq_filter_output_is_written_as_argo_writes_it():
    def run(program: str, data) -> str:
        return subprocess.run(["jq", "-j", jq_output(program)], input=json.dumps(data), capture_output=True,
                              text=True, check=True).stdout

    assert run(".", {"b": 1, "a": {"d": [1, {"z": 1, "y": 2}], "c": "x"}}) == '{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}'
    assert run(".a[]", {"a": ["x", 1, {"k": 2}]}) == 'x\n1\n{"k":2}'
    assert run(".name", {"name": "  padded \n"}) == "padded"
    assert run("empty", {}) == ""
    assert run(".name # a comment, as gojq allows", {"name": "n"}) == "n"


FAKE_KUBECTL = r"""#!/bin/sh
# records each call; `create`/`patch`/`apply` print the object, `get -f OUT -o json` the resource's next state
# (one per call, then the object), `-o jsonpath=…` its name
printf '%s\n' "$*" >> "$CALLS"
object='{"kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "job-7", "labels": {"b": "2", "a": "1"}}}'
for a do case $a in -f) next=file ;; *) [ "$next" = file ] && file=$a; next= ;; esac; done
case "$*" in
  *jsonpath=*) printf 'job-7' ;;
  get\ -f\ *) n=$(cat "$STATES.n" 2>/dev/null || echo 0); echo $((n + 1)) > "$STATES.n"
              state=$(sed -n "$((n + 1))p" "$STATES"); echo "${state:-$object}" ;;
  delete*) echo job.batch/job-7 ;;
  *) cp "$file" "$SEEN" 2>/dev/null; echo "$object" ;;
esac
"""


SHELLS = ["sh", "busybox"]  # busybox: the applets alpine/k8s runs them with
APPLETS = ("sh", "sed", "tail", "mktemp", "mv", "cat", "hostname", "sleep", "printf", "echo", "cp")


def _run_step(tmp_path: Path, manifest: str, states: list[dict], shell: str = "sh"):
    """The imported step's command run by `shell` (dash, or busybox's ash and applets as in alpine/k8s) with the
    stand-in kubectl first on PATH (polling without the wait)."""
    case = tmp_path / "case.yaml"
    case.write_text(manifest)
    [imported] = import_(case)
    parse_spec(imported.text)
    [spec_step] = yaml.safe_load(imported.text)["steps"].values()
    argv = [a.replace("sleep 5", "sleep 0") for a in spec_step["command"]]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    if shell == "busybox":
        for applet in APPLETS:
            (bin_dir / applet).symlink_to(shutil.which("busybox"))
    (tmp_path / "states").write_text("".join(json.dumps(s) + "\n" for s in states))
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls"),
           "STATES": str(tmp_path / "states"), "SEEN": str(tmp_path / "seen"), "ORCH_OUTPUTS": str(outputs),
           "HOSTNAME": "the-pod"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    return done, {"step": spec_step, "calls": (tmp_path / "calls").read_text().splitlines(),
                  "seen": (tmp_path / "seen").read_text() if (tmp_path / "seen").exists() else None,
                  "outputs": {p.name: p.read_text() for p in outputs.iterdir()}}


JOB = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: job-}
spec:
  entrypoint: job
  templates:
  - name: job
    resource:
      action: create
      successCondition: status.succeeded > 0
      failureCondition: status.failed > 1
      flags: [--validate=false]
      manifest: |
        apiVersion: batch/v1
        kind: Job
        metadata: {generateName: job-}
    outputs:
      parameters:
      - name: job-name
        valueFrom: {jsonPath: '{.metadata.name}'}
      - name: labels
        valueFrom: {jqFilter: .metadata.labels}
"""


@pytest.mark.parametrize("shell", SHELLS)
def test_the_step_creates_the_resource_polls_it_and_reads_its_outputs(tmp_path, shell):
    done, seen = _run_step(tmp_path, JOB, [{"status": {}}, {"status": {"failed": 1}}, {"status": {"succeeded": 1}}],
                           shell)
    assert done.returncode == 0, done.stderr
    assert seen["step"]["image"] == KUBECTL_IMAGE
    assert seen["seen"] == "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: job-}\n"
    create, *polls, name, obj = seen["calls"]
    assert create.startswith("create --validate=false -f ") and create.endswith(" -o json")  # getKubectlArguments
    assert len(polls) == 3 and all(p.startswith("get -f ") and p.endswith(" -o json") for p in polls)
    assert name.endswith(" -o jsonpath={.metadata.name}")
    assert seen["outputs"] == {"job-name": "job-7", "labels": '{"a":"1","b":"2"}'}


def test_a_failure_condition_fails_the_step(tmp_path):
    done, seen = _run_step(tmp_path, JOB, [{"status": {}}, {"status": {"failed": 2, "succeeded": 1}}])
    assert done.returncode == 1
    assert "failure condition matched: status.failed>1" in done.stderr
    assert len(seen["calls"]) == 3 and seen["outputs"] == {}


@pytest.mark.parametrize("shell", SHELLS)
def test_a_json_patch_of_the_own_pod_names_it_and_a_delete_ignores_what_is_not_found(tmp_path, shell):
    patch = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: p-}
spec:
  entrypoint: p
  templates:
  - name: p
    resource:
      action: patch
      mergeStrategy: json
      flags: [pod, "{{pod.name}}"]
      manifest: |
        - {op: add, path: /metadata/annotations/foo, value: "{{pod.name}}"}
"""
    (tmp_path / "patch").mkdir()
    done, seen = _run_step(tmp_path / "patch", patch, [], shell)
    assert done.returncode == 0, done.stderr
    [call] = seen["calls"]
    assert call.startswith("patch --type json --patch-file ") and call.endswith(" pod the-pod -o json")
    assert " -f " not in call  # a json patch names its resource in the flags
    delete = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: d-}
spec:
  entrypoint: d
  templates:
  - name: d
    resource:
      action: delete
      flags: [configmap, --selector, cleanup=true]
"""
    (tmp_path / "delete").mkdir()
    done, seen = _run_step(tmp_path / "delete", delete, [], shell)
    assert done.returncode == 0, done.stderr
    assert seen["calls"] == ["delete --ignore-not-found configmap --selector cleanup=true -o name"]


def test_the_whole_mapping_is_approximated_saying_what_the_pod_needs():
    [imported] = import_(CASES / "resources.yaml")
    entries = {e.path: e for e in imported.report.entries}
    for i in (1, 2, 4, 5, 6):
        entry = entries[f"spec.templates[{i}].resource"]
        assert entry.status == APPROXIMATED and "service account (resource-runner" in entry.note
    assert "{{pod.name}} is the name of the pod the step runs in" in entries["spec.templates[2].resource"].note
    assert entries["spec.templates[1].resource.setOwnerReference"].status == APPROXIMATED
    assert entries["spec.templates[1].resource.successCondition"].status == "mapped"


@pytest.mark.parametrize("body, why", [
    ("action: delete\n      successCondition: a=b\n      flags: [cm, x]", "refuses it"),
    ("action: destroy\n      manifest: 'kind: X'", "Argo takes one of"),
    ("action: create", "neither a manifest nor flags"),
    ("action: get\n      successCondition: status.phase >= 1\n      manifest: 'kind: X'", "does not parse"),
])
def test_what_argos_executor_refuses_is_unsupported(tmp_path, body, why):
    case = tmp_path / "bad.yaml"
    case.write_text(f"""apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: bad-}}
spec:
  entrypoint: r
  templates:
  - name: r
    resource:
      {body}
""")
    [imported] = import_(case)
    [entry] = [e for e in imported.report.entries if e.status == UNSUPPORTED]
    assert entry.path == "spec.templates[0].resource" and why in entry.note
