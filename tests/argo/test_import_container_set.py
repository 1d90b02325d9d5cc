"""`orch import argo` of containerSet templates: a group with a step per container `after` its `dependencies`, the
group's outputs its `main` step's; Argo's player plays the set's container nodes as the emissary runs them (a
container whose dependency failed fails without running its command, the others run on, the pod fails), held to
outcomes worked out by hand from emissary.go and container_set_template.go, to orch's play of the imported spec,
and to the local backend's real run. Argo's own argosay image runs its entrypoint when a container gives no
command."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orch.backends.argo.importer import import_
from orch.backends.argo.play import DEPENDENCY_FAILED, play
from orch.core.fidelity import APPROXIMATED, UNSUPPORTED
from orch.core.load import parse_spec
from orch.core.play import Draw
from orch.core.play import play as orch_play


GRAPH = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: graph}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: set, template: set}
      - {name: after-set, template: echo, dependencies: [set]}
  - name: set
    containerSet:
      containers:
      - {name: a, image: busybox, command: [sh, -c, "echo a"]}
      - {name: b, image: busybox, command: [sh, -c, "B"], dependencies: [a]}
      - {name: c, image: busybox, command: [sh, -c, "echo c"], dependencies: [a]}
      - {name: d, image: busybox, command: [sh, -c, "echo d"], dependencies: [b, c]}
      - {name: e, image: busybox, command: [sh, -c, "echo e"], dependencies: [d]}
  - name: echo
    container: {image: busybox, command: [echo, done]}
"""


def _import(tmp_path, text: str):
    (tmp_path / "wf.yaml").write_text(text)
    [imported] = import_(tmp_path / "wf.yaml")
    return imported


def _states(played) -> dict[str, str]:
    return {name: end.state for name, end in played.ends.items()}


def test_a_container_set_is_a_group_of_steps_after_their_dependencies(tmp_path):
    imported = _import(tmp_path, GRAPH.replace('"B"', '"echo b"'))
    group = yaml.safe_load(imported.text)["steps"]["set"]
    steps = group["steps"]
    assert list(steps) == ["a", "b", "c", "d", "e"]
    assert {name: step.get("after") for name, step in steps.items()} == {
        "a": None, "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d"]}
    assert all("trigger" not in step for step in steps.values())  # all_succeeded, as the emissary waits for exit 0
    assert group["fail_fast"] is False  # the pipeline's DAG fails fast; the set's containers are never stopped
    assert steps["c"]["command"] == ["sh", "-c", "echo c"] and steps["c"]["image"] == "busybox"
    [note] = [e for e in imported.report.entries if e.status == APPROXIMATED]
    assert note.path == "spec.templates[1].containerSet" and "one pod" in note.note and "upstream_failed" in note.note
    assert imported.report.behaviour.checked


def test_argos_player_fails_the_dependents_of_a_failed_container_unrun_and_runs_the_others():
    """emissary.go: b exits non-zero; d (waiting on b) and e (on d) exit with its code without running their
    command; c, which waits on a only, runs; the pod -- the DAG task -- fails, so the task after it is Omitted."""
    played = play(yaml.safe_load(GRAPH), {"set.b": Draw(fails=1)})
    assert _states(played) == {"set.a": "Succeeded", "set.b": "Failed", "set.c": "Succeeded",
                               "set.d": DEPENDENCY_FAILED, "set.e": DEPENDENCY_FAILED, "set": "Failed",
                               "after-set": "Omitted"}
    assert played.status == "Failed"
    assert played.ends["set.d"].attempts == 0


def test_the_imported_group_ends_alike_when_one_container_fails(tmp_path):
    imported = _import(tmp_path, GRAPH)
    played = orch_play(parse_spec(imported.text), {"set.b": Draw(fails=1)})
    assert _states(played) == {"set.a": "succeeded", "set.b": "failed", "set.c": "succeeded",
                               "set.d": "upstream_failed", "set.e": "upstream_failed", "set": "failed",
                               "after-set": "upstream_failed"}
    assert played.status == "failed"
    behaviour = imported.report.behaviour
    assert behaviour.checked and behaviour.plays == 64, behaviour.differences[:3]


