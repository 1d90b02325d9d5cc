"""A fan-out's `parallelism` on Argo: its task alone in a wrapper DAG template `Fan-STEP` with that
`parallelism` (backends/argo/fanout.py). Valid and linted in every layout; every value from outside
passed in as an input; played by the model of Argo to the ends the trigger table gives, and to the
phases of the same pipeline without the limit; read back by the status reader as without it."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.backends.argo.depends import orch_states
from orch.backends.argo.render import VERDICT, inline_mode, render, workflow_spec
from orch.backends.argo.status import result_from_workflow
from orch.core import load_spec, parse_spec
from orch.core.names import argo_name

from ..conformance.test_random_dags import dags, oracle
from .argo_model import call_of, item_limits, play
from .fake_server import FakeArgo
from .test_fast_yaml import assert_as_hera_dumps
from .test_render import ROOT, TAG, check, lint, validator  # noqa: F401 - the schema fixture

THROTTLED = {"literal": 2, "from-param": 2, "from-output": 1, "gated": 2, "empty": 3}


def fan_outs(filler: int = 0, throttle: bool = True) -> dict:
    """Throttled fan-outs over a literal list, a json param, an upstream output, with a condition, over an
    empty list (a command's stdout output), read by one step and a condition; `filler` more steps after them."""
    steps = {
        "source": {"python": "m:source", "outputs": {"items": "json", "n": "integer"}},
        "literal": {"python": "m:each", "foreach": [1, 2, 3], "args": {"x": "${{ item }}", "n": "${{ steps.source.outputs.n }}"},
                    "outputs": {"v": "integer"}, "retries": 2},
        "from-param": {"python": "m:each", "foreach": "${{ params.grid }}", "args": {"x": "${{ item }}", "run": "${{ run.id }}"},
                       "outputs": {"v": "json"}},
        "from-output": {"python": "m:each", "foreach": "${{ steps.source.outputs.items }}", "args": {"x": "${{ item }}"},
                        "outputs": {"v": "string"}},
        "gated": {"python": "m:each", "foreach": [1, 2], "when": "steps.source.outputs.n > 1", "args": {"x": "${{ item }}"},
                  "outputs": {"v": "integer"}},
        "empty": {"command": ["echo", "${{ item }}"], "foreach": [], "outputs": {"v": {"type": "string", "from": "stdout"}}},
        "join": {"python": "m:join", "when": "1 in steps.literal.outputs.v",
                 "args": {name.replace("-", "_"): f"${{{{ steps.{name}.outputs.v }}}}" for name in THROTTLED}},
        "tidy": {"python": "m:tidy", "after": list(THROTTLED), "trigger": "all_done"},
    }
    for name, limit in THROTTLED.items() if throttle else ():
        steps[name]["parallelism"] = limit
    steps.update({f"f{i}": {"python": "m:f", **({"after": [f"f{i - 1}"]} if i else {})} for i in range(filler)})
    return {"apiVersion": "orch/v1", "name": "fan", "params": {"grid": {"type": "json", "default": [{"c": 1}, {"c": 2}]}},
            "steps": steps}


def graph_of(spec: dict):
    return parse_spec(yaml.safe_dump(spec, sort_keys=False))


def templates_of(document: dict) -> dict:
    return {t["name"]: t for t in document["spec"]["templates"]}


def test_the_sweep_runs_two_trainings_at_a_time(validator):
    (document,) = check(load_spec(ROOT / "specs" / "hyperparameter-sweep.yaml"), validator)
    templates = templates_of(document)
    train = next(t for t in templates["Main"]["dag"]["tasks"] if t["name"] == "train")
    assert train["template"] == "Fan-train" and "withParam" not in train
    wrapper = templates["Fan-train"]
    assert wrapper["parallelism"] == 2
    (inner,) = wrapper["dag"]["tasks"]
    assert (inner["name"], inner["template"], inner["withParam"]) == ("train", "train", "{{inputs.parameters.Orch-items}}")
    assert [p["name"] for p in wrapper["outputs"]["parameters"]] == ["accuracy", "model"]
    assert item_limits(document) == {"train": 2}


@pytest.mark.parametrize("filler", [0, 185, 450], ids=["own-templates", "shared-templates", "nested"])
def test_each_throttled_fan_out_is_wrapped_and_passed_every_outside_value(validator, filler):
    graph = graph_of(fan_outs(filler))
    assert inline_mode(graph) == (filler == 0)
    (document,) = check(graph, validator)
    assert item_limits(document) == THROTTLED
    templates = templates_of(document)
    for name, limit in THROTTLED.items():
        wrapper = templates[f"Fan-{name}"]
        assert wrapper["parallelism"] == limit
        inputs = {p["name"] for p in wrapper.get("inputs", {}).get("parameters", [])}
        for _, body in TAG.findall(json.dumps(wrapper)):  # a wrapper reads only its inputs, its item and its fan-out
            body = body.strip()
            assert body == "item" or body.startswith(f"tasks.{name}.outputs.") or body.split(".", 2)[2] in inputs, body
    assert len(templates) <= 200
    assert_as_hera_dumps(graph)


@pytest.mark.parametrize("filler", [185, 450], ids=["shared-templates", "nested"])
def test_a_wrappers_output_is_read_once_it_succeeded(filler):
    """A failed DAG exports nothing, and Argo requeues a task reading a missing output for ever (dag.go,
    resolveDependencyReferences): a consumer that runs anyway (`all_done`) must not wait for it."""
    (document,) = [yaml.safe_load(a.text) for a in render(graph_of(fan_outs(filler)))]
    dag = next(t for t in document["spec"]["templates"] if t["name"] in ("Main", "chunk-1") and "join" in json.dumps(t))
    (join,) = [t for t in dag["dag"]["tasks"] if t["name"] == "join"]
    refs = [p["value"] for p in join["arguments"]["parameters"] if p["name"] != "payload"]
    assert refs == [f'{{{{=(tasks["{n}"].status == "Succeeded" ? tasks["{n}"].outputs.parameters["v"] : "null")}}}}'
                    for n in THROTTLED]


def test_a_stdout_output_is_exported_by_the_wrapper_and_read_as_a_parameter():
    (document,) = [yaml.safe_load(a.text) for a in render(graph_of(fan_outs()))]
    templates = templates_of(document)
    (export,) = templates["Fan-empty"]["outputs"]["parameters"]
    # the wrapper names its fan-out's result, so Argo keeps the items' stdout (operator.go, hasOutputResultRef)
    assert export == {"name": "v", "valueFrom": {"default": "[]", "parameter": "{{tasks.empty.outputs.result}}"}}
    values = " ".join(p["value"] for t in templates["Main"]["dag"]["tasks"] for p in t.get("arguments", {}).get("parameters", []))
    assert 'tasks["empty"].outputs.parameters["v"]' in values and "empty.outputs.result" not in json.dumps(templates["Main"])


def test_wrappers_count_against_the_templates_a_workflow_holds():
    def spec(plain: int) -> dict:
        steps = {f"s{i}": {"python": "m:f"} for i in range(plain)}
        steps.update({f"fan{i}": {"python": "m:f", "foreach": [1], "parallelism": 1} for i in range(10)})
        return {"apiVersion": "orch/v1", "name": "p", "steps": steps}

    assert inline_mode(graph_of(spec(170)))  # 180 steps and 10 wrappers: 190
    assert not inline_mode(graph_of(spec(171)))
    (artifact,) = render(graph_of(spec(170)))
    assert len(yaml.safe_load(artifact.text)["spec"]["templates"]) <= 200


def test_a_split_manifest_carries_each_wrapper_with_its_chunk(validator):
    steps = {f"s{i}": {"python": "pkg.module:work", "args": {"y": "x" * 400},
                       **({"foreach": [1, 2], "parallelism": 1} if i % 50 == 0 else {})} for i in range(2500)}
    artifacts = render(graph_of({"apiVersion": "orch/v1", "name": "huge", "steps": steps}))
    assert len(artifacts) > 1
    for artifact in artifacts:
        document = yaml.safe_load(artifact.text)
        assert not list(validator.iter_errors(document)) and lint(document) == []
    limits = {name: limit for a in artifacts[1:] for name, limit in item_limits(yaml.safe_load(a.text)).items()}
    assert limits == {f"s{i}": 1 for i in range(0, 2500, 50)}


def outcome_of(templates: dict):
    def runs(task: dict) -> str:
        if task["template"] == VERDICT:
            return "Failed"  # the nested layout's verdict is a pod that fails
        if "Orch" in task["template"]:
            return "Succeeded"
        return "Failed" if call_of(task, templates)["python"].endswith(":fail") else "Succeeded"
    return runs


def played(steps: dict, chunk_size: int) -> dict[str, str]:
    graph = graph_of({"apiVersion": "orch/v1", "name": "p", "steps": steps})
    spec = workflow_spec(graph, chunk_size=chunk_size).model_dump(by_alias=True, exclude_none=True, mode="json")
    phases = play({"spec": spec}, outcome_of({t["name"]: t for t in spec["templates"]}))
    return {name: phases[argo_name(name)] for name in steps}


def read_back(steps: dict, chunk_size: int) -> dict[str, str]:
    """Each step's state as `run` reads it: the Workflow played by the model, its nodes read by status.py."""
    graph = graph_of({"apiVersion": "orch/v1", "name": "p", "steps": steps})
    spec = workflow_spec(graph, chunk_size=chunk_size).model_dump(by_alias=True, exclude_none=True, mode="json")
    workflow = {"metadata": {"name": "p-x"}, "spec": spec}

    def outcome(name: str, task: dict) -> dict:
        if task["template"] == VERDICT:
            return {"phase": "Failed"}
        failed = "call" in task and task["call"]["python"].endswith(":fail")
        return {"phase": "Failed" if failed else "Succeeded"}

    workflow["status"] = FakeArgo(outcome).status(workflow, done=True)
    return {name: step.status for name, step in result_from_workflow(graph, workflow, {}).steps.items()}


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(dags(), st.sampled_from([2, 3, 200]), st.data())
def test_fan_outs_play_out_as_the_trigger_table_says(steps, chunk_size, data):
    """Random DAGs, some steps fan-outs (throttled or not), one DAG or nested: each ends as the oracle says,
    played by the model of Argo and read back by the status reader; in one DAG a wrapper ends as the
    fan-out's own task does without the limit."""
    throttled = {}
    for name, step in steps.items():
        kind = data.draw(st.sampled_from(["step", "fan-out", "throttled"]), label=f"{name} is a")
        if kind != "step":
            step.update(foreach=[1, 2])
        if kind == "throttled":
            throttled[name] = data.draw(st.sampled_from([1, 2]), label=f"{name} parallelism")
            step.update(parallelism=throttled[name])
    graph = graph_of({"apiVersion": "orch/v1", "name": "p", "steps": steps})
    expected = oracle(steps)
    assert orch_states(graph, played(steps, chunk_size)) == expected
    assert read_back(steps, chunk_size) == expected
    spec = workflow_spec(graph, chunk_size=chunk_size).model_dump(by_alias=True, exclude_none=True, mode="json")
    fanned = [name for name, step in steps.items() if "foreach" in step]
    assert item_limits({"spec": spec}) == {argo_name(name): throttled.get(name) for name in fanned}
    assert lint({"kind": "Workflow", "spec": spec}) == []
    if chunk_size == 200:
        plain = {name: {k: v for k, v in step.items() if k != "parallelism"} for name, step in steps.items()}
        assert played(steps, chunk_size) == played(plain, chunk_size)


def test_a_fan_out_skipped_by_a_trigger_read_across_chunks_is_skipped():
    """The nested layout tests a trigger that reads another chunk in the task's `when`. A fan-out's goes to a
    gate: on its own task Argo would test it per item, and a group of skipped items ends Succeeded (dag.go,
    executeDAGTask) -- read back as a success, and its dependents would run."""
    steps = {"s0": {"python": "m:ok", "when": "1 == 2"}, "s1": {"python": "m:ok"},
             "s3": {"python": "m:ok", "after": ["s0"], "foreach": [1, 2]}, "s5": {"python": "m:ok", "after": ["s1", "s3"]}}
    expected = {"s0": "skipped", "s1": "succeeded", "s3": "skipped", "s5": "skipped"}
    assert oracle(steps) == expected
    graph = graph_of({"apiVersion": "orch/v1", "name": "p", "steps": steps})
    assert orch_states(graph, played(steps, 2)) == expected
    assert read_back(steps, 2) == expected
    spec = workflow_spec(graph, chunk_size=2).model_dump(by_alias=True, exclude_none=True, mode="json")
    (chunk,) = [t for t in spec["templates"] if "s3" in [task["name"] for task in t.get("dag", {}).get("tasks", [])]]
    gate, fan_out, done = chunk["dag"]["tasks"]
    assert (gate["name"], gate["template"], gate["when"]) == ("s3-When", "Orch-gate", '{{= (inputs.parameters["s0___status"] == "Succeeded") }}')
    assert (fan_out["depends"], "when" in fan_out) == ("s3-When.Succeeded", False)
    assert (done["name"], done["template"]) == ("Orch-chunk-done", "Orch-done")


@pytest.mark.parametrize("filler", [0, 185, 450], ids=["own-templates", "shared-templates", "nested"])
def test_a_throttled_pipeline_plays_as_it_does_without_its_limits(filler):
    """Each task ends as without the limits, but a wrapper of an empty list, which succeeds."""
    def runs(task: dict) -> str:
        if task["template"] == VERDICT:
            return "Failed"  # the nested layout's verdict is a pod that fails
        return {"from-param": "Failed", "empty": "Skipped"}.get(task["name"], "Succeeded")

    def phases(throttle: bool) -> dict[str, str]:
        spec = fan_outs(filler, throttle)
        for step in spec["steps"].values():  # conditions the model can read
            step.update({"when": "1 == 1"} if "when" in step else {})
        document = {"spec": workflow_spec(graph_of(spec)).model_dump(by_alias=True, exclude_none=True, mode="json")}
        return play(document, runs)

    throttled, plain = phases(True), phases(False)
    assert (plain.pop("empty"), throttled.pop("empty")) == ("Skipped", "Succeeded")
    assert throttled == plain
    assert (plain["from-param"], plain["literal"], plain["join"], plain["tidy"]) == ("Failed", "Succeeded", "Omitted", "Succeeded")


# -- reading a run back -------------------------------------------------------------------------

SWEEP = """
apiVersion: orch/v1
name: p
steps:
  train:
    python: m:train
    foreach: [a, b, c]
    parallelism: 2
    retries: 1
    outputs: {acc: number}
  select:
    python: m:select
    args: {accs: "${{ steps.train.outputs.acc }}"}
"""


def workflow(items: list[str] | None, wrapped: bool) -> dict:
    """Argo's nodes for SWEEP: `items` are the phases of train's items ([] an empty list, None: train omitted);
    wrapped, train's task group sits in its wrapper's DAG node, whose boundary is the main DAG."""
    main = {"id": "w", "type": "DAG", "templateName": "Main", "phase": "Succeeded", "displayName": "w"}
    nodes = [main]
    boundary = "w"
    phase = "Skipped" if items == [] else ("Failed" if "Failed" in (items or []) else "Succeeded")
    if wrapped:
        wrapper = {"id": "w-1", "displayName": "train", "boundaryID": "w", "templateName": "Fan-train",
                   "type": "DAG" if items is not None else "Skipped",
                   "phase": "Omitted" if items is None else "Failed" if phase == "Failed" else "Succeeded"}
        if wrapper["phase"] == "Succeeded" and items:  # what it exports, which the reader does not need
            wrapper["outputs"] = {"parameters": [{"name": "acc", "value": json.dumps(["0.5", "0.6", "0.7"])}]}
        nodes.append(wrapper)
        boundary = "w-1"
    if items == [] or (items is None and not wrapped):
        nodes.append({"id": "w-2", "displayName": "train", "boundaryID": boundary, "templateName": "train", "type": "Skipped",
                      "phase": "Skipped" if items == [] else "Omitted"})
    elif items is not None:
        children = [f"w-2-{i}" for i in range(len(items))]
        nodes.append({"id": "w-2", "displayName": "train", "boundaryID": boundary, "templateName": "train", "type": "TaskGroup",
                      "phase": phase, "children": children, "startedAt": "2026-11-24T10:00:01Z"})
        for i, (child, item_phase) in enumerate(zip(children, items)):
            retry = {"id": child, "displayName": f"train({i}:{'abc'[i]})", "boundaryID": boundary, "type": "Retry",
                     "phase": item_phase, "children": [f"{child}-0", f"{child}-1"] if item_phase == "Failed" else [f"{child}-0"]}
            if item_phase == "Succeeded":
                retry["outputs"] = {"parameters": [{"name": "acc", "value": f"0.{i + 5}"}]}
            else:
                retry["message"] = "Error (exit code 1)"
            nodes.append(retry)
    select = {"id": "w-3", "displayName": "select", "boundaryID": "w", "templateName": "select",
              "type": "Pod" if phase != "Failed" and items is not None else "Skipped",
              "phase": "Succeeded" if phase != "Failed" and items is not None else "Omitted"}
    nodes.append(select)
    return {"metadata": {"name": "p-x"}, "spec": {"templates": [{"name": "Main"}, {"name": "train"}, {"name": "select"}]},
            "status": {"phase": "Failed" if phase == "Failed" else "Succeeded", "nodes": {n["id"]: n for n in nodes}}}


@pytest.mark.parametrize("items", [["Succeeded"] * 3, ["Succeeded", "Failed", "Succeeded"], [], None],
                         ids=["succeeded", "an-item-failed", "empty", "omitted"])
def test_a_wrapped_fan_out_reads_back_as_it_would_unwrapped(items):
    graph = parse_spec(SWEEP)
    wrapped = result_from_workflow(graph, workflow(items, wrapped=True), {})
    assert wrapped == result_from_workflow(graph, workflow(items, wrapped=False), {})
    train = wrapped.steps["train"]
    if items == ["Succeeded"] * 3:
        assert (train.status, train.outputs, train.attempts) == ("succeeded", {"acc": [0.5, 0.6, 0.7]}, 1)
    elif items == []:
        assert (train.status, train.outputs, wrapped.steps["select"].status) == ("succeeded", {"acc": []}, "succeeded")
    elif items:
        assert (train.status, train.error, train.attempts) == ("failed", "item 1: Error (exit code 1)", 2)
    else:
        assert train.status == wrapped.steps["select"].status == "skipped"


def test_a_wrapper_skipped_by_its_when_is_skipped_not_an_empty_fan_out():
    """orch gates every fan-out with a `when` (its wrapper's task included), so a wrapper is never skipped; one
    that was (a manifest rendered before) still reads as skipped."""
    document = workflow(None, wrapped=True)
    document["status"]["nodes"]["w-1"]["phase"] = "Skipped"
    result = result_from_workflow(parse_spec(SWEEP), document, {})
    assert result.steps["train"].status == "skipped" and result.steps["train"].outputs == {}


def test_a_running_wrapper_reads_as_running():
    document = workflow(["Succeeded"] * 3, wrapped=True)
    nodes = document["status"]["nodes"]
    for node_id in [i for i in nodes if i.startswith("w-2") or i == "w-3"]:
        del nodes[node_id]
    nodes["w-1"]["phase"] = "Running"
    document["status"] = {"phase": "Running", "nodes": nodes}
    result = result_from_workflow(parse_spec(SWEEP), document, {})
    assert result.steps["train"].status == "running" and result.status == "running"

