"""Property tests: random valid DAG specs validate to the expected graph; random mutations
of them give located errors or still validate, and never raise anything else."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.core import SpecError, parse_spec
from orch.core.names import collision_key

NAME = st.from_regex(r"[a-z](?:[a-z0-9_-]{0,8}[a-z0-9])?", fullmatch=True)
TYPES = ["string", "integer", "number", "boolean", "json"]
LITERAL = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12).filter(lambda t: "${{" not in t)  # literal: no reference opener


def unique_names(max_size: int, min_size: int = 0):
    """Names no backend would merge into one."""
    return st.lists(NAME, min_size=min_size, max_size=max_size, unique_by=collision_key)


@st.composite
def valid_specs(draw):
    """(spec data, the set of edges it must have)."""
    names = draw(unique_names(10, min_size=1))
    params = {p: draw(st.sampled_from(["string", "number"])) for p in draw(unique_names(3))}
    steps, edges, outputs = {}, set(), {}
    for i, name in enumerate(names):
        step: dict = {}
        outputs[name] = {o: draw(st.sampled_from(TYPES)) for o in draw(unique_names(3))}
        if outputs[name]:
            step["outputs"] = outputs[name]
        earlier = names[:i]
        after = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        if after:
            step["after"] = after
            edges |= {(u, name) for u in after}
        values = [draw(LITERAL)]
        producers = [(u, o) for u in earlier for o in outputs[u]]
        if producers and draw(st.booleans()):
            upstream, output = draw(st.sampled_from(producers))
            values.append(f"${{{{ steps.{upstream}.outputs.{output} }}}}")
            edges.add((upstream, name))
        if params and draw(st.booleans()):
            values.append(f"${{{{ params.{draw(st.sampled_from(sorted(params)))} }}}}")
        if draw(st.booleans()):
            step["python"] = "pkg.module:function"
            step["args"] = {f"a{j}": v for j, v in enumerate(values)}
        else:
            step["command"] = ["echo", *values]
        numeric = [(u, o) for u, o in producers if outputs[u][o] in ("integer", "number")]
        if numeric and draw(st.booleans()):
            upstream, output = draw(st.sampled_from(numeric))
            step["when"] = f"steps.{upstream}.outputs.{output} > {draw(st.integers(-5, 5))}"
            edges.add((upstream, name))
        if draw(st.booleans()):
            step["trigger"] = draw(st.sampled_from(["all_succeeded", "none_failed", "all_done", "any_failed"]))
        if draw(st.booleans()):
            step["retries"] = {"limit": draw(st.integers(0, 3)), "delay": f"{draw(st.integers(0, 60))}s"}
        steps[name] = step
    data = {"apiVersion": "orch/v1", "name": "generated", "steps": steps}
    if params:
        data["params"] = {p: {"type": t} for p, t in params.items()}
    return data, edges


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_valid_specs_validate_to_their_graph(case):
    data, edges = case
    graph = parse_spec(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "generated.yaml")
    assert {(e.upstream, e.downstream) for e in graph.edges} == edges
    assert graph.order()[0] in graph.roots()


def mutate(text: str, kind: str, where: float, junk: str) -> str:
    lines = text.splitlines(keepends=True)
    i = min(int(where * len(lines)), len(lines) - 1)
    at = min(int(where * len(text)), len(text))
    if kind == "drop-line":
        return "".join(lines[:i] + lines[i + 1:])
    if kind == "repeat-line":
        return "".join(lines[: i + 1] + lines[i:])
    if kind == "swap-lines":
        j = (i + 1) % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines)
    if kind == "truncate":
        return text[:at]
    if kind == "insert":
        return text[:at] + junk + text[at:]
    return text[:at] + junk + text[at + len(junk):]  # overwrite


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid_specs(),
    st.sampled_from(["drop-line", "repeat-line", "swap-lines", "truncate", "insert", "overwrite"]),
    st.floats(0, 1),
    st.sampled_from(["${{", "}}", ":", "- ", "{", "[", "'", '"', "\t", "x", "steps", "!!", "&a", "*a", "<<: 1", "\n  ", "0", "@"])
    | st.text(max_size=4),
)
def test_mutations_give_located_errors_never_a_crash(case, kind, where, junk):
    text = mutate(yaml.safe_dump(case[0], allow_unicode=True, sort_keys=False), kind, where, junk)
    try:
        parse_spec(text, "mutated.yaml")
    except SpecError as error:
        assert error.diagnostics
        line_count = max(1, len(text.splitlines()))
        for d in error.diagnostics:
            assert d.message and d.code.startswith("E")
            assert d.file == "mutated.yaml"
            assert d.line is not None and 1 <= d.line <= line_count + 1, d
            assert d.col is not None and d.col >= 1, d


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    valid_specs(),
    st.sampled_from(["drop-line", "repeat-line", "swap-lines", "insert", "overwrite"]),
    st.floats(0, 1),
    st.sampled_from(["yes", "on", "0777", "1:30", "1e3", "~", "2024-01-02", "&x ", "*x", "<<: {a: 1}", "!!str ", "'",
                     "0x1F", ".inf", "null", "- ", "{}", "[]", "\n- ", "\n  k: v"]),
)
def test_fast_and_careful_reading_agree(case, kind, where, junk):
    """Where the fast event path reads a document, the located path reads the same data."""
    from orch.core.yaml_fast import Unusual, read_fast
    from orch.core.yaml_source import Source, _read_carefully

    text = mutate(yaml.safe_dump(case[0], allow_unicode=True, sort_keys=False), kind, where, junk)
    try:
        fast = read_fast(text)
    except Unusual:
        return
    assert _read_carefully(Source("f.yaml", text)) == fast