def test_the_local_backend_runs_the_set_as_the_player_says(tmp_path):
    """Real processes: b fails, d and e never run, c does, the task after the set does not start."""
    from orch.backends.local.run import run

    imported = _import(tmp_path, GRAPH.replace('"B"', '"exit 3"'))
    (tmp_path / "spec.yaml").write_text(imported.text)
    result = run(parse_spec(imported.text), {}, spec_path=str(tmp_path / "spec.yaml"), home=tmp_path / ".orch")
    states = {name: step.status for name, step in result.steps.items()}
    assert {k: v for k, v in states.items() if k.startswith("set.")} == {
        "set.a": "succeeded", "set.b": "failed", "set.c": "succeeded", "set.d": "upstream_failed",
        "set.e": "upstream_failed"}
    assert states["after-set"] == "upstream_failed"
    assert result.status == "failed"


RESULT = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: result}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: show, template: show, dependencies: [set],
         arguments: {parameters: [{name: x, value: "{{tasks.set.outputs.result}} {{tasks.set.outputs.parameters.n}}"}]}}
      - {name: set, template: set}
  - name: set
    containerSet:
      containers:
      - {name: first, image: busybox, command: [sh, -c, "echo 7 > /tmp/n"]}
      - {name: main, image: busybox, command: [sh, -c, "echo 7 > /tmp/n; echo hi"], dependencies: [first]}
    outputs:
      parameters: [{name: n, valueFrom: {path: /tmp/n}}]
  - name: show
    inputs: {parameters: [{name: x}]}
    container: {image: busybox, command: [sh, -c, 'echo "$0" > SHOWN', "{{inputs.parameters.x}}"]}
"""


def test_the_sets_result_and_outputs_are_its_main_containers_read_by_a_task_written_before_it(tmp_path):
    from orch.backends.local.run import run

    imported = _import(tmp_path, RESULT.replace("SHOWN", str(tmp_path / "shown")))
    spec = yaml.safe_load(imported.text)
    group = spec["steps"]["set"]
    assert group["outputs"] == {"n": "${{ steps.main.outputs.n }}", "result": "${{ steps.main.outputs.result }}"}
    assert group["steps"]["main"]["outputs"]["result"] == {"type": "string", "from": "stdout"}
    assert "outputs" not in group["steps"]["first"]  # only main saves the template's outputs (emissary.go)
    assert not [e for e in imported.report.entries if e.status == UNSUPPORTED]
    (tmp_path / "spec.yaml").write_text(imported.text)
    result = run(parse_spec(imported.text), {}, spec_path=str(tmp_path / "spec.yaml"), home=tmp_path / ".orch")
    assert result.status == "succeeded"
    assert (tmp_path / "shown").read_text() == "hi 7\n"


def test_outputs_of_a_set_with_no_main_container_are_refused(tmp_path):
    text = RESULT.replace("name: main, image", "name: last, image")
    report = _import(tmp_path, text).report
    unsupported = {e.path: e.note for e in report.entries if e.status == UNSUPPORTED}
    assert "spec.templates[1].outputs" in unsupported and "main" in unsupported["spec.templates[1].outputs"]


SHARED = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: shared}
spec:
  entrypoint: set
  templates:
  - name: set
    volumes:
    - {name: work, emptyDir: {}}
    - {name: own, emptyDir: {}}
    containerSet:
      volumeMounts:
      - {name: work, mountPath: /work}
      retryStrategy: {retries: 2}
      containers:
      - name: a
        image: busybox
        command: [sh, -c, "echo hi > /work/out"]
        volumeMounts: [{name: own, mountPath: /scratch}]
      - {name: main, image: busybox, command: [cat, /work/out], dependencies: [a]}
"""


def test_an_empty_dir_shared_by_the_sets_containers_and_the_sets_retries_are_refused(tmp_path):
    report = _import(tmp_path, SHARED).report
    fates = {e.path: e.status for e in report.entries}
    assert fates["spec.templates[0].containerSet.volumeMounts[0]"] == UNSUPPORTED  # shared by a and main
    assert fates["spec.templates[0].containerSet.containers[0].volumeMounts[0]"] != UNSUPPORTED  # a's own
    assert fates["spec.templates[0].containerSet.retryStrategy"] == UNSUPPORTED


