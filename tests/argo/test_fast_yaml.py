"""The render's two fast paths against what they replaced: the YAML writer (backends/argo/yaml_text.py)
against PyYAML's C dumper -- the same bytes for every document, hostile strings included, and text
that reads back as the document -- and the manifest data (manifest.py) against hera's models, key
for key and in hera's order."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.backends.argo import render as rendering
from orch.backends.argo import yaml_text
from orch.backends.argo.render import render
from orch.backends.argo.script import bootstrap_source
from orch.backends.argo.yaml_text import _Unsupported, _Writer, flowed, reference, to_yaml
from orch.core import SpecError, load_spec, parse_spec

from ..conformance.test_cases import load_case
from ..test_generated_specs import valid_specs
from .test_render import ARGO_CASES

ROOT = Path(__file__).resolve().parents[2]

HOSTILE = ["", " ", "yes", "no", "Yes", "NO", "on", "Off", "y", "n", "true", "False", "null", "Null", "~", "=", "<<",
           "1", "-1", "+1", "1.5", "-.5", "1e3", "1_000", "0x1F", "0o17", "017", ".inf", "-.Inf", ".nan", "1:30", "12:30:45",
           "2024-01-02", "2024-01-02 10:00:00", "---", "...", "--- x", "... x", "-", "- x", "-x", "?", "? x", "?x", ":", ": x",
           ":x", "x:", "x: y", "x:y", "x :y", "#", "# x", "x #y", "x#y", "a,b", "[x]", "{x}", "{{ ds }}", "{{=x}}", "}}",
           "&a", "*a", "!a", "!!str", "|", ">", "'", "''", '"', "%x", "@x", "`x`", "a'b", 'a"b', "a\\b", "\\", "x ", " x",
           "a  b", "\t", "a\tb", "\n", "a\nb", "a\n", "\nb", "a \nb", "a\n b", "\r", "\r\n", "\x85", "\u2028", "\u2029",
           "\ufeff", "\x00", "\x07", "\x7f", "é", "ünïcødé ✓", "\U0001f600", "\xa0", "a" * 129, "python:3.12-slim", "-c",
           "/tmp/orch/outputs/out", "s1.Succeeded && s2.Failed", "(a || b)", "tasks[\"s\"].status", "nvidia.com/gpu"]
PIECES = st.sampled_from(HOSTILE) | st.characters(codec="utf-8") | st.sampled_from(list("-?:,[]{}#&*!|>'\"%@` .~=<+0123456789aeflnoruxy\t\n"))
TEXT = st.lists(PIECES, max_size=6).map("".join) | st.sampled_from(HOSTILE)
NUMBER = st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.booleans() | st.none()
KEY = st.sampled_from(["name", "value", "template", "depends", "when", "arguments", "inputs", "dag", "container",
                       "orch/runner", "default"]) | TEXT
DOCUMENT = st.dictionaries(KEY, st.recursive(TEXT | NUMBER, lambda inner: st.lists(inner, max_size=4)
                                             | st.dictionaries(KEY, inner, max_size=4), max_leaves=24), max_size=5)
PLAIN = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=12) | st.sampled_from(
    [text for text in HOSTILE if text.isascii() and text.isprintable()])
NAME = PLAIN.filter(lambda text: text.strip() == text != "")  # keys as the manifests have them
ORDINARY = st.dictionaries(NAME, st.recursive(PLAIN | st.integers() | st.booleans(), lambda inner: st.lists(inner, max_size=4)
                                              | st.dictionaries(NAME, inner, min_size=1, max_size=4), max_leaves=24), max_size=5)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(DOCUMENT)
def test_the_writer_writes_what_pyyaml_writes(document):
    expected = reference(flowed(document))
    assert to_yaml(document) == expected
    assert yaml.safe_load(to_yaml(document)) == yaml.safe_load(expected)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(DOCUMENT)
def test_what_it_writes_reads_back_as_the_document(document):
    if "orch/runner" in str(document):  # written as str whatever it was
        return
    assert yaml.safe_load(to_yaml(document)) == document


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(ORDINARY)
def test_ordinary_documents_are_written_without_pyyaml(document):
    """Printable ASCII on one line, in the shapes the manifests have, never falls back to PyYAML."""
    if any(type(v) is list and v and any(type(i) is list and i for i in v) for v in _values(flowed(document))):
        return  # a list in a list: left to PyYAML
    if any(type(k) is str and len(k) > 128 for k in _keys(document)):
        return
    tree = flowed(document)
    try:
        text = _Writer().document(tree)
    except _Unsupported:  # pragma: no cover - the failure this test is for
        pytest.fail("fell back to PyYAML")
    assert text == reference(tree)


@pytest.mark.parametrize("text", HOSTILE)
def test_each_hostile_string_as_value_key_and_list_item(text):
    for document in ({"k": text}, {text: "v"} if text else {"k": 1}, {"k": [text, "x"]}, {"k": [text] + ["y" * 60] * 2},
                     {"k": {"name": text, "value": 1}}, {"t": [{"name": text, "value": "v" * 120}]}):
        assert to_yaml(document) == reference(flowed(document)), document


def test_the_runner_line_and_layout_quirks():
    runner = "import sys\nprint('a: {b}', \"q\")\n\tx = '\\\\'\n"
    for document in ({"metadata": {"annotations": {"orch/runner": runner}}}, {}, {"a": {}}, {"a": []}, {"a": [[1, 2], [3]]},
                     {"a": [{}, [], None, 1.5, -0.0, 1e300, float("inf")]}, {"k" * 129: 1}, {1: 2}, {"a": {"b": {"c": [1]}}}):
        assert to_yaml(document) == reference(flowed(document)), document


def test_a_large_manifest_is_written_without_pyyaml(monkeypatch):
    """The fast path is the one taken: only the runner's one line is asked of PyYAML."""
    asked = []
    original = yaml_text.reference
    monkeypatch.setattr(yaml_text, "reference", lambda tree: asked.append(tree) or original(tree))
    steps = {f"s{i}": {"python": "pkg.module:work", "outputs": {"n": "integer"}, "when": f"steps.s{i - 1}.outputs.n > 0",
                       "args": {"x": f"${{{{ steps.s{i - 1}.outputs.n }}}}", "y": "it's: #1"}} if i else {"python": "pkg.module:work",
                                                                                              "outputs": {"n": "integer"}}
             for i in range(400)}
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "big", "steps": steps}, sort_keys=False))
    (artifact,) = render(graph)
    assert asked == [{"x": bootstrap_source()}]  # the runner's one double-quoted line
    monkeypatch.setattr(yaml_text, "reference", original)
    assert yaml.safe_load(artifact.text)["kind"] == "Workflow"


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_examples_are_written_as_pyyaml_writes_them(spec, monkeypatch):
    fast = [a.text for a in render(load_spec(spec))]
    monkeypatch.setattr(rendering, "to_yaml", lambda document: reference(flowed(document)))
    assert fast == [a.text for a in render(load_spec(spec))]


