"""Hostile input to the core (issue #10): every bound located, every odd value refused or kept exactly.

Specs go through the real `orch validate` where a case is about what the user sees (exit 2,
file:line:col, code, no traceback); the library functions are called directly where the case
is about a value (parse_text, outputs_from_files, resolve_params).
"""

from __future__ import annotations

import math
import time

import pytest
import yaml

from orch.core import SpecError, limits, parse_spec, typed
from orch.core.errors import Diagnostic
from orch.core.spec import Param, Retries
from orch.core.values import resolve_params
from orch.core.yaml_fast import Unusual, read_fast
from orch.core.yaml_source import Source, _read_carefully, load_yaml

H = "apiVersion: orch/v1\nname: p\n"
STEP = "steps:\n  a: {python: m:f}\n"


def refused(orch, path) -> list[str]:
    """The error lines of `orch validate PATH`, which must exit 2 without a traceback."""
    code, out, err = orch("validate", path)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    return [line for line in err.splitlines() if "error[" in line]


def located(lines: list[str], path, line: int, col: int, code: str) -> str:
    prefix = f"{path}:{line}:{col}: error[{code}]"
    hits = [text for text in lines if text.startswith(prefix)]
    assert hits, f"expected {prefix!r} in {lines}"
    return hits[0]


def codes_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "f.yaml")
    return [d.code for d in info.value.diagnostics]


# --- limits.py is the one place for the numbers


def test_every_bound_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "limits.md").read_text(encoding="utf-8")
    names = [n for n in dir(limits) if n.isupper() and not n.endswith("_HINT")]
    assert len(names) >= 15
    for name in names:
        assert f"`{name}`" in doc, name
    for code in ("E107", "E108", "E109", "E110", "E111", "E112", "E113", "E114", "E115",
                 "E215", "E216", "E217", "E218", "E219", "E220", "E222", "E603", "E704"):
        assert code in doc, code


# --- YAML aliases, anchors and nesting


def _bomb(levels: int = 9, fan: int = 10) -> str:
    lines = [H, "params:\n  j:\n    type: json\n    default:\n", "      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"]
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * fan)
        lines.append(f"      l{i}: &l{i} [{refs}]\n")
    return "".join(lines) + STEP


def test_an_alias_bomb_is_refused_quickly_at_the_alias(orch, spec_file):
    path = spec_file(_bomb())
    start = time.monotonic()
    lines = refused(orch, path)
    assert time.monotonic() - start < 5
    line = located(lines, path, 11, 51, "E113")  # the eighth *l3 takes the count past 100,000 values
    assert "aliases stand for more than 100,000 values" in line


def test_an_alias_bomb_is_refused_on_both_yaml_paths():
    text = _bomb()
    with pytest.raises(Unusual):
        read_fast(text)
    with pytest.raises(SpecError) as info:
        _read_carefully(Source("f.yaml", text))
    assert [d.code for d in info.value.diagnostics] == ["E113"]
    # Through a merge key, which only the careful path reads.
    merged = text.replace(STEP, "  k:\n    type: json\n    default: {<<: {x: *l8}}\n" + STEP)
    assert codes_of(merged.replace("      l8: &l8", "      l8: &l8")) == ["E113"]


def test_aliases_within_the_budget_still_read_and_share_nothing_wrong():
    steps = "".join(f"  s{i}: {{python: m:f, resources: *r, env: *e}}\n" for i in range(2000))
    text = H + "x-res: &r {cpu: 1, memory: 1Gi}\nx-env: &e {A: '1', B: '2'}\nsteps:\n" + steps
    data, _ = load_yaml(text)
    assert data["steps"]["s1999"]["resources"] == {"cpu": 1, "memory": "1Gi"}
    assert read_fast(text) == _read_carefully(Source("f", text))