def test_a_pod_retry_or_deadline_on_the_set_is_refused_its_group_has_neither(tmp_path):
    text = GRAPH.replace("  - name: set\n", "  - name: set\n    retryStrategy: {limit: 2}\n    timeout: 30s\n")
    report = _import(tmp_path, text).report
    unsupported = {e.path for e in report.entries if e.status == UNSUPPORTED}
    assert unsupported == {"spec.templates[1].retryStrategy", "spec.templates[1].timeout"}



def test_argosay_without_a_command_runs_its_entrypoint_another_image_is_refused(tmp_path):
    text = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: say}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: v2, template: v2}
      - {name: v2-bare, template: v2-bare}
      - {name: v1, template: v1}
      - {name: other, template: other}
  - {name: v2, container: {image: argoproj/argosay:v2, args: [echo, hi]}}
  - {name: v2-bare, container: {image: docker.io/argoproj/argosay:v2}}
  - {name: v1, container: {image: argoproj/argosay:v1}}
  - {name: other, container: {image: nginx, args: [-g, daemon off;]}}
"""
    imported = _import(tmp_path, text)
    steps = yaml.safe_load(imported.text)["steps"]
    assert steps["v2"]["command"] == ["/argosay", "echo", "hi"]
    assert steps["v2-bare"]["command"] == ["/argosay"]
    assert steps["v1"]["command"] == ["cowsay"]
    assert [e.path for e in imported.report.entries if e.status == UNSUPPORTED] == ["spec.templates[4].container"]


WHEN = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: when-set}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: set, template: set}
      - {name: hit, template: echo, dependencies: [set], when: "{{tasks.set.outputs.result}} == hi"}
      - {name: miss, template: echo, dependencies: [set], when: "{{tasks.set.outputs.result}} != hi"}
  - name: set
    containerSet:
      containers:
      - {name: main, image: busybox, command: [echo, hi]}
  - name: echo
    container: {image: busybox, command: [echo, done]}
"""


def test_a_when_on_the_sets_result_draws_the_main_steps_output(tmp_path):
    """The behaviour check varies the value a `when` compares on the step that writes it (the set's main), so
    both sides' `when`s are tried on 'hi' and on another value."""
    from orch.backends.argo.importer import manifest
    from orch.backends.argo.importer.behaviour import spaces
    from orch.backends.argo.importer.convert import Workflow
    from orch.backends.argo.importer.text import spec_text
    from orch.core.fidelity import Ledger

    (tmp_path / "wf.yaml").write_text(WHEN)
    [document] = manifest.read(tmp_path / "wf.yaml", libraries=True)
    workflow = Workflow(document, Ledger(document.locate))
    _, graph = spec_text(workflow.convert(), workflow, document)
    assert spaces(workflow, graph)["set.main"].outputs == {"result": ("hi", "none-of-these")}
    played = play(yaml.safe_load(WHEN), {"set.main": Draw(outputs={"result": "hi"})})
    assert _states(played)["hit"] == "Succeeded" and _states(played)["miss"] == "Skipped"
    assert _import(tmp_path, WHEN).report.behaviour.checked


def test_an_output_parameter_and_artifact_of_one_name_are_not_merged_silently(tmp_path):
    text = SHARED.replace("""      - {name: main, image: busybox, command: [cat, /work/out], dependencies: [a]}
""", """      - {name: main, image: busybox, command: [cat, /work/out], dependencies: [a]}
    outputs:
      parameters: [{name: out, valueFrom: {path: /work/out}}]
      artifacts: [{name: out, path: /work/out}]
""")
    imported = _import(tmp_path, text)
    fates = {e.path: e.status for e in imported.report.entries}
    assert fates["spec.templates[0].outputs.artifacts[0]"] == UNSUPPORTED
    assert yaml.safe_load(imported.text)["steps"]["set"]["steps"]["main"]["outputs"] == {"out": {"type": "string"}}
