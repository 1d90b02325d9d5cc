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
    # A timestamp is its text as written, as Go and Kubernetes YAML read it (docs/limits.md).
    data, _ = load_yaml("yes: on\n1: 2\nx: 1.5\nn: null\nd: 2024-01-02\nt: 2024-01-02 10:00:00+01:00\n")
    assert data == {"yes": True, "1": 2, "x": 1.5, "n": None, "d": "2024-01-02", "t": "2024-01-02 10:00:00+01:00"}


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


@pytest.mark.parametrize("text", [
    "a: yes\nb: '1'\nc: 1.5\nd: ~\ne: &x [1, {k: v}]\nf: *x\ng: 2024-01-02\nh: !!str 5\ni: 0o17\nj: 0777\nk: 1:30\n",
    "a: |\n  line\n  two\nb: >-\n  folded\n  text\nc: \"\\u00e9\\n\"\nd: ''\ne: \nf: -.5\ng: +1\nh: !!timestamp 2001-12-14\n",
    "- 1\n- [a, b]\n- {x: null, y: true, z: Off}\n",
    "plain text",
    "---\na: 1\n...\n",
])
def test_fast_and_careful_paths_read_alike(text):
    from orch.core.yaml_fast import read_fast
    from orch.core.yaml_source import Source, _read_carefully

    fast = read_fast(text)
    careful = _read_carefully(Source("f.yaml", text))
    assert fast == careful


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "a: !!binary aGk=\n", "x: &b {c: 1}\ny:\n  <<: *b\n", "a: 1\n---\nb: 2\n", "# empty\n", "a: [1,\n"])
def test_the_fast_path_hands_over_what_it_does_not_handle(text):
    from orch.core.yaml_fast import Unusual, read_fast

    with pytest.raises(Unusual):
        read_fast(text)
