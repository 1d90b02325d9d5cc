"""The hostile property: a spec with names, strings, numbers and nesting at (and past) the limits is
either refused by `validate` with every problem located, or every renderer writes files that parse,
and every backend's run of it agrees with the local backend's, value for value.

Rendering is checked over many generated specs; runs, being seconds each, over a few.
"""

from __future__ import annotations

import ast
import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.backends.airflow.render import dag_source
from orch.backends.argo.render import render as render_argo
from orch.backends.prefect.render import module_source
from orch.cli.main import main
from orch.core.errors import SpecError
from orch.core.load import parse_spec

from .argo.test_render import lint, schema_file


def _argo_validator():
    import jsonschema

    schema = json.loads(schema_file().read_text())
    schema["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
    return jsonschema.Draft7Validator(schema)


ARGO = _argo_validator()

CHARS = st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(
    ["\x00", "\r", "\r\n", "\n", "\t", "{{", "}}", "{{ ds }}", "{{workflow.name}}", "{{=", "{%", "$HOME", "${{", "'", '"',
     "\\", "\u2028", "\U0001f600", "\ud800"])
TEXT = st.lists(CHARS, max_size=12).map("".join)
NUMBER = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True), st.just(-0.0))
NAME = st.one_of(st.from_regex(r"[a-z][a-z0-9_-]{0,61}[a-z0-9]", fullmatch=True),
                 st.sampled_from(["stop", "self", "if", "model-config", "a" * 63, "a" * 64, "Bad", "x_", "a-_b"]))
LEAF = st.one_of(TEXT, NUMBER, st.booleans(), st.none())


def nested(depth: int):
    return st.recursive(LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                        max_leaves=depth)


def deep_list(depth: int):
    value: object = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def hostile_specs(draw) -> dict:
    steps = {}
    for name in draw(st.lists(NAME, min_size=1, max_size=4, unique=True)):
        if draw(st.booleans()):
            step = {"python": "hostile_steps:echo", "args": {"value": draw(st.one_of(nested(12), st.builds(deep_list, st.integers(0, 80))))},
                    "outputs": {"value": "json"}}
        else:
            step = {"command": ["printf", "%s", draw(TEXT)], "outputs": {}}
        if draw(st.integers(0, 4)) == 0:
            step["when"] = " ".join(["not"] * draw(st.integers(0, 60))) + " true"
        if draw(st.integers(0, 4)) == 0:
            step["timeout"] = draw(st.one_of(NUMBER, st.just("0s")))
        if draw(st.integers(0, 4)) == 0:
            step["retries"] = {"limit": draw(st.integers(0, 10**7))}
        if draw(st.integers(0, 5)) == 0:
            step["image"] = draw(st.one_of(TEXT, st.just("alpine:{{ ds }}")))
        steps[name] = step
    return {"apiVersion": "orch/v1", "name": draw(NAME), "description": draw(TEXT),
            "params": {draw(NAME): {"type": "json", "default": draw(nested(6))}}, "steps": steps}


def as_yaml(spec: dict) -> str:
    """The spec as a user would write it: every character escaped where YAML needs it."""
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=False, width=1 << 20)


def renders(text: str):
    """Every artifact of every backend for a spec that validates; SpecError (located) if refused."""
    graph = parse_spec(text, "hostile.yaml")
    ast.parse(module_source(graph))
    ast.parse(dag_source(graph))
    try:
        ast.parse(dag_source(graph, "kubernetes"))
    except SpecError as refused:  # a fan-out with an image is refused on that target, located
        assert all(d.line for d in refused.diagnostics), str(refused)
    for artifact in render_argo(graph):
        document = yaml.safe_load(artifact.text)
        assert not list(ARGO.iter_errors(document)) and not lint(document), artifact.path
    return graph


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_specs())
def test_a_hostile_spec_is_refused_located_or_renders_everywhere(spec):
    text = as_yaml(spec)
    try:
        renders(text)
    except SpecError as refused:
        assert refused.diagnostics
        for diagnostic in refused.diagnostics:
            assert diagnostic.line and diagnostic.col, diagnostic.render()
            assert len(diagnostic.render()) < 2_000


STEPS = '''
def echo(value):
    return value
'''

AGREEING = [  # pipelines at the edges of what validates; every backend's run must equal local's
    {"apiVersion": "orch/v1", "name": "edges", "params": {"p": {"type": "json", "default": {"k": ["\r", "\r\n", 0.5]}}},
     "steps": {
         "text": {"python": "hostile_steps:echo", "outputs": {"value": "json"},
                  "args": {"value": ["a\rb", "{{ ds }}", "{{workflow.name}}", "{% raw %}", "\u2028\U0001f600", "${{ params.p }}",
                                     2**63 - 1, -2**63, 1e308, -0.0, deep_list(40)]}},
         "shell": {"command": ["sh", "-c", 'printf "a\\r\\nb\\r" > "$ORCH_OUTPUTS/v"; printf "%s" "$1" > "$ORCH_OUTPUTS/w"',
                               "sh", "{{ ds }}\r\U0001f600"],
                   "outputs": {"v": "string", "w": "string"}},
         "reader": {"python": "hostile_steps:echo", "outputs": {"value": "json"},
                    "args": {"value": ["${{ steps.shell.outputs.v }}", "${{ steps.text.outputs.value }}"]},
                    "when": " ".join(["not"] * 31) + " false"},
     }},
]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["prefect", "airflow"])
@pytest.mark.parametrize("spec", AGREEING, ids=[s["name"] for s in AGREEING])
def test_runs_at_the_edges_agree_with_local(spec, backend, tmp_path, monkeypatch, capsysbinary, request):
    if backend == "prefect":
        request.getfixturevalue("prefect_api")
    (tmp_path / "hostile_steps.py").write_text(STEPS)
    path = tmp_path / "edges.yaml"
    path.write_text(as_yaml(spec), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    results = {}
    for name in ("local", backend):
        monkeypatch.setenv("ORCH_HOME", str(tmp_path / f".orch-{name}"))
        with pytest.raises(SystemExit) as exit_info:
            main(["run", str(path), "-b", name, "--json"])
        results[name] = (exit_info.value.code, json.loads(capsysbinary.readouterr().out.decode()))
    (local_code, local), (code, other) = results["local"], results[backend]
    assert local["status"] == "succeeded" and local_code == 0, local
    assert (code, other["status"]) == (local_code, local["status"])
    for step, got in local["steps"].items():
        assert (other["steps"][step]["status"], other["steps"][step]["outputs"]) == (got["status"], got["outputs"]), step
    assert local["steps"]["shell"]["outputs"] == {"v": "a\r\nb\r", "w": "{{ ds }}\r\U0001f600"}
    assert local["steps"]["text"]["outputs"]["value"][:5] == ["a\rb", "{{ ds }}", "{{workflow.name}}", "{% raw %}",
                                                              "\u2028\U0001f600"]
    assert local["steps"]["reader"]["outputs"]["value"][0] == "a\r\nb\r"


def test_the_generator_reaches_both_outcomes():
    """The property above is worth something only if some hostile specs validate and some do not."""
    good = as_yaml({"apiVersion": "orch/v1", "name": "ok", "steps": {"a": {"command": ["printf", "%s", "{{ ds }}\r"]}}})
    bad = as_yaml({"apiVersion": "orch/v1", "name": "bad", "steps": {"a": {"command": ["printf", "\x00"], "timeout": float("inf")}}})
    renders(good)
    with pytest.raises(SpecError) as refused:
        renders(bad)
    assert len(refused.value.diagnostics) == 2
