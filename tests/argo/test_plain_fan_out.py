"""A command fan-out over a list written in the spec is a plain container too: each item's text (as every
backend hands it to a command) travels base64 in `withParam`, so after Argo's passes and Kubernetes'
expansion the pod's argv holds it byte for byte; a list known only at run time keeps orch's runner (W861)."""

from __future__ import annotations

import json

import yaml

from orch.backends.capabilities import check as capabilities
from orch.core import parse_spec
from orch.core.typed import to_text

from .test_plain_containers import HOSTILE, document_of, pod_argv
from .test_render import validator  # noqa: F401 (a fixture)

ITEMS = HOSTILE + [3, 1.5, -0.0, 1e21, True, None, {"k": [1, "x {{ y }}"], "ü": "$(A)"}, [], ""]


def spec(foreach) -> dict:
    return {"apiVersion": "orch/v1", "name": "p", "params": {"xs": {"type": "json", "default": ["a"]}}, "steps": {
        "greet": {"command": ["printf", "<%s>", "${{ item }}", "i=${{ item }}!"], "image": "busybox:1.36",
                  "env": {"ITEM": "${{ item }}"}, "foreach": foreach, "outputs": {"said": "string"}},
        "after": {"python": "pkg.m:f", "args": {"said": "${{ steps.greet.outputs.said }}"}}}}


def test_each_literal_item_reaches_its_pod_byte_for_byte(validator):
    document = document_of(spec(ITEMS), validator)
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    template = templates["greet"]
    assert template["container"]["command"] == ["printf"] and template["container"]["image"] == "busybox:1.36"
    task = next(t for t in templates["Main"]["dag"]["tasks"] if t["name"] == "greet")
    assert task["arguments"]["parameters"] == [{"name": "item", "value": "{{item}}"}]
    values = json.loads(task["withParam"])
    assert len(values) == len(ITEMS)
    for item, value in zip(ITEMS, values):  # Argo puts each withParam string where `{{item}}` is
        text = to_text(item)
        assert pod_argv(template, {"item": value}, {}) == ["printf", "<%s>", text, f"i={text}!"]
    assert {"name": "ORCH_OUTPUTS", "value": "/tmp/orch/outputs"} in template["container"]["env"]
    assert not capabilities(parse_spec(yaml.safe_dump(spec(ITEMS))), "argo").approximated


def test_a_list_known_at_run_time_keeps_the_runner_and_says_so():
    graph = parse_spec(yaml.safe_dump(spec("${{ params.xs }}")))
    (warning,) = capabilities(graph, "argo").approximated
    assert warning.code == "W861" and warning.field == "steps.greet.foreach" and "python3" in warning.message


def test_a_literal_list_holding_a_reference_keeps_the_runner_too():
    graph = parse_spec(yaml.safe_dump(spec(["a", "${{ params.xs }}"])))
    assert [d.code for d in capabilities(graph, "argo").approximated] == ["W861"]