# -- the manifest data against hera's models ---------------------------------------------------

def dumped(model_class, data: dict):
    from hera.workflows import models as m

    return getattr(m, model_class).model_validate(data).model_dump(by_alias=True, exclude_none=True, mode="json")


def ordered(value):
    """The value with every mapping's order and every scalar's type made part of it."""
    if isinstance(value, dict):
        return [(key, ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [ordered(item) for item in value]
    return type(value).__name__, value


def assert_as_hera_dumps(graph, chunk_size=rendering.MAX_TASKS):
    spec = rendering.spec_data(graph, chunk_size)
    assert ordered(dumped("WorkflowSpec", spec)) == ordered(spec)
    for kind, model in (("workflow", "Workflow"), ("template", "WorkflowTemplate"), ("cron", "CronWorkflow")):
        if kind != "cron" or graph.pipeline.schedule:
            document = rendering._document(graph, spec, kind)
            assert ordered(dumped(model, document)) == ordered(document)
    if rendering._is_nested(spec):
        split, chunks = rendering._split(graph.pipeline.name, spec)
        assert ordered(dumped("WorkflowSpec", split)) == ordered(split)
        for chunk in chunks:
            assert ordered(dumped("WorkflowTemplate", chunk)) == ordered(chunk)


@pytest.mark.parametrize("spec", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize("chunk_size", [3, rendering.MAX_TASKS])
def test_the_examples_manifests_are_what_heras_models_dump(spec, chunk_size):
    graph = load_spec(spec)
    if chunk_size < len(graph.pipeline.steps) + 1 and graph.pipeline.fail_fast:
        return  # refused nested (E811)
    assert_as_hera_dumps(graph, chunk_size)


@pytest.mark.parametrize("path", ARGO_CASES, ids=lambda p: p.stem)
def test_the_conformance_cases_manifests_are_what_heras_models_dump(path):
    graph = parse_spec(yaml.safe_dump(load_case(path)["spec"]), str(path))
    for chunk_size in (3, rendering.MAX_TASKS):
        try:
            assert_as_hera_dumps(graph, chunk_size)
        except SpecError:  # what Argo cannot express (test_render.py)
            pass


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_specs(), st.sampled_from([3, 200]))
def test_generated_manifests_are_what_heras_models_dump(case, chunk_size):
    assert_as_hera_dumps(parse_spec(yaml.safe_dump(case[0], allow_unicode=True)), chunk_size)


def test_a_shared_and_split_manifest_is_what_heras_models_dump():
    steps = {f"s{i}": {"python": "pkg.module:work", "outputs": {"n": "integer"}, "retries": {"limit": 2, "delay": "5s", "factor": 2},
                       "timeout": "10m", "resources": {"cpu": 1, "memory": "1Gi", "gpu": 1},
                       "kubernetes": {"node_selector": {"pool": "gpu"}, "service_account": "sa",
                                      "tolerations": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
                       **({"args": {"x": f"${{{{ steps.s{i - 1}.outputs.n }}}}", "y": "x" * 200}} if i % 10 else {}),
                       **({"when": f"steps.s{i - 1}.outputs.n > 0"} if i % 10 in (2, 3) else {}),
                       **({"foreach": [1, 2], "when": "params.p == 'go'"} if i % 10 == 5 else {})}
             for i in range(2500)}
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "huge", "params": {"p": {"type": "string", "default": "go"}},
                                       "labels": {"team": "ml"}, "schedule": "0 2 * * *", "steps": steps}, sort_keys=False))
    assert_as_hera_dumps(graph)


def _values(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield value
            yield from _values(value)
    elif isinstance(tree, list):
        for value in tree:
            yield value
            yield from _values(value)


def _keys(tree):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield key
            yield from _keys(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _keys(value)
