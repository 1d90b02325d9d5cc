"""Groups on Argo (backends/argo/groups.py): each group a nested DAG template. The conformance cases of groups Argo
renders, and the example spec, pass Argo's schema and lint; played by the model of Argo with each pod run here
(fake_executor.py) and read back as `orch run -b argo` reads a run, they meet the cases' own expectations. What is not
rendered yet is refused, located (E832)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from orch.backends.argo.groups import template_name
from orch.backends.argo.render import render
from orch.core import groups, parse_spec
from orch.core.errors import SpecError

from ..conformance.test_cases import check_case, load_case
from .argo_model import item_limits
from .test_finally import cluster, without_errors  # noqa: F401 - the fixture
from .test_render import check, schema_file, validator  # noqa: F401 - the schema fixture

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "conformance" / "cases"
RENDERED = ["group-skipped", "group-fan-out", "group-item-condition", "group-item-fails", "fail-fast-per-scope"]
REFUSED = {"group-nested-fan-out": "a fan-out step inside a fan-out group cannot be rendered for Argo yet",
           "group-bad-list": "`run.failed_steps` with groups (a failed node names its local task) cannot be rendered"}


def graph_of(spec: dict):
    return parse_spec(yaml.safe_dump(spec, sort_keys=False))


@pytest.mark.parametrize("name", RENDERED)
def test_the_cases_run_on_the_model_as_on_every_backend(cluster, validator, name):
    case = load_case(CASES / f"{name}.yaml")
    check(graph_of(case["spec"]), validator)  # the schema, and Argo's other rules
    result, server, executor = cluster(case["spec"], case.get("params"))
    got = json.loads(result.to_json())
    assert list(got["steps"]) == [n for n in got["steps"]]  # groups.order, then nothing else
    check_case(without_errors(case), 0 if got["status"] == "succeeded" else 1, got)
    pipeline = graph_of(case["spec"]).pipeline
    for step, wanted in case["expect"]["steps"].items():
        if "error" not in wanted:
            continue
        if step in pipeline.groups:  # a group's error is orch's own, as the local backend's
            assert wanted["error"] in got["steps"][step]["error"]
            continue
        message = wanted["error"]  # a step's is its node's message, and the pod's log says why
        if groups.fan_out_groups(pipeline, step):  # of the first failed item, named
            index, message = message.split(": ", 1)
            assert got["steps"][step]["error"].startswith(index + ": ")
        pods = [log for pod, log in executor.logs.items() if re.sub(r"\(\d+\)", "", pod).startswith(step)]  # an item's: g(i).s
        assert any(message in log for log in pods), executor.logs


@pytest.mark.parametrize("name", REFUSED)
def test_what_is_not_rendered_yet_is_refused_where_it_is_written(name):
    case = load_case(CASES / f"{name}.yaml")
    with pytest.raises(SpecError) as raised:
        render(graph_of(case["spec"]))
    assert {d.code for d in raised.value.diagnostics} == {"E832"}
    assert REFUSED[name] in str(raised.value)


def test_a_qualified_name_and_a_users_hyphenated_name_never_meet():
    """`a.b` is `a-G-b`; no part holds a capital, so neither `a-b`, `a_b` nor `a-g-b` can be it, and the parts stay
    apart (`a.b-c` and `a-b.c`)."""
    assert template_name("a.b") == "a-G-b"
    names = ["a.b", "a-b", "a-g-b", "a.b-c", "a-b.c", "a.b.c"]
    assert len({template_name(n) for n in names}) == len(names)
    assert template_name("a_b") == template_name("a-b")  # siblings the validator refuses as one (E302)


def test_tasks_inside_a_group_are_named_locally_and_its_templates_by_qualified_name():
    spec = {"apiVersion": "orch/v1", "name": "names", "steps": {
        "a": {"steps": {"b": {"python": "m:f", "outputs": {"v": "integer"}}}, "outputs": {"v": "${{ steps.b.outputs.v }}"}},
        "a-b": {"python": "m:f", "args": {"v": "${{ steps.a.outputs.v }}"}},
        "c": {"steps": {"b": {"python": "m:f"}}}}}
    (workflow,) = [yaml.safe_load(art.text) for art in render(graph_of(spec))]
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    assert {"a", "a-G-b", "a-b", "c", "c-G-b"} <= set(templates)
    assert [t["name"] for t in templates["a"]["dag"]["tasks"]] == ["b", "Orch-verdict"]
    assert [t["template"] for t in templates["c"]["dag"]["tasks"]] == ["c-G-b", "Orch-verdict"]


def test_a_fan_out_group_over_no_list_fails_itself_and_the_run(cluster):
    """group-bad-list but its finally step (run.failed_steps is refused with groups): the loop's expansion fails, a
    Skipped node in phase Error (dag.go, executeDAGTask); orch reads the group failed, its steps upstream_failed, and
    the run failed by it."""
    case = load_case(CASES / "group-bad-list.yaml")
    spec = {k: v for k, v in case["spec"].items() if k != "finally"}
    result, _, _ = cluster(spec, None)
    got = json.loads(result.to_json())
    assert got["status"] == "failed"
    assert {n: s["status"] for n, s in got["steps"].items()} == {
        "make": "succeeded", "sweep": "failed", "sweep.one": "upstream_failed", "after-sweep": "upstream_failed"}
    assert got["steps"]["sweep"]["error"].startswith("foreach: ") and got["steps"]["sweep"]["attempts"] == 0


def test_a_fan_out_after_an_all_skipped_group_tests_it_once_in_a_gate(cluster, validator):
    """Argo tests a looped task's `when` item by item, and a loop whose items were all skipped ends Succeeded: the
    test that the group beside it did not skip every step sits in a gate before the fan-out, as a condition does."""
    spec = {"apiVersion": "orch/v1", "name": "after-skipped", "steps": {
        "quiet": {"foreach": [1, 2], "steps": {"never": {"python": "conformance_steps:ok", "when": "item > 5"}}},
        "each": {"python": "conformance_steps:echo", "foreach": [1, 2], "args": {"value": "${{ item }}"},
                 "after": ["quiet"], "outputs": {"value": "integer"}}}}
    check(graph_of(spec), validator)
    (workflow,) = [yaml.safe_load(art.text) for art in render(graph_of(spec))]
    tasks = {t["name"]: t for t in workflow["spec"]["templates"][0]["dag"]["tasks"]}
    assert "when" not in tasks["each"] and tasks["each"]["depends"] == "each-When.Succeeded"
    result, _, _ = cluster(spec, None)
    got = json.loads(result.to_json())
    assert (got["status"], got["steps"]["quiet"]["status"], got["steps"]["each"]["status"]) == ("succeeded", "skipped", "skipped")


def test_a_throttled_fan_out_group_bounds_its_items_in_a_wrapper():
    """A looped template's `parallelism` bounds the pods inside one item; the items' boundary is the DAG holding the
    loop (dag.go, executeDAGTask), so the loop runs alone in `Fan-GROUP`, which carries the bound."""
    case = load_case(CASES / "group-fan-out.yaml")
    (workflow,) = [yaml.safe_load(art.text) for art in render(graph_of(case["spec"]))]
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    assert item_limits(workflow)["body"] == 2 and templates["Fan-body"]["parallelism"] == 2
    (loop,) = templates["Fan-body"]["dag"]["tasks"]
    assert loop["template"] == "body" and loop["withParam"] == "{{inputs.parameters.Orch-items}}"
    assert [t["template"] for t in templates["Main"]["dag"]["tasks"]] == ["base", "Fan-body", "total", "Orch-verdict"]


def test_throttled_fan_out_steps_of_one_name_in_two_groups_keep_wrappers_of_their_own(cluster, validator):
    """A wrapper is named after its step's template (`Fan-a-G-x`), and its loop calls that template."""
    step = {"python": "conformance_steps:echo", "foreach": [1, 2], "parallelism": 1, "args": {"value": "${{ item }}"},
            "outputs": {"value": "integer"}}
    spec = {"apiVersion": "orch/v1", "name": "wrappers", "steps": {
        "a": {"steps": {"x": step}}, "b": {"steps": {"x": {**step, "foreach": [3]}}}}}
    check(graph_of(spec), validator)
    (workflow,) = [yaml.safe_load(art.text) for art in render(graph_of(spec))]
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    assert [t["template"] for t in templates["Fan-a-G-x"]["dag"]["tasks"]] == ["a-G-x"]
    assert item_limits(workflow) == {"x": 1}  # (by task name: both loops are `x`, each bounded by its wrapper)
    result, _, _ = cluster(spec, None)
    got = json.loads(result.to_json())
    assert got["status"] == "succeeded"
    assert [got["steps"][n]["outputs"] for n in ("a.x", "b.x")] == [{"value": [1, 2]}, {"value": [3]}]