@pytest.mark.parametrize("text, line, col", [
    (H + "x: &x [*x]\n" + STEP, 3, 8),
    (H + "x: &x {a: {b: *x}}\n" + STEP, 3, 15),
    (H + "x: &x {<<: *x}\n" + STEP, 3, 12),
])
def test_a_recursive_anchor_is_located_at_its_alias(orch, spec_file, text, line, col):
    path = spec_file(text)
    assert "recursive alias" in located(refused(orch, path), path, line, col, "E114")


def _nested_block(depth: int) -> str:
    lines = [H, "params:\n  j:\n    type: json\n    default:\n"]
    for level in range(depth):
        lines.append("  " * (level + 3) + f"k{level}:\n")
    return "".join(lines) + "  " * (depth + 3) + "x\n" + STEP


@pytest.mark.parametrize("text, line, col", [
    (_nested_block(70), 68, 129),  # the 65th mapping (the document is the first), at k61
    (H + "params:\n  j: {type: json, default: " + "[" * 100 + "]" * 100 + "}\n" + STEP, 4, 89),  # the 62nd '['

    (H + "params:\n  j: {type: json, default: " + "[" * 5000 + "]" * 5000 + "}\n" + STEP, None, None),
])
def test_nesting_past_the_limit_is_located(orch, spec_file, text, line, col):
    path = spec_file(text)
    lines = refused(orch, path)
    if line is None:  # libyaml's own bound (1,000) comes first in flow style: the same rule, the same code
        assert len(lines) == 1 and "error[E112]" in lines[0], lines
    else:
        assert "nested more than 64 levels" in located(lines, path, line, col, "E112")


def test_nesting_within_the_limit_reads_on_both_paths():
    value = "[" * 58 + "1" + "]" * 58
    text = H + f"steps:\n  a: {{python: m:f, args: {{x: {value}}}}}\n"
    assert read_fast(text) == _read_carefully(Source("f", text))
    x = parse_spec(text).pipeline.steps["a"].args["x"]
    for _ in range(57):
        (x,) = x
    assert x == [1]


# --- YAML scalars


@pytest.mark.parametrize("written", ["2024-01-01", "2001-12-14t21:59:43.10-05:00", "2002-12-14", "!!timestamp 2024-02-30"])
def test_a_timestamp_reads_as_its_text_on_both_paths(written):
    text = H + f"params:\n  d: {{default: {written}}}\n" + STEP
    assert read_fast(text) == _read_carefully(Source("f", text))
    param = parse_spec(text).pipeline.params["d"]
    assert (param.type, param.default) == ("string", written.replace("!!timestamp ", ""))


@pytest.mark.parametrize("scalar, code", [
    ("!!int abc", "E111"), ("!!float x", "E111"), ("!!bool maybe", "E111"), ("!!int 0x", "E111"),
    ("9" * 5000, "E110"), ("0x" + "f" * 2000, "E110"), ("1" + ":0" * 30, "E110"), ("-9223372036854775809", "E110"),
    (".inf", "E109"), ("-.Inf", "E109"), (".NaN", "E109"), ("1.0e+400", "E109"), ("!!float 1e400", "E109"),
])
def test_a_bad_typed_scalar_is_located_on_both_paths(scalar, code):
    text = H + f"params:\n  n:\n    type: json\n    default: {scalar}\n" + STEP
    with pytest.raises(Unusual):
        read_fast(text)
    with pytest.raises(SpecError) as info:
        load_yaml(text, "f.yaml")
    (d,) = info.value.diagnostics
    assert (d.code, d.line, d.col) == (code, 6, 14)


def test_integers_at_the_64_bit_edges_are_values():
    text = H + "steps:\n  a: {python: m:f, args: {lo: -9223372036854775808, hi: 9223372036854775807, b: 0b1_0}}\n"
    assert parse_spec(text).pipeline.steps["a"].args == {"lo": -(2**63), "hi": 2**63 - 1, "b": 2}


# --- text: NUL, lone surrogates, bytes that are not UTF-8


