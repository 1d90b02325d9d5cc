"""Exit hooks of tasks and steps (`onExit`, `hooks.exit`) and the workflow's (`spec.hooks.exit`): the player plays
them as Argo's controller does (outcomes worked out by hand from dag.go, steps.go, exit_handler.go and
operator.go), and the importer writes each as a finally step whose `when` says that the task ran, its behaviour
checked against the player on hand-written manifests."""

from __future__ import annotations

import pytest
import yaml

from orch.backends.argo.importer import import_
from orch.backends.argo.importer.ran import ran
from orch.backends.argo.play import play
from orch.core.fidelity import APPROXIMATED, UNSUPPORTED
from orch.core.load import parse_spec
from orch.core.play import Draw, Ending

FAIL = Draw(fails=1)


def _workflow(templates: list, entrypoint: str = "main", **spec) -> dict:
    return {"kind": "Workflow", "spec": {"entrypoint": entrypoint, "templates": templates, **spec}}


def _leaf(name: str, **fields) -> dict:
    return {"name": name, "container": {"image": "busybox", "command": ["true"]}, **fields}


def _dag(*tasks, fail_fast: bool = False) -> dict:
    return {"name": "main", "dag": {"failFast": fail_fast, "tasks": list(tasks)}}


# --- the player ---------------------------------------------------------------------------------------


def test_a_hook_runs_after_a_failed_task_and_its_failure_changes_nothing_else():
    """runOnExitNode under node.Completed(): a Failed task's hook runs; the hook's own phase is no input to the
    dependents' depends, the DAG's phase (assessDAGPhase reads the target tasks) nor the workflow's."""
    document = _workflow([_dag({"name": "a", "template": "work", "onExit": "bye"},
                               {"name": "b", "template": "work", "depends": "a.Failed"}),
                          _leaf("work"), _leaf("bye")])
    played = play(document, {"a": FAIL})
    assert played.ends["a.onExit"] == Ending("Succeeded", 1)
    assert played.ends["b"] == Ending("Succeeded", 1)
    played = play(document, {"a.onExit": FAIL})  # a succeeds, its hook fails: b omitted by a's phase, run succeeds
    assert played.ends["a.onExit"] == Ending("Failed", 1)
    assert played.ends["b"].state == "Omitted" and played.status == "Succeeded"


def test_no_hook_for_a_skipped_an_omitted_or_a_never_started_task():
    document = _workflow([_dag({"name": "a", "template": "work"},
                               {"name": "skipped", "template": "work", "when": "1 == 2", "onExit": "bye"},
                               {"name": "omitted", "template": "work", "depends": "a", "onExit": "bye"}),
                          _leaf("work"), _leaf("bye")])
    played = play(document, {"a": FAIL})
    assert "skipped.onExit" not in played.ends and "omitted.onExit" not in played.ends
    steps = _workflow([{"name": "main", "steps": [[{"name": "one", "template": "work"}],
                                                  [{"name": "two", "template": "work", "onExit": "bye"}]]},
                       _leaf("work"), _leaf("bye")])
    assert "two.onExit" not in play(steps, {"one": FAIL}).ends  # the next group never started (steps.go)


def test_fail_fast_does_not_stop_the_failed_tasks_own_hook():
    document = _workflow([_dag({"name": "a", "template": "work", "onExit": "bye"},
                               {"name": "b", "template": "work", "depends": "a", "onExit": "bye"}, fail_fast=True),
                          _leaf("work"), _leaf("bye")])
    played = play(document, {"a": FAIL})
    assert played.ends["a.onExit"] == Ending("Succeeded", 1) and "b.onExit" not in played.ends
    assert played.status == "Failed"


def test_a_hook_expression_reads_the_tasks_status_and_its_arguments_the_tasks_outputs():
    hook = {"expression": 'tasks["a"].status == "Failed"', "template": "page",
            "arguments": {"parameters": [{"name": "rows", "value": "{{tasks.a.outputs.parameters.rows}}"}]}}
    page = _leaf("page", inputs={"parameters": [{"name": "rows"}]})
    document = _workflow([_dag({"name": "a", "template": "work", "hooks": {"exit": hook}}), _leaf("work"), page])
    assert "a.onExit" not in play(document, {}).ends
    assert play(document, {"a": FAIL}).ends["a.onExit"] == Ending("Succeeded", 1)