def test_a_group_output_naming_a_fan_outs_is_refused_where_it_is_written():
    """Its readers would take the list as one value of the step's type (a group's output is its step's declaration)."""
    spec = {"apiVersion": "orch/v1", "name": "lists", "steps": {"a": {"steps": {"x": {
        "python": "m:f", "foreach": [1], "outputs": {"v": "integer"}}}, "outputs": {"v": "${{ steps.x.outputs.v }}"}}}}
    with pytest.raises(SpecError) as raised:
        render(graph_of(spec))
    assert "steps.a.outputs.v: a group output naming a fan-out's output cannot be rendered for Argo yet" in str(raised.value)


def test_each_dag_fails_fast_by_its_own_scope(cluster, validator):
    """fail_fast is per scope: each group's DAG carries its scope's `failFast` (its own, else its enclosing group's,
    else the pipeline's) and a throttled fan-out group's wrapper that of the scope around it; the model of Argo then
    stops, after a failure, only the later tasks of that failure's DAG."""
    ok, fail = {"python": "conformance_steps:ok"}, {"python": "conformance_steps:fail"}
    spec = {"apiVersion": "orch/v1", "name": "scopes", "steps": {
        "broken": {"fail_fast": True, "steps": {"breaks": fail, "after-breaks": {**ok, "after": ["breaks"], "trigger": "all_done"}}},
        "lenient": {"steps": {"inner": {"fail_fast": True, "steps": {
            "x": fail, "y": {**ok, "after": ["x"], "trigger": "all_done"}}}, "z": {**ok, "after": ["inner"], "trigger": "all_done"}}},
        "each": {"fail_fast": True, "foreach": [1, 2], "parallelism": 1, "steps": {"x": {**ok, "when": "item > 5"}}},
        "tail": {**ok, "after": ["broken"], "trigger": "all_done"}}}
    check(graph_of(spec), validator)
    (workflow,) = [yaml.safe_load(art.text) for art in render(graph_of(spec))]
    fails_fast = {t["name"]: t["dag"]["failFast"] for t in workflow["spec"]["templates"] if "dag" in t}
    assert fails_fast == {"Main": False, "broken": True, "lenient": False, "lenient-G-inner": True, "each": True,
                          "Fan-each": False}
    result, _, _ = cluster(spec, None)
    got = {name: step["status"] for name, step in json.loads(result.to_json())["steps"].items()}
    assert (got["broken.after-breaks"], got["tail"]) == ("upstream_failed", "succeeded")
    assert (got["lenient.inner.y"], got["lenient.z"]) == ("upstream_failed", "succeeded")
    spec = {**spec, "fail_fast": True, "steps": {"broken": spec["steps"]["broken"], "each": {
        **spec["steps"]["each"], "fail_fast": False}}}  # fail_fast with groups renders (E832 refused it)
    (workflow,) = [yaml.safe_load(art.text) for art in render(graph_of(spec))]
    fails_fast = {t["name"]: t["dag"]["failFast"] for t in workflow["spec"]["templates"] if "dag" in t}
    assert fails_fast == {"Main": True, "broken": True, "each": False, "Fan-each": True}