@pytest.mark.parametrize("field, line, col", [
    ('description: "x\\0"\n' + STEP, 3, 14),
    ('labels: {team: "a\\x00"}\n' + STEP, 3, 16),
    ('steps:\n  a: {python: m:f, image: "img\\u0000"}\n', 4, 27),
    ('steps:\n  a: {python: m:f, args: {x: [{y: "\\U00000000"}]}}\n', 4, 35),
    ('steps:\n  a: {python: m:f, env: {X: "\\0"}}\n', 4, 29),
    ('params:\n  "p\\0": {default: x}\n' + STEP, 4, 3),
])
def test_a_nul_anywhere_is_refused_with_a_hint(orch, spec_file, field, line, col):
    path = spec_file(H + field)
    located(refused(orch, path), path, line, col, "E107")
    _, _, err = orch("validate", path)
    assert "hint: a NUL character cannot reach a command's argv" in err
    assert "\x00" not in err  # the message never prints the NUL itself


def test_a_raw_nul_byte_is_located(orch, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes((H + "description: ab\x00c\n" + STEP).encode())
    located(refused(orch, path), path, 3, 16, "E107")


def test_a_spec_that_is_not_utf8_is_located_at_its_first_bad_byte(orch, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes((H + "description: é ü ").encode() + b"\xff\xfe\n" + STEP.encode())
    lines = refused(orch, path)
    assert "byte 0xff cannot be decoded" in located(lines, path, 3, 18, "E108")


def test_a_lone_surrogate_in_spec_text_is_located():
    with pytest.raises(SpecError) as info:
        parse_spec(H + "description: é\udcff\n" + STEP, "f.yaml")
    (d,) = info.value.diagnostics
    assert (d.code, d.line, d.col) == ("E108", 3, 15)


# --- sizes of a spec


def test_a_spec_file_past_the_size_limit_is_refused_before_reading(orch, tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as file:
        file.truncate(limits.MAX_SPEC_BYTES + 1)  # sparse: costs nothing to write
    assert "the limit is 64 MiB" in located(refused(orch, path), path, 1, 1, "E115")


def test_more_steps_than_the_limit_are_refused_at_steps(orch, spec_file):
    steps = "".join(f"  s{i}: {{python: m:f}}\n" for i in range(limits.MAX_STEPS + 1))
    path = spec_file(H + "steps:\n" + steps)
    assert "100,001 steps; the limit is 100,000" in located(refused(orch, path), path, 3, 1, "E219")


def test_a_literal_foreach_longer_than_the_limit(orch, spec_file):
    items = ", ".join("1" for _ in range(limits.MAX_FOREACH_ITEMS + 1))
    path = spec_file(H + f"steps:\n  a:\n    python: m:f\n    foreach: [{items}]\n")
    assert "the limit is 10,000" in located(refused(orch, path), path, 6, 5, "E220")


# --- conditions


@pytest.mark.parametrize("when, code, col", [
    ("-" * 9000 + "1 < 2", "E603", 27),  # Python's parser gives up (MemoryError, RecursionError): still located
    ("not " * 2000 + "true", "E603", 155),  # parsed, refused at the 33rd level
    ("(" * 250 + "true" + ")" * 250, "E603", 226),  # "too many nested parentheses"
    ("(not " * 40 + "true" + ")" * 40, "E603", 188),
    ("true or " * 1300 + "true", "E603", 10027),  # longer than MAX_CONDITION_CHARS: at the first character past it
    ("1 < " + "9" * 5000, "E110", 27),
    ("1 < 0x" + "f" * 40, "E110", 31),
    ("1 < 1e400", "E109", 31),
    ('"\\x00" == "a"', "E107", 27),  # the escape is Python's, read by the condition's parser
    ('"\\ud800" == "a"', "E108", 27),
])
def test_a_condition_past_the_limits_is_located(orch, spec_file, when, code, col):
    path = spec_file(H + f"steps:\n  a: {{python: m:f, when: '{when}'}}\n")
    located(refused(orch, path), path, 4, col, code)


def test_a_condition_at_the_depth_limit_is_valid():
    when = "not " * (limits.MAX_CONDITION_DEPTH - 1) + "true"
    assert parse_spec(H + f"steps:\n  a: {{python: m:f, when: '{when}'}}\n").pipeline.steps["a"].when == when


# --- durations, retries, quantities


@pytest.mark.parametrize("value, code", [
    ("0", "E216"), ("0ms", "E216"), ("'0'", "E216"), ("367d", "E217"), ("31622401", "E217"),
    ("'inf'", "E201"), ("'1e400'", "E201"), ("'٣s'", "E201"), ("'1_0s'", "E201"),
])
def test_timeouts_are_more_than_zero_and_at_most_a_year(value, code):
    assert codes_of(H + f"timeout: {value}\n" + STEP) == [code]
    assert codes_of(H + f"steps:\n  a: {{python: m:f, timeout: {value}}}\n") == [code]


def test_bounds_at_their_edge_are_valid():
    text = H + ("timeout: 366d\nsteps:\n  a:\n    python: m:f\n    timeout: 1ms\n"
                "    retries: {limit: 100, delay: 366d, factor: 1.0e+300, max_delay: 366d}\n"
                "    resources: {memory: 7Ei, cpu: '9223372036854775807'}\n")
    step = parse_spec(text).pipeline.steps["a"]
    assert step.timeout == 0.001 and step.retries.limit == 100 and step.resources.memory == "7Ei"


def test_retry_delays_never_overflow_nor_pass_a_year():
    retries = Retries(limit=100, delay=30, factor=1e300)
    delays = retries.delays()
    assert len(delays) == 100 and delays[0] == 30
    assert all(math.isfinite(d) and d <= limits.MAX_DELAY_SECONDS for d in delays)
    assert Retries(limit=3, delay=1, factor=2, max_delay=3).delays() == [1, 2, 3]


@pytest.mark.parametrize("quantity", ["8Ei", "9223372036854775808", "1e19", "1e9999999", "10E"])
def test_quantities_past_what_kubernetes_holds(quantity):
    assert codes_of(H + f"steps:\n  a: {{python: m:f, resources: {{memory: '{quantity}'}}}}\n") == ["E218"]


# --- a spec built in Python meets the same rules


def _nest(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("args, code", [
    ({"x": "a\x00b"}, "E107"), ({"x": "\udcff"}, "E108"), ({"x": [float("nan")]}, "E109"),
    ({"x": {"y": 2**70}}, "E110"), ({"x": _nest(70)}, "E112"),
])
def test_a_python_built_pipeline_meets_the_reader_rules(args, code):
    from orch.core.builder import PipelineBuilder

    pipe = PipelineBuilder("p")
    pipe.command("a", ["echo"])
    pipe.steps["b"] = {"python": "m:f", "args": args}
    with pytest.raises(SpecError) as info:
        pipe.build()
    assert code in [d.code for d in info.value.diagnostics]


def test_a_python_built_pipeline_with_an_infinite_timeout_or_default():
    from orch.core.builder import PipelineBuilder

    pipe = PipelineBuilder("p", timeout=float("inf"))
    pipe.param("x", "number", float("nan"))
    pipe.command("a", ["echo"])
    with pytest.raises(SpecError) as refused:  # every problem, as a YAML spec gets them
        pipe.build()
    assert [(d.code, d.field) for d in refused.value.diagnostics] == [("E109", "timeout"), ("E109", "params.x")]


# --- diagnostics never repeat a huge line or value


def test_a_five_megabyte_line_gives_a_short_error_with_the_caret_in_place(orch, spec_file):
    filler = "x" * 5_000_000
    path = spec_file("{apiVersion: orch/v1, name: p, description: '" + filler + "', steps: {a: {python: m:f, after: [nope]}}}\n")
    code, _, err = orch("validate", path)
    assert code == 2 and len(err) < 2_000, len(err)
    lines = err.splitlines()
    excerpt, caret = lines[1], lines[2]
    assert excerpt.endswith("…") is False and "…" in excerpt
    assert excerpt[caret.index("^"):].startswith("nope")


def test_a_message_quoting_a_huge_value_is_cut():
    with pytest.raises(SpecError) as info:
        parse_spec(H + f"params:\n  t: {{type: number, default: '{'y' * 100_000}'}}\n" + STEP, "f.yaml")
    text = str(info.value)
    assert len(text) < 2_000 and "…" in text


@pytest.mark.parametrize("col", [1, 60, 61, 500, 999, 1000, 1001])
def test_the_excerpt_window_keeps_the_caret_on_its_character(col):
    line = "".join(chr(ord("a") + i % 26) for i in range(1000))
    d = Diagnostic("E0", "m", file="f", line=1, col=col, source_line=line)
    _, shown, caret = d.render().splitlines()
    assert len(shown) <= len("  1 | ") + limits.MAX_EXCERPT_CHARS + 2
    at = caret.index("^")
    if col <= 1000:
        assert shown[at] == line[col - 1]


# --- values from text: -p and command outputs


@pytest.mark.parametrize("text, kind", [
    ("٣", "integer"), ("٣", "number"), ("1_000", "integer"), ("1_000", "number"), (" inf", "number"), ("inf", "number"),
    ("nan", "number"), ("NaN", "json"), ("[Infinity]", "json"), ("[1e400]", "json"), ("1e400", "number"), ("+1", "number"),
    (".5", "number"), ("1.", "number"), ("0x10", "integer"), ("9223372036854775808", "integer"), ("9" * 5000, "integer"),
    ("9" * 5000, "json"), ("[" * 100_000, "json"), ("[" * 70 + "]" * 70, "json"), ('"\\ud800"', "json"), ("\u00a03", "integer"),
    ("yes", "boolean"), ("tru\u0435", "boolean"),
])
def test_parse_text_is_strict(text, kind):
    with pytest.raises(ValueError):
        typed.parse_text(text, kind)


@pytest.mark.parametrize("text, kind, value", [
    ("3", "integer", 3), ("-0", "integer", 0), ("+5", "integer", 5), (" 7\r\n", "integer", 7),
    ("-9223372036854775808", "integer", -(2**63)), ("1.5e3", "number", 1500.0), ("-0.25", "number", -0.25),
    ("3", "number", 3.0), ("True", "boolean", True), ("[1, {\"a\": null}]", "json", [1, {"a": None}]),
])
def test_parse_text_reads_what_its_grammar_allows(text, kind, value):
    assert typed.parse_text(text, kind) == value


def test_outputs_are_bytes_decoded_strictly_and_kept_exactly():
    got = typed.outputs_from_files(
        {"a": b"line\r\nnext\r\n", "b": b"x\r", "c": b"text\n\n", "d": b"\xc3\xa9\n"},
        {"a": "string", "b": "string", "c": "string", "d": "string"},
    )
    assert got == {"a": "line\r\nnext\r", "b": "x\r", "c": "text\n", "d": "é"}
    with pytest.raises(typed.OutputError, match=r"output 'a' is not UTF-8 text: byte 0xff at offset 2"):
        typed.outputs_from_files({"a": b"ok\xff"}, {"a": "string"})
    with pytest.raises(typed.OutputError, match="output 'a' holds a NUL character"):
        typed.outputs_from_files({"a": b"a\x00b"}, {"a": "string"})
    with pytest.raises(typed.OutputError, match="output 'j' is not a json value orch accepts: a string holds a NUL"):
        typed.outputs_from_return(["a\x00"], {"j": "json"})
    with pytest.raises(typed.OutputError, match="not a finite number"):
        typed.outputs_from_files({"n": b"1e400\n"}, {"n": "number"})


@pytest.mark.parametrize("value, kind", [
    (float("nan"), "number"), (float("inf"), "number"), (2**63, "integer"), ({"a": [float("-inf")]}, "json"),
    ("\ud800", "string"), ({1: 2}, "json"), ([[[]]] * 1, "string"), ({"x": {1, 2}}, "json"),
])
def test_a_python_step_returning_a_value_orch_cannot_carry_fails(value, kind):
    with pytest.raises(typed.OutputError):
        typed.outputs_from_return(value, {"o": kind})


def test_value_fits_refuses_non_finite_and_out_of_range():
    assert not typed.value_fits(float("nan"), "number") and not typed.value_fits(2**63, "integer")
    assert typed.value_fits(2**63 - 1, "integer") and typed.value_fits(10**20, "number")


def _pipeline(params: str):
    return parse_spec(H + "params:\n" + params + STEP).pipeline


@pytest.mark.parametrize("given, code", [
    ("\udcff", "E704"), ("a\x00b", "E107"),
])
def test_a_param_value_that_is_not_text_is_refused_at_p(given, code):
    pipeline = _pipeline("  s: {type: string}\n")
    with pytest.raises(SpecError) as info:
        resolve_params(pipeline, {"s": given})
    (d,) = info.value.diagnostics
    assert (d.code, d.file, d.path) == (code, "-p", ("params", "s"))
    assert "\udcff" not in str(info.value) and "\x00" not in str(info.value)


@pytest.mark.parametrize("given", ["٣", "1_000", " inf", "1e400", "nan"])
def test_a_p_number_is_ascii_and_finite(given):
    pipeline = _pipeline("  n: {type: number}\n  i: {type: integer}\n")
    with pytest.raises(SpecError) as info:
        resolve_params(pipeline, {"n": given, "i": given})
    assert [d.code for d in info.value.diagnostics] == ["E702", "E702"]


def test_a_json_param_with_a_null_default_is_not_required():
    pipeline = _pipeline("  j: {type: json, default: null}\n  s: {type: string, default: null}\n  t: {type: string}\n"
                         "  u: {default: 3}\n")
    params = pipeline.params
    assert (params["j"].required, params["s"].required, params["t"].required, params["u"].required) == (False, True, True, False)
    assert resolve_params(pipeline, {"s": "x", "t": "y"}) == {"j": None, "s": "x", "t": "y", "u": 3}
    with pytest.raises(SpecError, match="param 's' has no default"):
        resolve_params(pipeline, {"t": "y"})
    assert Param(type="json").required and not Param(type="json", default=None).required


@pytest.mark.parametrize("where", ["steps", "params", "outputs", "env"])
def test_a_name_with_a_trailing_newline_is_refused(where):
    """`$` in a Python regex matches before a final newline: every name rule must match the whole text."""
    step = {"command": ["true"]}
    spec = {"apiVersion": "orch/v1", "name": "p", "steps": {"a": step}}
    if where == "steps":
        spec["steps"] = {"a\n": step}
    elif where == "params":
        spec["params"] = {"x\n": {"type": "string", "default": "v"}}
    elif where == "outputs":
        step["outputs"] = {"o\n": "string"}
    else:
        step["env"] = {"V\n": "1"}
    with pytest.raises(SpecError) as refused:
        parse_spec(yaml.safe_dump(spec), "p.yaml")
    assert refused.value.diagnostics[0].line is not None


def test_a_json_spec_with_escaped_surrogate_pairs_reads_as_python_wrote_it():
    """json.dump writes an emoji as an escaped surrogate pair, which YAML's own \\u escape cannot hold."""
    import json

    data = {"apiVersion": "orch/v1", "name": "x", "description": "\U0001f600 \\ud83d\\ude00 \u00e9",
            "steps": {"a": {"command": ["printf", "%s", "\U0001f600"]}}}
    graph = parse_spec(json.dumps(data), "x.json")
    assert graph.pipeline.description == data["description"]  # an escaped backslash stays text
    assert graph.pipeline.steps["a"].command[2] == "\U0001f600"
    half = '{"apiVersion": "orch/v1", "name": "x", "description": "\\ud83d", "steps": {"a": {"command": ["true"]}}}'
    with pytest.raises(SpecError) as refused:  # half a pair is still no character
        parse_spec(half, "x.json")
    assert refused.value.diagnostics[0].line == 1


def test_an_alias_to_a_long_string_used_many_times_is_a_bomb_too():
    text = ("apiVersion: orch/v1\nname: p\nparams:\n  s: {type: string, default: &s " + "A" * 100_000 + "}\n"
            "  q: {type: json, default: [" + ", ".join(["*s"] * 2000) + "]}\nsteps:\n  a: {command: ['true']}\n")
    with pytest.raises(SpecError) as refused:
        parse_spec(text, "p.yaml")
    (diagnostic,) = refused.value.diagnostics
    assert diagnostic.code == "E113" and diagnostic.line == 5
    parse_spec(text.replace(", ".join(["*s"] * 2000), "*s, *s"), "p.yaml")  # a few uses are fine


@pytest.mark.parametrize("tagged", ["!!null 5", "!!seq {a: 1}", "!!map [1]", "!!timestamp garbage"])
def test_an_explicit_tag_its_value_does_not_fit_is_refused_located(tagged):
    text = f"apiVersion: orch/v1\nname: p\nparams:\n  x: {{type: json, default: {tagged}}}\nsteps:\n  a: {{command: ['true']}}\n"
    with pytest.raises(SpecError) as refused:
        parse_spec(text, "p.yaml")
    assert [(d.code, d.line, d.col) for d in refused.value.diagnostics] == [("E111", 4, 28)]


def test_a_when_error_after_non_ascii_text_is_at_its_character_not_its_byte():
    text = ("apiVersion: orch/v1\nname: p\nparams:\n  s: {default: x}\n  n: {default: 1}\nsteps:\n  a:\n"
            "    command: ['true']\n    when: params.s == '日本語日本語日本語' and params.n\n")
    with pytest.raises(SpecError) as refused:
        parse_spec(text, "p.yaml")
    (diagnostic,) = refused.value.diagnostics
    assert (diagnostic.line, diagnostic.col) == (9, text.splitlines()[8].index("params.n") + 1)


@pytest.mark.parametrize("cron", ["0 0 L * *", "0 0 15W * *", "0 0 * * 1#2", "0 0 ? * *", "5-1 * * * *"])
def test_a_cron_only_some_backends_read_is_refused(cron):
    text = f"apiVersion: orch/v1\nname: p\nschedule: '{cron}'\nsteps:\n  a: {{command: ['true']}}\n"
    with pytest.raises(SpecError) as refused:
        parse_spec(text, "p.yaml")
    assert refused.value.diagnostics[0].line == 3


def test_crons_every_backend_reads_are_accepted():
    for cron in ("0 0 * JUL MON-FRI", "*/5 1-3,7 * * WED", "@midnight", "30 2 * * 1-5"):
        parse_spec(f"apiVersion: orch/v1\nname: p\nschedule: '{cron}'\nsteps:\n  a: {{command: ['true']}}\n", "p.yaml")


def test_a_json_spec_reads_its_numbers_as_json_does():
    """Python's json.dump writes 1e-05; YAML 1.1 alone would read that as text."""
    import json

    data = {"apiVersion": "orch/v1", "name": "x", "params": {"r": {"type": "number", "default": 1e-05}},
            "steps": {"a": {"command": ["true"], "timeout": 1.5e7}}}
    graph = parse_spec(json.dumps(data), "x.json")
    assert graph.pipeline.params["r"].default == 1e-05 and graph.pipeline.steps["a"].timeout == 1.5e7
    with pytest.raises(SpecError) as refused:  # what JSON allows and orch does not still comes located
        parse_spec(json.dumps(data).replace("1e-05", "1e400"), "x.json")
    assert refused.value.diagnostics[0].line == 1 and refused.value.diagnostics[0].col > 1
