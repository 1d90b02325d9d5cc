"""`orch import argo`: controller policies graded by what they change (approximated: no step's end state moves),
pod-level resources mapped exactly, and locks approximated only where no clock runs while a task waits."""

from __future__ import annotations

from pathlib import Path

import yaml

from orch.backends.argo.importer import import_
from orch.backends.argo.render import render
from orch.core.fidelity import APPROXIMATED, MAPPED, UNSUPPORTED
from orch.core.load import parse_spec

CASES = Path(__file__).parent / "import_cases"


def fates(imported) -> dict[str, tuple[str, str]]:
    return {e.path: (e.status, e.note) for e in imported.report.entries}


def test_controller_policies_are_approximated_each_saying_who_notices():
    [imported] = import_(CASES / "policies.yaml")
    found = fates(imported)
    for key in ("podGC", "ttlStrategy", "archiveLogs", "artifactRepositoryRef", "podDisruptionBudget", "priority",
                "workflowMetadata", "metrics"):
        status, note = found[f"spec.{key}"]
        assert status == APPROXIMATED and "who notices" in note, key
    assert found["spec.templates[1].metrics"][0] == APPROXIMATED
    assert imported.report.nothing_unsupported and imported.report.behaviour.checked


def test_pod_level_resources_become_the_pods_own_resources_in_the_patch():
    [imported] = import_(CASES / "policies.yaml")
    assert fates(imported)["spec.podResources"][0] == MAPPED
    spec = yaml.safe_load(imported.text)
    assert spec["defaults"]["kubernetes"]["pod_spec_patch"]["resources"] == {"limits": {"cpu": "1", "memory": "512Mi"}}
    [workflow] = [a for a in render(parse_spec(imported.text)) if "Workflow" in a.text]
    assert "podSpecPatch" in workflow.text and "512Mi" in workflow.text


def test_a_lock_within_one_run_is_approximated():
    [imported] = import_(CASES / "policies.yaml")
    status, note = fates(imported)["spec.templates[1].synchronization"]
    assert status == APPROXIMATED and "ConfigMap" in note and "who notices" in note


def _with(tmp_path, spec_extra: str, template_extra: str = "") -> dict:
    path = tmp_path / "locked.yaml"
    path.write_text(f"""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: locked-}}
spec:
  entrypoint: main
{spec_extra}
  templates:
  - name: main
{template_extra}
    synchronization:
      semaphores:
      - configMapKeyRef: {{name: my-config, key: workflow}}
    container: {{image: busybox, command: [echo, hi]}}
""")
    [imported] = import_(path)
    return fates(imported)


def test_a_lock_under_a_workflow_deadline_is_unsupported(tmp_path):
    status, note = _with(tmp_path, "  activeDeadlineSeconds: 60")["spec.templates[0].synchronization"]
    assert status == UNSUPPORTED and "deadline" in note


def test_a_lock_on_a_template_with_a_timeout_is_unsupported(tmp_path):
    status, note = _with(tmp_path, "", "    timeout: 1m")["spec.templates[0].synchronization"]
    assert status == UNSUPPORTED and "Pending" in note


def test_a_lock_under_a_callers_timeout_is_unsupported(tmp_path):
    path = tmp_path / "caller.yaml"
    path.write_text("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: caller-}
spec:
  entrypoint: main
  templates:
  - name: main
    timeout: 5m
    steps:
    - - {name: work, template: work}
  - name: work
    synchronization: {mutexes: [{name: db}]}
    container: {image: busybox, command: [echo, hi]}
""")
    [imported] = import_(path)
    assert fates(imported)["spec.templates[1].synchronization"][0] == UNSUPPORTED


def test_a_template_asking_for_the_workflows_own_lock_is_unsupported(tmp_path):
    held = "  synchronization:\n    semaphores:\n    - configMapKeyRef: {name: my-config, key: workflow}"
    found = _with(tmp_path, held)
    assert found["spec.synchronization"][0] == APPROXIMATED
    assert found["spec.templates[0].synchronization"][0] == UNSUPPORTED


def test_cron_history_limits_are_approximated(tmp_path):
    path = tmp_path / "cron.yaml"
    path.write_text("""
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: nightly}
spec:
  schedule: "0 2 * * *"
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 1
  workflowSpec:
    entrypoint: main
    templates:
    - name: main
      container: {image: busybox, command: [echo, hi]}
