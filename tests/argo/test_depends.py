"""The `depends` translation, run through a model of Argo's DAG rules, ends every step as
DESIGN §3 says -- on random DAGs with random triggers, conditions and failures.

The model follows workflow/controller/dag.go: a task whose `depends` is false is
Omitted, one whose `when` is false is Skipped, otherwise it runs; results are read with
explicit names (X.Succeeded, X.Failed, X.Errored, X.Skipped, X.Omitted).
"""

from __future__ import annotations

import ast
import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from orch.backends.argo.depends import Depends, orch_states
from orch.core import parse_spec
from orch.core.names import argo_name

from ..conformance.test_random_dags import dags, oracle

_RESULT = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*)\.(Succeeded|Failed|Errored|Skipped|Omitted)")


def argo_eval(expression: str, phases: dict[str, str]) -> bool:
    """Evaluate a depends expression over task phases: results, &&, || and parentheses only."""
    python = _RESULT.sub(lambda m: str(phases[m.group(1)] == m.group(2)), expression)
    tree = ast.parse(python.replace("&&", " and ").replace("||", " or "), mode="eval").body

    def value(node) -> bool:
        if isinstance(node, ast.BoolOp):
            results = [value(v) for v in node.values]
            return all(results) if isinstance(node.op, ast.And) else any(results)
        assert isinstance(node, ast.Constant) and isinstance(node.value, bool), ast.dump(node)
        return node.value

    return value(tree)


def simulate(graph, steps: dict) -> dict[str, str]:
    """Argo's phase for each step (by orch name), in dependency order."""
    depends = Depends(graph)
    phases: dict[str, str] = {}  # by Argo task name
    for name in graph.order():
        expression = depends.of(name)
        if expression is not None and not argo_eval(expression, phases):
            phase = "Omitted"
        elif steps[name].get("when") == "1 == 2":
            phase = "Skipped"
        else:
            phase = "Failed" if steps[name]["python"].endswith(":fail") else "Succeeded"
        phases[argo_name(name)] = phase
    assert not argo_eval(depends.verdict(), phases)  # the verdict leaf is always omitted
    return {name: phases[argo_name(name)] for name in graph.pipeline.steps}


def spec_of(steps: dict):
    import yaml

    return parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps}))


@settings(max_examples=300, deadline=None)
@given(dags())
def test_depends_give_the_designed_states(steps):
    graph = spec_of(steps)
    phases = simulate(graph, steps)
    assert orch_states(graph, phases) == oracle(steps)


def test_a_chain_reads_as_expected():
    graph = spec_of({
        "load_data": {"python": "m:f"},
        "train": {"python": "m:f", "after": ["load_data"]},
        "report": {"python": "m:f", "after": ["train"], "trigger": "none_failed"},
        "alert": {"python": "m:f", "after": ["train"], "trigger": "any_failed"},
        "cleanup": {"python": "m:f", "after": ["train"], "trigger": "all_done"},
    })
    depends = Depends(graph)
    assert depends.of("load_data") is None
    assert depends.of("train") == "load-data.Succeeded"
    assert depends.of("report") == (
        "((train.Succeeded || train.Skipped || train.Omitted) && (load-data.Succeeded || load-data.Skipped || load-data.Omitted))")
    assert depends.of("alert") == "((train.Failed || train.Errored) || (load-data.Failed || load-data.Errored))"
    assert depends.of("cleanup") == "(train.Succeeded || train.Skipped || train.Failed || train.Errored || train.Omitted)"


def test_no_node_after_fail_fast_is_upstream_failed():
    graph = spec_of({"a": {"python": "m:f"}, "b": {"python": "m:f", "after": ["a"], "trigger": "all_done"}})
    assert orch_states(graph, {"a": "Failed", "b": None}) == {"a": "failed", "b": "upstream_failed"}


@settings(max_examples=300, deadline=None)
@given(dags(), st.sampled_from([2, 3, 200]))
def test_rendered_workflows_play_out_as_designed(steps, chunk_size):
    """The whole rendered Workflow -- one DAG, or nested chunks of `chunk_size` -- played by a
    model of Argo ends every step as the trigger table says, and fails exactly when a step failed."""
    from orch.backends.argo.render import VERDICT, VERDICT_TASK, workflow_spec

    from .argo_model import call_of, play

    graph = spec_of(steps)
    spec = workflow_spec(graph, chunk_size=chunk_size).model_dump(by_alias=True, exclude_none=True, mode="json")
    templates = {t["name"]: t for t in spec["templates"]}

    def runs(task):
        if task["template"] == VERDICT:
            return "Failed"  # the nested layout's verdict is a pod that fails
        return "Failed" if call_of(task, templates)["python"].endswith(":fail") else "Succeeded"

    phases = play({"spec": spec}, runs)
    by_step = {name: phases[argo_name(name)] for name in graph.pipeline.steps}
    expected = oracle(steps)
    assert orch_states(graph, by_step) == expected
    if len(steps) > chunk_size - 1:  # nested: the verdict runs, and fails the workflow, exactly when a step failed
        assert (phases[VERDICT_TASK] == "Failed") == ("failed" in expected.values())
    else:  # one DAG: the verdict leaf never runs; Argo gives it its parents' phase, Failed first
        assert phases[VERDICT_TASK] == "Omitted"


@settings(max_examples=150, deadline=None)
@given(dags())
def test_judged_by_its_leaves_the_workflow_fails_exactly_when_core_says(steps):
    """`state_from: leaves`: the verdict leaf below the leaves alone, played by the model of Argo (assessDAGPhase),
    gives the workflow the phase core's play gives the pipeline -- a leaf failed or upstream_failed fails it --
    wherever Argo renders the spec (a step that may be skipped after a failure is refused, E834)."""
    import yaml
    from hypothesis import assume

    from orch.backends.argo.render import workflow_spec
    from orch.core.errors import SpecError
    from orch.core.play import Draw
    from orch.core.play import play as core_play

    from .argo_model import World, call_of, play

    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "state_from": "leaves", "steps": steps}))
    try:
        spec = workflow_spec(graph).model_dump(by_alias=True, exclude_none=True, mode="json")
    except SpecError as err:
        assert {d.code for d in err.diagnostics} == {"E834"}
        assume(False)
    templates = {t["name"]: t for t in spec["templates"]}
    world = World()
    play({"spec": spec}, lambda task: "Failed" if call_of(task, templates)["python"].endswith(":fail")
         else "Succeeded", world=world)
    failing = {n for n, s in graph.pipeline.steps.items() if s.python.endswith(":fail")}
    expected = core_play(graph, {n: Draw(fails=1) for n in failing}).status
    assert (world.main == "Succeeded") == (expected == "succeeded")


def test_judged_by_its_leaves_a_step_skipped_after_a_failure_is_refused_for_argo():
    import yaml

    from orch.backends.argo.render import workflow_spec
    from orch.core.errors import SpecError

    steps = {"load": {"command": ["false"]},
             "note": {"command": ["true"], "after": ["load"], "trigger": "all_done", "when": "params.x == 1"}}
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "state_from": "leaves",
                                       "params": {"x": 0}, "steps": steps}))
    try:
        workflow_spec(graph)
    except SpecError as err:
        assert [d.code for d in err.diagnostics] == ["E834"] and "note" in err.diagnostics[0].message
    else:
        raise AssertionError("rendered")
