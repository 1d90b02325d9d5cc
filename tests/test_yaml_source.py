"""YAML reading: positions for every node, strictness about what YAML lets slide."""

import pytest

from orch.core.errors import SpecError
from orch.core.yaml_source import load_yaml


def test_positions_of_nested_nodes():
    text = "a:\n  b: [x, {c: 'yy'}]\n"
    data, source = load_yaml(text, "f.yaml")
    assert data == {"a": {"b": ["x", {"c": "yy"}]}}
    d = source.diagnostic("E0", "m", ("a", "b", 1, "c"))
    assert (d.line, d.col) == (2, 14)
    assert source.diagnostic("E0", "m", ("a", "b", 1, "c"), at_key=True).col == 11
    assert source.diagnostic("E0", "m", ("a", "b", 1, "c"), offset=1).col == 16  # inside the quotes
    assert source.diagnostic("E0", "m", ("a", "missing", "deeper")).line == 2  # the deepest node that exists


def test_keys_are_text_and_values_typed():
    data, _ = load_yaml("yes: on\n1: 2\nx: 1.5\nn: null\nd: 2024-01-02\n")
    assert data == {"yes": True, "1": 2, "x": 1.5, "n": None, "d": __import__("datetime").date(2024, 1, 2)}


def test_anchors_and_merge_keys():
    data, _ = load_yaml("base: &b {cpu: 1, memory: 1Gi}\nstep:\n  <<: *b\n  cpu: 2\n")
    assert data["step"] == {"cpu": 2, "memory": "1Gi"}
    with pytest.raises(SpecError, match="duplicate key 'cpu'"):
        load_yaml("base: &b {cpu: 1}\nstep:\n  <<: *b\n  cpu: 2\n  cpu: 3\n")


@pytest.mark.parametrize("text, code", [
    ("a: 1\na: 2\n", "E105"), ("a: !!binary aGk=\n", "E103"), ("? [a, b]\n: 1\n", "E104"),
    ("a: [1,\n", "E101"), ("", "E102"), ("a: 1\n---\nb: 2\n", "E101"),
])
def test_strictness(text, code):
    with pytest.raises(SpecError) as error:
        load_yaml(text, "f.yaml")
    assert [d.code for d in error.value.diagnostics] == [code]
    assert error.value.diagnostics[0].line is not None