def test_the_workflows_exit_hook_is_its_exit_handler():
    document = _workflow([_leaf("main"), _leaf("bye")], hooks={"exit": {"template": "bye"}})
    played = play(document, {"onExit:bye": FAIL})
    assert played.status == "Failed" and played.ends["onExit:bye"] == Ending("Failed", 1)


# --- the condition that a step ran -------------------------------------------------------------------------


def test_the_ran_condition_follows_triggers_when_and_fail_fast():
    steps = {"a": {}, "b": {"after": ["a"]}, "c": {"after": ["a"], "trigger": "none_failed", "when": "params.x"},
             "d": {"after": ["b", "c"], "trigger": "all_done"}}
    assert ran(steps, "a", False).condition is None and ran(steps, "a", False).exact
    assert ran(steps, "b", False).condition == "'a' not in run.failed_steps"
    assert ran(steps, "c", False).condition == "'a' not in run.failed_steps and (params.x)"
    assert ran(steps, "d", False).condition is None  # all_done: it runs whatever its upstream did
    assert ran(steps, "d", True).condition == ("'a' not in run.failed_steps and 'b' not in run.failed_steps and "
                                               "'c' not in run.failed_steps")


def test_a_start_that_depends_on_timing_under_fail_fast_is_not_exact():
    steps = {"a": {}, "slow": {}, "b": {"after": ["a"]}}  # slow may fail before b starts, or after
    found = ran(steps, "b", True)
    assert not found.exact and "'slow'" in found.why
    assert found.condition == "'a' not in run.failed_steps"  # as if nothing beside it stopped it
    assert ran(steps, "b", False).exact
    chain = {"a": {}, "b": {"after": ["a"]}, "c": {"after": ["b"], "trigger": "all_done"}}
    assert ran(chain, "c", True) == ran(chain, "c", True).__class__(
        "'a' not in run.failed_steps and 'b' not in run.failed_steps", True, "")  # a failure before it stops it


# --- the importer --------------------------------------------------------------------------------------

STEPS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: step-hooks}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: first
            template: work
            hooks:
              exit: {template: cleanup}
        - - name: second
            template: work
            onExit: cleanup
    - name: work
      container: {image: busybox, command: [echo, work]}
    - name: cleanup
      container: {image: busybox, command: [echo, cleanup]}
"""

DAG = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: dag-hooks}
spec:
  entrypoint: main
  templates:
    - name: main
      dag:
        failFast: false
        tasks:
          - name: extract
            template: work
            onExit: cleanup
          - name: load
            depends: extract
            template: work
          - name: alert
            depends: extract.Failed
            template: work
          - name: audit
            depends: load
            template: work
            hooks:
              exit:
                expression: tasks.audit.status != "Succeeded"
                template: cleanup
    - name: work
      container: {image: busybox, command: [echo, work]}
    - name: cleanup
      container: {image: busybox, command: [echo, cleanup]}
"""


PARAM = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: hook-param}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: step-1
            template: output
            hooks:
              exit:
                template: exit
                arguments:
                  parameters: [{name: message, value: "{{steps.step-1.outputs.parameters.result}}"}]
    - name: output
      container: {image: busybox, command: [sh, -c, "echo -n hello > /tmp/out.txt"]}
      outputs:
        parameters: [{name: result, valueFrom: {path: /tmp/out.txt, default: Foobar}}]
    - name: exit
      inputs: {parameters: [{name: message}]}
      container: {image: busybox, command: [echo, "{{inputs.parameters.message}}"]}
