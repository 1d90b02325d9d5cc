"""Groups on Argo (backends/argo/groups.py): each group a nested DAG template. The conformance cases of groups Argo
renders, and the example spec, pass Argo's schema and lint; played by the model of Argo with each pod run here
(fake_executor.py) and read back as `orch run -b argo` reads a run, they meet the cases' own expectations. What is not
rendered yet is refused, located (E832)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orch.backends.argo.groups import template_name
from orch.backends.argo.render import render
from orch.core import parse_spec
from orch.core.errors import SpecError

from ..conformance.test_cases import check_case, load_case
from .test_finally import cluster, without_errors  # noqa: F401 - the fixture
from .test_render import check, schema_file, validator  # noqa: F401 - the schema fixture

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "conformance" / "cases"
RENDERED = ["group-skipped"]
REFUSED = ["group-fan-out", "group-item-condition", "group-item-fails", "group-nested-fan-out"]


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
    for step, wanted in case["expect"]["steps"].items():
        if "error" in wanted and step not in graph_of(case["spec"]).pipeline.groups:
            assert any(wanted["error"] in log for pod, log in executor.logs.items() if pod.startswith(step)), executor.logs
        elif "error" in wanted:  # a group's error is orch's own, as the local backend's
            assert wanted["error"] in got["steps"][step]["error"]


@pytest.mark.parametrize("name", REFUSED)
def test_fan_out_groups_are_refused_where_they_are_written(name):
    case = load_case(CASES / f"{name}.yaml")
    with pytest.raises(SpecError) as raised:
        render(graph_of(case["spec"]))
    assert {d.code for d in raised.value.diagnostics} == {"E832"}
    assert "a fan-out group cannot be rendered for Argo yet" in str(raised.value)


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