""")
    [imported] = import_(path)
    found = fates(imported)
    assert found["spec.successfulJobsHistoryLimit"][0] == found["spec.failedJobsHistoryLimit"][0] == APPROXIMATED
    assert imported.report.nothing_unsupported


def test_an_artifact_stored_by_a_plugin_driver_is_approximated_as_any_store(tmp_path):
    path = tmp_path / "plugin.yaml"
    path.write_text("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: plugin-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: make, template: make}
    - - name: read
        template: read
        arguments:
          artifacts: [{name: message, from: "{{steps.make.outputs.artifacts.out}}"}]
  - name: make
    container: {image: busybox, command: [sh, -c, "echo hi > /tmp/out"]}
    outputs:
      artifacts:
      - {name: out, path: /tmp/out, plugin: {name: my-driver, configuration: "bucket: b", key: hi}}
  - name: read
    inputs:
      artifacts: [{name: message, path: /tmp/message}]
    container: {image: busybox, command: [cat, /tmp/message]}
""")
    [imported] = import_(path)
    status, note = fates(imported)["spec.templates[1].outputs.artifacts[0].plugin"]
    assert status == APPROXIMATED and "pipeline's store" in note
    assert imported.report.nothing_unsupported and imported.report.behaviour.checked
    assert yaml.safe_load(imported.text)["steps"]["make"]["outputs"] == {"out": {"type": "artifact"}}


def test_a_lock_a_steps_template_holds_and_its_task_asks_for_is_unsupported(tmp_path):
    path = tmp_path / "nested.yaml"
    path.write_text("""
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: nested-}
spec:
  entrypoint: main
  templates:
  - name: main
    synchronization: {mutexes: [{name: db}]}
    steps:
    - - {name: work, template: work}
  - name: work
    synchronization: {mutexes: [{name: db}]}
    container: {image: busybox, command: [echo, hi]}
""")
    [imported] = import_(path)
    status, note = fates(imported)["spec.templates[1].synchronization"]
    assert status == UNSUPPORTED and "its own caller" in note


def test_a_policy_with_no_spec_field_is_said_in_the_specs_header():
    [imported] = import_(CASES / "policies.yaml")
    head = imported.text.split("apiVersion:")[0]
    assert "# Approximated:" in head and "# spec.podGC: Argo deletes the workflow's pods" in head
    assert parse_spec(imported.text).pipeline.name == imported.name


PATCHES = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: patches-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: cpu, value: 100m}, {name: arch, value: arm64}]}
  podSpecPatch: '{"containers": [{"name": "main", "resources": {"limits": {"memory": "100Mi"}}}]}'
  securityContext: {runAsNonRoot: true}
  templates:
  - name: main
    nodeSelector: {kubernetes.io/arch: "{{workflow.parameters.arch}}"}
    podSpecPatch: '{"containers": [{"name": "main", "resources": {"limits": {"cpu": "{{workflow.parameters.cpu}}"}}}]}'
    container: {image: busybox, command: ["true"]}
"""


def test_pod_settings_from_params_take_their_defaults_and_patches_merge_as_argo_applies_them(tmp_path):
    """A param in a pod setting is written with its default (approximated: another value at run is not seen); the
    template's podSpecPatch is applied after the workflow's, a strategic merge (containers by name), so the step
    keeps the workflow's memory limit and its security context beside its own cpu limit."""
    (tmp_path / "p.yaml").write_text(PATCHES)
    [imported] = import_(tmp_path / "p.yaml")
    found = fates(imported)
    assert found["spec.templates[0].podSpecPatch"][0] == APPROXIMATED and "'cpu'" in found[
        "spec.templates[0].podSpecPatch"][1]
    assert found["spec.templates[0].nodeSelector"][0] == APPROXIMATED
    step = yaml.safe_load(imported.text)["steps"]["main"]["kubernetes"]
    assert step["node_selector"] == {"kubernetes.io/arch": "arm64"}
    assert step["pod_spec_patch"] == {"securityContext": {"runAsNonRoot": True}, "containers": [
        {"name": "main", "resources": {"limits": {"memory": "100Mi", "cpu": "100m"}}}]}
    assert imported.report.nothing_unsupported and imported.report.behaviour.checked