"""


def _import(tmp_path, text: str):
    (tmp_path / "wf.yaml").write_text(text)
    [imported] = import_(tmp_path / "wf.yaml")
    return imported, yaml.safe_load(imported.text)


@pytest.mark.parametrize("text", [STEPS, DAG, PARAM], ids=["steps", "dag", "param"])
def test_a_hooked_manifest_imports_to_a_spec_that_validates_renders_and_plays_as_argo(tmp_path, text):
    from orch.backends.airflow.render import render as airflow
    from orch.backends.argo.render import render as argo
    from orch.backends.prefect.render import render as prefect

    imported, _ = _import(tmp_path, text)
    graph = parse_spec(imported.text)
    for render in (argo, airflow, prefect):
        assert render(graph), render
    report = imported.report
    assert not [e for e in report.entries if e.status == UNSUPPORTED]
    assert report.behaviour.checked, report.behaviour.differences[:3]  # failing hooks and failing tasks included


def test_a_hook_is_a_finally_step_run_when_its_task_ran(tmp_path):
    imported, spec = _import(tmp_path, STEPS)
    assert spec["finally"]["first-exit"].get("when") is None  # the first group always runs
    assert spec["finally"]["second-exit"]["when"] == "'first' not in run.failed_steps"  # steps.go: a failure stops
    hooks = [e for e in imported.report.entries if e.path.endswith(("hooks.exit", "onExit"))]
    assert [e.status for e in hooks] == [APPROXIMATED, APPROXIMATED]
    assert all("dependents wait for it" in e.note for e in hooks)  # what differs: when it runs, said
    assert "# orch runs it with the finally steps" in imported.text


def test_a_hook_reads_its_tasks_output_parameter_named_result_from_its_file(tmp_path):
    """An output *parameter* called `result` is the file it names, not the task's stdout (Argo's
    outputs.result): the hook reads what the task wrote; when the task failed orch's reference is null, said."""
    imported, spec = _import(tmp_path, PARAM)
    assert spec["steps"]["step-1"]["outputs"] == {"result": {"type": "string"}}
    assert spec["finally"]["step-1-exit"]["command"] == ["echo", "${{ steps.step-1.outputs.result }}"]
    [hook] = [e for e in imported.report.entries if e.path.endswith("hooks.exit")]
    assert "orch's reference is null" in hook.note


def test_a_hooked_tasks_dependents_decide_on_the_task_not_on_its_hook(tmp_path):
    """load and alert read extract's phase only: a failing hook changes neither, in Argo nor in the spec (the hook
    is a finally step, no upstream of theirs); the hook's expression over the task's status is its condition."""
    _, spec = _import(tmp_path, DAG)
    assert spec["steps"]["load"]["after"] == ["extract"] and spec["steps"]["alert"]["after"] == ["extract"]
    assert spec["finally"]["extract-exit"].get("when") is None
    assert spec["finally"]["audit-exit"]["when"] == ("('extract' not in run.failed_steps and 'load' not in "
                                                     "run.failed_steps) and ('audit' in run.failed_steps)")


def _with_lifecycle_hooks(task_expression: str, workflow_expression: str) -> str:
    text = DAG.replace("onExit: cleanup", "hooks:\n              running:\n                expression: "
                                          f"{task_expression}\n                template: cleanup")
    return text.replace("  templates:\n", "  hooks:\n    running: {expression: " + workflow_expression +
                        ", template: cleanup}\n  templates:\n", 1)


def test_running_hooks_are_finally_steps_and_say_when_argo_runs_them(tmp_path):
    imported, spec = _import(tmp_path, _with_lifecycle_hooks("tasks.extract.status == \"Running\"",
                                                             "workflow.status == \"Running\""))
    assert {"extract-running", "running"} <= set(spec["finally"])
    assert spec["finally"]["running"].get("when") is None  # the workflow is Running in every run
    notes = {e.path: e.note for e in imported.report.entries if e.status == APPROXIMATED}
    assert "sees the task Running" in notes["spec.templates[0].dag.tasks[0].hooks.running"]
    assert "as the workflow starts" in notes["spec.hooks.running"]
    assert not [e for e in imported.report.entries if e.status == UNSUPPORTED]
    assert imported.report.behaviour.checked, imported.report.behaviour.differences[:3]


@pytest.mark.parametrize("task_expression, workflow_expression", [
    ('tasks.extract.status != "Succeeded"', 'workflow.status != "Running"'),  # != holds while Pending or Running
    ('tasks.load.status == "Running"', 'workflow.duration > 10'),  # another task's status; no status at all
])
def test_other_lifecycle_hooks_are_refused_with_their_reason(tmp_path, task_expression, workflow_expression):
    imported, _ = _import(tmp_path, _with_lifecycle_hooks(task_expression, workflow_expression))
    refused = {e.path: e.note for e in imported.report.entries if e.status == UNSUPPORTED}
    assert set(refused) == {"spec.templates[0].dag.tasks[0].hooks.running", "spec.hooks.running"}
    assert "has an orch form" in refused["spec.hooks.running"]


