"""References in strings, and the condition language: parse, type-check, evaluate."""

import json

import pytest

from orch.core.expr import BoolOp, Compare, ExprProblem, Lit, RefNode, evaluate, parse_condition
from orch.core.expr_types import condition_problems
from orch.core.errors import SpecError
from orch.core.load import parse_spec
from orch.core.refs import Ref, RefProblem, find_refs, whole_ref


def test_references_are_found_with_their_offsets():
    text = "a ${{ params.x }} b ${{steps.load-data.outputs.rows}} {{ ds }}"
    refs = find_refs(text)
    assert [(r.kind, r.step, r.name) for r in refs] == [("param", None, "x"), ("output", "load-data", "rows")]
    assert text[refs[0].start:refs[0].end] == "${{ params.x }}"


@pytest.mark.parametrize("literal", ["{{ ds }}", "{% raw %}", "{{workflow.name}}", "$ {{x}}", "${ {x} }", "'\"\\\n", "naïve €"])
def test_everything_else_is_literal(literal):
    assert find_refs(literal) == []


def test_whole_reference_keeps_its_type():
    assert whole_ref("${{ item }}") == Ref("item", "item", None, 0, 11)
    assert whole_ref("x ${{ item }}") is None
    assert whole_ref("${{ item }}${{ item }}") is None


@pytest.mark.parametrize("text, words", [
    ("${{ params.x", "never closed"), ("${{ param.x }}", "unknown reference"), ("${{ steps.a.x }}", "unknown reference"),
    ("${{ run.user }}", "unknown reference"), ("${{ }}", "unknown reference"),
])
def test_malformed_references(text, words):
    with pytest.raises(RefProblem, match=words):
        find_refs(text)


def test_condition_tree_keeps_hyphenated_names_and_columns():
    text = "steps.load-data.outputs.rows >= 10 and params.mode != 'dry-run'"
    tree = parse_condition(text)
    assert isinstance(tree, BoolOp) and tree.op == "and"
    left, right = tree.values
    assert isinstance(left, Compare) and left.op == ">=" and left.right == Lit(10, 32)
    assert isinstance(left.left, RefNode) and left.left.ref.step == "load-data"
    assert text[right.left.offset:].startswith("params.mode")


def test_chained_comparison_is_a_conjunction():
    tree = parse_condition("1 < params.x <= 5")
    assert isinstance(tree, BoolOp) and [c.op for c in tree.values] == ["<", "<="]


@pytest.mark.parametrize("text, words", [
    ("__import__('os').system('x')", "function call"), ("params.x + 1 > 2", "arithmetic"),
    ("params.x[0] == 1", "indexing"), ("lambda: 1", "lambda"), ("foo == 1", "unknown name 'foo'"),
    ("params.x ==", "invalid condition"), ("", "non-empty"),
    ("params.x is None", "operator Is"), ("[params.x] == [1]", "only literal values"),
])
def test_outside_the_whitelist(text, words):
    with pytest.raises(ExprProblem, match=words):
        parse_condition(text)


@pytest.mark.parametrize("steps, words", [
    ({"s": {"command": ["true"], "when": "item == 1"}}, "'item' is only defined inside a fan-out"),
    ({"s": {"command": ["true"], "foreach": [1], "when": "item == 1"}}, "'item' cannot be used in a condition: it is evaluated once"),
    ({"g": {"foreach": [1], "when": "item == 1", "steps": {"s": {"command": ["true"]}}}}, "it is evaluated once"),
])
def test_item_in_a_condition_only_inside_a_fan_out(steps, words):
    with pytest.raises(SpecError, match=words):
        parse_spec(json.dumps({"apiVersion": "orch/v1", "name": "p", "steps": steps}))
    inside = {"g": {"foreach": [1, 2], "steps": {"s": {"command": ["true"], "when": "item == 1"}}}}
    assert parse_spec(json.dumps({"apiVersion": "orch/v1", "name": "p", "steps": inside})).pipeline.steps["g.s"].when


TYPES = {"n": "integer", "f": "number", "s": "string", "b": "boolean", "j": "json"}


def problems(text):
    return [str(p) for p in condition_problems(parse_condition(text), lambda ref: TYPES[ref.name])]


@pytest.mark.parametrize("text", [
    "params.n > 1.5", "params.f <= params.n", "params.s == 'x'", "params.s > 'a'", "params.b", "not params.b",
    "params.b and params.n != 3", "params.s in ['a', 'b']", "'x' in params.s", "params.j == 3", "params.s != null",
    "params.n in params.j", "true",
])
def test_sound_conditions(text):
    assert problems(text) == []


@pytest.mark.parametrize("text, words", [
    ("params.s > 3", "cannot compare a string with an integer"),
    ("params.f == 'high'", "compares a number with a string"),
    ("params.b == 1", "compares a boolean with an integer"),
    ("params.s", "must be true or false, but this is a string"),
    ("params.n and params.b", "need true or false, not an integer"),
    ("params.j > 1", "cannot order a json value"),
    ("params.n in params.f", "needs a list, json or text"),
    ("params.n in 'abc'", "needs text on the left"),
    ("params.n < null", "cannot compare with null"),
    ("'x'", "must be true or false"),
])
def test_unsound_conditions(text, words):
    found = problems(text)
    assert any(words in p for p in found), found


VALUES = {"n": 3, "f": 0.9, "s": "full", "b": True, "j": [1, 2, 3], "z": None}


def run(text):
    return evaluate(parse_condition(text), lambda ref: VALUES[ref.name])


@pytest.mark.parametrize("text, expected", [
    ("params.f > 0.85", True), ("params.f > 0.95", False), ("params.n in params.j", True),
    ("params.s == 'full' and not params.b", False), ("params.s == 'x' or params.n >= 3", True),
    ("1 < params.n <= 3", True), ("params.n in [1, 2]", False), ("params.n not in [1, 2]", True),
    ("params.z > 1", False), ("params.z == 1", False), ("params.z != 1", False),
    ("params.z == null", True), ("params.z != null", False), ("params.n != null", True), ("-1 < params.n", True),
])
def test_evaluation(text, expected):
    assert run(text) is expected
