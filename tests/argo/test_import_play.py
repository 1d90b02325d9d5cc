"""The importer's Argo player (backends/argo/play.py) held to outcomes computed apart from it: the tests' model
of Argo's DAG rules (argo_model.py) on Workflows orch renders, and outcomes worked out by hand from Argo's docs
and controller (steps.go, dag.go, operator.go) for steps templates, depends, failFast, retries and onExit."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orch.backends.argo.play import play
from orch.core import parse_spec
from orch.core.names import argo_name
from orch.core.play import Draw, Ending

from ..conformance.test_random_dags import dags
from .argo_model import play as model_play


def _workflow(templates: list, entrypoint: str = "main", **spec) -> dict:
    return {"kind": "Workflow", "spec": {"entrypoint": entrypoint, "templates": templates, **spec}}


def _leaf(name: str, **fields) -> dict:
    return {"name": name, "container": {"image": "busybox", "command": ["true"]}, **fields}


FAIL = Draw(fails=1)


def _phases(played) -> dict[str, str]:
    return {name: end.state for name, end in played.ends.items()}


@settings(max_examples=120, deadline=None)
@given(dags())
def test_the_player_agrees_with_the_argo_model_on_rendered_workflows(steps):
    """orch renders random DAGs (triggers as `depends`, conditions as `when` expressions); the player and the
    model play the same manifest with the same failing tasks and end every task alike."""
    from orch.backends.argo.render import workflow_spec

    for step in steps.values():
        step["command"] = ["false"] if step.pop("python").endswith(":fail") else ["true"]
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps}))
    spec = workflow_spec(graph).model_dump(by_alias=True, exclude_none=True, mode="json")
    failing = {argo_name(n) for n, s in steps.items() if s["command"] == ["false"]}
    expected = model_play({"spec": spec}, lambda task: "Failed" if task["name"] in failing else "Succeeded")
    played = play({"kind": "Workflow", "spec": spec}, {name: FAIL for name in failing})
    assert {k: v for k, v in _phases(played).items()} == {k: v for k, v in expected.items() if k in played.ends}
    assert set(expected) - set(played.ends) <= set()  # every task the model ended, the player ended too


def test_steps_groups_run_in_sequence_and_a_failed_group_stops_the_rest():
    flow = {"name": "main", "steps": [[{"name": "a", "template": "t"}],
                                      [{"name": "b", "template": "t"}, {"name": "c", "template": "t"}],
                                      [{"name": "d", "template": "t"}]]}
    played = play(_workflow([flow, _leaf("t")]), {"b": FAIL})
    assert _phases(played) == {"a": "Succeeded", "b": "Failed", "c": "Succeeded"}  # d never starts
    assert played.status == "Failed"


def test_continue_on_and_a_false_when_do_not_stop_the_next_group():
    flow = {"name": "main", "steps": [[{"name": "a", "template": "t", "continueOn": {"failed": True}},
                                       {"name": "b", "template": "t", "when": "x == y"}],
                                      [{"name": "d", "template": "t"}]]}
    played = play(_workflow([flow, _leaf("t")]), {"a": FAIL})
    assert _phases(played) == {"a": "Failed", "b": "Skipped", "d": "Succeeded"}
    assert played.status == "Succeeded"


def _dag(tasks: list, **dag) -> dict:
    return {"name": "main", "dag": {"tasks": [{"template": "t", **t} for t in tasks], **dag}}


def test_dependencies_accept_a_skipped_upstream_and_omit_after_a_failure():
    tasks = [{"name": "a", "when": "1 == 2"}, {"name": "b", "dependencies": ["a"]},
             {"name": "c"}, {"name": "d", "dependencies": ["c"]}]
    played = play(_workflow([_dag(tasks, failFast=False), _leaf("t")]), {"c": FAIL})
    assert _phases(played) == {"a": "Skipped", "b": "Succeeded", "c": "Failed", "d": "Omitted"}
    assert played.status == "Failed"  # d's branch inherits c's failure (assessDAGPhase)


def test_fail_fast_starts_nothing_after_a_failure_and_its_absence_runs_the_other_branches():
    tasks = [{"name": "a"}, {"name": "b", "dependencies": ["a"]}, {"name": "c"}]
    fast = play(_workflow([_dag(tasks), _leaf("t")]), {"a": FAIL})
    assert _phases(fast) == {"a": "Failed", "b": "Omitted"} and fast.status == "Failed"
    slow = play(_workflow([_dag(tasks, failFast=False), _leaf("t")]), {"a": FAIL})
    assert _phases(slow) == {"a": "Failed", "b": "Omitted", "c": "Succeeded"} and slow.status == "Failed"


def test_a_failure_handled_by_depends_leaves_the_dag_succeeded():
    """dag-enhanced-depends in Argo's docs: a task on A.Failed runs when A fails, and the DAG's leaf succeeds."""
    tasks = [{"name": "a"}, {"name": "ok", "depends": "a.Succeeded"}, {"name": "on-fail", "depends": "a.Failed"}]
    played = play(_workflow([_dag(tasks), _leaf("t")]), {"a": FAIL})
    assert _phases(played) == {"a": "Failed", "ok": "Omitted", "on-fail": "Succeeded"}
    assert played.status == "Failed"  # ok's branch inherits a's failure
    lone = [{"name": "a"}, {"name": "on-fail", "depends": "a.Failed"}]
    assert play(_workflow([_dag(lone), _leaf("t")]), {"a": FAIL}).status == "Succeeded"


def test_retries_follow_the_policy():
    strategy = {"limit": 2}
    template = _leaf("main", retryStrategy=strategy)
    assert play(_workflow([template]), {"main": Draw(fails=2)}).ends["main"] == Ending("Succeeded", 3)
    assert play(_workflow([template]), {"main": Draw(fails=3)}).ends["main"] == Ending("Failed", 3)
    errored = play(_workflow([template]), {"main": Draw(fails=1, error=True)})
    assert errored.ends["main"] == Ending("Error", 1) and errored.status == "Error"  # OnFailure does not retry errors
    always = _leaf("main", retryStrategy={"limit": 2, "retryPolicy": "Always"})
    assert play(_workflow([always]), {"main": Draw(fails=1, error=True)}).ends["main"] == Ending("Succeeded", 2)
    on_error = _leaf("main", retryStrategy={"limit": 2, "retryPolicy": "OnError"})
    assert play(_workflow([on_error]), {"main": Draw(fails=1, error=True)}).ends["main"] == Ending("Succeeded", 2)
    assert play(_workflow([on_error]), {"main": Draw(fails=1)}).ends["main"] == Ending("Failed", 1)
    endless = _leaf("main", retryStrategy={})  # no limit: Argo retries until it succeeds
    assert play(_workflow([endless]), {"main": Draw(fails=7)}).ends["main"] == Ending("Succeeded", 8)


def test_a_failed_exit_handler_fails_a_succeeded_workflow():
    document = _workflow([_leaf("main"), _leaf("bye")], onExit="bye")
    assert play(document, {}).status == "Succeeded"
    played = play(document, {"onExit:bye": FAIL})
    assert played.status == "Failed" and played.ends["onExit:bye"] == Ending("Failed", 1)


def test_a_when_reads_outputs_of_the_tasks_before():
    tasks = [{"name": "flip", "template": "t"},
             {"name": "heads", "template": "t", "dependencies": ["flip"],
              "when": "{{tasks.flip.outputs.result}} == heads"}]
    document = _workflow([{"name": "main", "dag": {"tasks": tasks}}, _leaf("t")])
    assert play(document, {"flip": Draw(outputs={"result": "heads"})}).ends["heads"].state == "Succeeded"
    assert play(document, {"flip": Draw(outputs={"result": "tails"})}).ends["heads"].state == "Skipped"


def test_a_nested_dag_plays_as_one_node_holding_its_tasks():
    inner = {"name": "inner", "dag": {"tasks": [{"name": "x", "template": "t"},
                                                {"name": "y", "template": "t", "dependencies": ["x"]}]}}
    outer = {"name": "main", "dag": {"tasks": [{"name": "g", "template": "inner"},
                                               {"name": "after", "template": "t", "dependencies": ["g"]}]}}
    played = play(_workflow([outer, inner, _leaf("t")]), {"g.x": FAIL})
    assert _phases(played) == {"g.x": "Failed", "g.y": "Omitted", "g": "Failed", "after": "Omitted"}


@st.composite
def argo_dags(draw):
    """Random DAG manifests in the forms the importer maps exactly: `dependencies`, bare or `.Succeeded`
    depends, a `when` on an earlier task's stdout, retries that retry errors too; failFast either way."""
    count = draw(st.integers(2, 7))
    tasks = []
    for i in range(count):
        task = {"name": f"t{i}", "template": "say"}
        earlier = [f"t{j}" for j in range(i)]
        ups = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        if ups:
            form = draw(st.sampled_from(["dependencies", "bare", "succeeded"]))
            if form == "dependencies":
                task["dependencies"] = ups
            else:
                task["depends"] = " && ".join(u if form == "bare" else f"{u}.Succeeded" for u in ups)
            if draw(st.booleans()):
                task["when"] = f"{{{{tasks.{ups[0]}.outputs.result}}}} == {draw(st.sampled_from(['yes', 'no']))}"
        if draw(st.integers(0, 3)) == 0:
            task["template"] = "flaky"
        tasks.append(task)
    dag = {"tasks": tasks, **({"failFast": False} if draw(st.booleans()) else {})}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "random"},
            "spec": {"entrypoint": "main", "templates": [
                {"name": "main", "dag": dag},
                {"name": "say", "script": {"image": "busybox", "command": ["sh"], "source": "echo yes"}},
                {"name": "flaky", "retryStrategy": {"limit": 2, "retryPolicy": "Always"},
                 "script": {"image": "busybox", "command": ["sh"], "source": "echo no"}}]}}


@settings(max_examples=60, deadline=None)
@given(argo_dags())
def test_what_the_report_calls_exact_plays_alike(tmp_path_factory, manifest):
    """The importer's claim held to the players: a manifest imported with every field mapped ends every task,
    and the run, as its spec does on every draw."""
    from orch.backends.argo.importer import import_

    path = tmp_path_factory.mktemp("dag") / "wf.yaml"
    path.write_text(yaml.safe_dump(manifest))
    [imported] = import_(path)
    statuses = {e.status for e in imported.report.entries}
    if statuses == {"mapped"}:
        assert imported.report.behaviour.checked, imported.report.behaviour.differences[:2]