def test_the_player_runs_a_lifecycle_hook_once_its_expression_first_holds():
    running = {"expression": 'tasks.a.status == "Running"', "template": "bye"}
    success = {"expression": 'tasks.a.status == "Succeeded"', "template": "bye"}
    document = _workflow([_dag({"name": "a", "template": "work", "hooks": {"running": running, "success": success}},
                               {"name": "b", "template": "work", "when": "1 == 2",
                                "hooks": {"running": {**running, "expression": 'tasks.b.status == "Running"'}}}),
                          _leaf("work"), _leaf("bye")],
                         hooks={"started": {"expression": 'workflow.status == "Running"', "template": "bye"}})
    played = play(document, {"a": FAIL, "hooks:started": FAIL})
    assert played.ends["a.hooks.running"] == Ending("Succeeded", 1) and "a.hooks.success" not in played.ends
    assert "b.hooks.running" not in played.ends  # b was skipped: never Running
    assert played.ends["hooks:started"] == Ending("Failed", 1) and played.status == "Failed"  # a's failure, not it
    played = play(document, {"hooks:started": FAIL})
    assert played.ends["a.hooks.success"] == Ending("Succeeded", 1) and played.status == "Succeeded"


RUNS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: hooks-run}
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: breaks
            template: fail
            onExit: note
          - name: works
            template: ok
            hooks:
              exit: {template: broken-note}
        - - name: never
            template: ok
            onExit: note
    - name: ok
      container: {image: busybox, command: ["true"]}
    - name: fail
      container: {image: busybox, command: [sh, -c, "exit 3"]}
    - name: note
      container: {image: busybox, command: [sh, -c, "echo ran >> NOTES"]}
    - name: broken-note
      container: {image: busybox, command: [sh, -c, "exit 1"]}
"""


def test_an_imported_spec_runs_its_hooks_on_the_local_backend_as_argo_would(tmp_path):
    """Real processes: the failed task's hook runs, the hook of the step its failure kept from starting does not,
    and a failing hook leaves its task succeeded and the run failed only by the task that failed."""
    from orch.backends.local.run import run

    notes = tmp_path / "notes"
    imported, _ = _import(tmp_path, RUNS.replace("NOTES", str(notes)))
    (tmp_path / "spec.yaml").write_text(imported.text)
    result = run(parse_spec(imported.text), {}, spec_path=str(tmp_path / "spec.yaml"), home=tmp_path / ".orch")
    states = {name: step.status for name, step in result.steps.items()}
    assert states == {"breaks": "failed", "works": "succeeded", "never": "upstream_failed", "breaks-exit": "succeeded",
                      "works-exit": "failed", "never-exit": "skipped"}
    assert notes.read_text() == "ran\n" and result.status == "failed"
    assert imported.report.behaviour.checked


def test_a_failing_hook_leaves_a_succeeded_run_succeeded_on_the_local_backend(tmp_path):
    """As Argo's phase rules never read a hook node: the workflow Succeeded, the orch run succeeded."""
    from orch.backends.local.run import run

    text = RUNS.replace("        - - name: breaks\n            template: fail\n            onExit: note\n          - name: works",
                        "        - - name: works")
    imported, _ = _import(tmp_path, text.replace("NOTES", str(tmp_path / "notes")))
    (tmp_path / "spec.yaml").write_text(imported.text)
    result = run(parse_spec(imported.text), {}, spec_path=str(tmp_path / "spec.yaml"), home=tmp_path / ".orch")
    assert result.steps["works-exit"].status == "failed" and result.steps["never-exit"].status == "succeeded"
    assert result.status == "succeeded"
    assert play(yaml.safe_load(text), {}).status == "Succeeded"  # the player: a failing hook too
    assert play(yaml.safe_load(text), {"works.onExit": FAIL}).status == "Succeeded"


def test_hooks_where_a_finally_step_cannot_tell_whether_the_task_ran_are_refused(tmp_path):
    text = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: nested-hooks}
spec:
  entrypoint: main
  onExit: handler
  templates:
    - name: main
      dag:
        tasks:
          - {name: inner, template: group, onExit: work}
    - name: group
      dag:
        tasks:
          - {name: deep, template: work, onExit: work}
    - name: handler
      steps:
        - - {name: notify, template: work, onExit: work}
    - name: work
      container: {image: busybox, command: ["true"]}
"""
    imported, _ = _import(tmp_path, text)
    refused = {e.path: e.note for e in imported.report.entries if e.status == UNSUPPORTED}
    assert set(refused) == {"spec.templates[0].dag.tasks[0].onExit", "spec.templates[1].dag.tasks[0].onExit",
                            "spec.templates[2].steps[0][0].onExit"}
    assert "calling a dag or steps template" in refused["spec.templates[0].dag.tasks[0].onExit"]
    assert "inside a nested dag" in refused["spec.templates[1].dag.tasks[0].onExit"]
    assert "exit handler" in refused["spec.templates[2].steps[0][0].onExit"]
