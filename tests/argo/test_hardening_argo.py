"""Issue #10 on the pod backends: user strings in pod fields never reach Argo's or Jinja's
templating (refused, located, or carried exactly), `when` literals that expr-lang reads back
exactly, output bytes kept as written, and specs at the limits that render or are refused --
never a traceback."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.backends.argo.bootstrap import brace_free_json
from orch.backends.argo.condition import Unrepresentable, literal
from orch.backends.argo.render import render
from orch.backends.argo.script import bootstrap_source
from orch.core import SpecError, parse_spec

from .test_render import check, validator  # noqa: F401 - the schema fixture

STEPS = Path(__file__).resolve().parent.parent / "conformance" / "steps.py"
HOSTILE = ["{{ ds }}", "{{workflow.name}}", "{{= 1 }}", "{{ lone", "{% if x %}", "{# c #}", "a{{b"]


def spec(steps: dict, **more) -> str:
    return yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps, **more}, allow_unicode=True, sort_keys=False)


def refused(text: str):
    with pytest.raises(SpecError) as error:
        render(parse_spec(text, "p.yaml"))
    return error.value.diagnostics


# Class 7: the pod fields. Argo substitutes them and Jinja renders `image` and `node_selector`, with
# nothing in the pod to decode them: they must hold Kubernetes' own syntax, which no tag opener passes,
# so `validate` refuses such a value, located -- one rule for every backend.

POD_FIELDS = [
    ({"image": "{v}"}, "steps.a.image"),
    ({"image": "x:1", "kubernetes": {"node_selector": {"pool": "{v}"}}}, "steps.a.kubernetes.node_selector.pool"),
    ({"image": "x:1", "kubernetes": {"node_selector": {"{v}": "gpu"}}}, "steps.a.kubernetes.node_selector"),
    ({"image": "x:1", "kubernetes": {"tolerations": [{"key": "{v}", "operator": "Exists"}]}}, "steps.a.kubernetes.tolerations[0].key"),
    ({"image": "x:1", "kubernetes": {"tolerations": [{"key": "k", "value": "{v}"}]}}, "steps.a.kubernetes.tolerations[0].value"),
    ({"image": "x:1", "kubernetes": {"service_account": "{v}"}}, "steps.a.kubernetes.service_account"),
]


def _with(fields: dict, value: str) -> dict:
    return json.loads(json.dumps(fields).replace("{v}", json.dumps(value)[1:-1]))


def invalid(text: str):
    with pytest.raises(SpecError) as error:
        parse_spec(text, "p.yaml")
    return error.value.diagnostics


@pytest.mark.parametrize("fields, where", POD_FIELDS, ids=[w for _, w in POD_FIELDS])
@pytest.mark.parametrize("value", HOSTILE + ["a}", "a b", "x\n"])
def test_a_tag_opener_in_a_pod_field_is_refused_at_its_line(fields, where, value):
    diagnostics = invalid(spec({"a": {"command": ["true"], **_with(fields, value)}}))
    assert [d.code for d in diagnostics] == ["E223"]
    assert diagnostics[0].field.startswith(where) and diagnostics[0].line is not None and diagnostics[0].file == "p.yaml"
    if "{" in value:
        assert "templating" in diagnostics[0].hint


def test_a_pod_field_from_defaults_is_refused_where_it_is_written():
    text = spec({"a": {"command": ["true"]}}, defaults={"image": "reg/{{ ds }}:1"})
    diagnostics = invalid(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "image:" in row)
    assert [(d.code, d.field, d.line) for d in diagnostics] == [("E223", "defaults.image", line)]


def test_plain_pod_fields_reach_the_manifest_byte_for_byte(validator):
    kube = {"node_selector": {"cloud.google.com/gke-nodepool": "pool_1.a", "tier": "x-y"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}],
            "service_account": "trainer-sa"}
    (document,) = check(parse_spec(spec({"a": {"command": ["true"], "image": "reg.io:5000/ml/x@sha256:ab", "kubernetes": kube}})),
                        validator)
    template = next(t for t in document["spec"]["templates"] if t["name"] == "a")
    assert template["container"]["image"] == "reg.io:5000/ml/x@sha256:ab" and template["container"]["command"] == ["true"]
    assert template["nodeSelector"] == kube["node_selector"] and template["serviceAccountName"] == "trainer-sa"
    assert template["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]


def test_a_param_value_with_a_tag_is_refused_before_submitting(orch, spec_file, monkeypatch):
    monkeypatch.setenv("ARGO_SERVER", "http://127.0.0.1:9")  # never reached: refused first
    path = spec_file(spec({"a": {"command": ["echo", "${{ params.x }}"]}}, params={"x": {"type": "string", "default": "a"}}))
    code, out, err = orch("run", path, "--backend", "argo", "-p", "x={{workflow.name}}")
    assert code == 2 and "-p x" in err and "Traceback" not in err


# Class 7 on Airflow's --target kubernetes (Jinja renders `image` and `node_selector`)

def test_pod_fields_reach_the_airflow_pod_untouched_by_jinja(tmp_path):
    """The DAG loaded by Airflow, its pod task's templates rendered with a context: image, node selector,
    tolerations and service account come out as written, a '.json' ending included (a templated field
    ending in one of template_ext would be read as a template file's name)."""
    from orch.backends.airflow.render import dag_source
    from orch.backends.airflow.run import airflow_env, airflow_home

    kube = {"node_selector": {"pool": "gpu_1", "file": "a.json"}, "service_account": "sa-1",
            "tolerations": [{"key": "k.io/x", "value": "v.yaml", "operator": "Equal"}]}
    source = dag_source(parse_spec(spec({"a": {"command": ["true"], "image": "reg.io/x:1.json", "kubernetes": kube}})),
                        "kubernetes")
    (tmp_path / "p_dag.py").write_text(source, encoding="utf-8")
    script = f"""
import json, sys
sys.modules['orch'] = None
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(tmp_path)!r})
assert not bag.import_errors, bag.import_errors
task = bag.dags['p'].get_task('a')
task.render_template_fields({{'ds': '2026-01-01', 'params': {{}}, 'run_id': 'r'}})
print(json.dumps({{'image': task.image, 'node_selector': task.node_selector, 'sa': task.service_account_name,
                  'tolerations': [t.to_dict() for t in task.tolerations]}}))
"""
    done = subprocess.run([sys.executable, "-c", script], env=airflow_env(airflow_home(), Path.cwd()), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["image"] == "reg.io/x:1.json" and seen["node_selector"] == kube["node_selector"] and seen["sa"] == "sa-1"
    assert [(t["key"], t["value"]) for t in seen["tolerations"]] == [("k.io/x", "v.yaml")]


# Class 1 on Argo: orch's own task names hold a capital, which no step's Argo name does

def test_steps_named_like_orchs_own_tasks_render(validator):
    steps = {"orch_verdict": {"command": ["true"]}, "orch-gate": {"command": ["true"]},
             "fan": {"python": "m:f", "foreach": [1], "when": "1 == 1"}, "fan__when": {"command": ["true"]},
             "fan-when": {"command": ["true"], "after": ["fan"]}}
    (document,) = check(parse_spec(spec(steps)), validator)
    names = [t["name"] for t in document["spec"]["templates"][0]["dag"]["tasks"]]
    assert len(names) == len(set(names)) and {"orch-verdict", "fan--when", "Orch-verdict", "fan-When"} <= set(names)


# Class 8: `when` literals as expr-lang reads them

def expr_unescape(text: str) -> str:
    """expr-lang's string unescape (parser/lexer/utils.go), for the escapes `literal` writes."""
    assert text[0] == text[-1] == '"'
    body, out, i = text[1:-1].replace("\r\n", "\n").replace("\r", "\n"), [], 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}
    while i < len(body):
        if body[i] != "\\":
            out.append(body[i])
            i += 1
            continue
        c = body[i + 1]
        if c in simple:
            out.append(simple[c])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}[c]
        point = int(body[i + 2:i + 2 + width], 16)
        out.append("\ufffd" if 0xD800 <= point <= 0xDFFF else chr(point))  # Go's EncodeRune of a surrogate
        i += 2 + width
    return "".join(out)


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))  # validation refuses both
@settings(max_examples=300, deadline=None)
def test_string_literals_read_back_exactly_and_stay_ascii_and_brace_free(text):
    written = literal(text)
    assert written.isascii() and "{" not in written and "}" not in written
    assert expr_unescape(written) == text


def test_an_emoji_is_one_code_point_not_a_surrogate_pair():
    assert literal("ok \U0001F600") == '"ok \\U0001f600"'
    assert expr_unescape(literal("\U0001F600")) == "\U0001F600"


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 2**63, -2**63 - 1, "\ud800"])
def test_what_expr_lang_cannot_hold_is_never_written(value):
    with pytest.raises(Unrepresentable):
        literal(value)


def test_numbers_are_written_as_expr_lang_numbers():
    assert [literal(v) for v in (1e16, 1e-07, -0.5, 2**63 - 1)] == ["1e+16", "1e-07", "-0.5", "9223372036854775807"]


@pytest.mark.parametrize("when", ["'\\ud800' == 'x'", f"params.n == {2**63}", "params.n == 1e400"])
def test_a_when_literal_argo_cannot_hold_is_refused_at_the_when(when):
    """By validation (the local rule) or, failing that, by the renderer: located either way."""
    text = spec({"a": {"command": ["true"], "when": when}}, params={"n": {"type": "number", "default": 1}})
    with pytest.raises(SpecError) as error:
        render(parse_spec(text, "p.yaml"))
    assert [d.field for d in error.value.diagnostics] == ["steps.a.when"] and error.value.diagnostics[0].line is not None


def test_an_emoji_in_a_rendered_when_is_one_escape():
    (artifact,) = render(parse_spec(spec({"a": {"command": ["true"], "when": "'\U0001F600' != 'x'"}})))
    assert "\\U0001f600" in artifact.text and "\\ud83d" not in artifact.text


def test_a_fan_outs_output_in_a_condition_is_its_values():
    (artifact,) = render(parse_spec(spec({
        "f": {"python": "m:f", "foreach": [1, 2], "outputs": {"v": "string"}},
        "g": {"command": ["true"], "when": "'a' in steps.f.outputs.v"}})))
    (when,) = [t["when"] for t in yaml.safe_load(artifact.text)["spec"]["templates"][0]["dag"]["tasks"] if t.get("when")]
    # the items' texts, each read as its declared type (a string: as is); [] for an empty fan-out, nil unless it ran
    assert 'tasks["f"].status == "Succeeded" ? map(fromJSON(tasks["f"].outputs.parameters["v"]), #)' in when
    assert 'tasks["f"].status == "Skipped" ? [] : nil' in when


def test_no_non_finite_number_ever_renders():
    with pytest.raises(ValueError):
        brace_free_json({"x": float("nan")})


# Class 9 and 7: outputs in the pod

def run_pod(tmp_path: Path, payload: dict, refs: dict[int, str] = ()):
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    env = {**os.environ, "ORCH_PAYLOAD": json.dumps(payload),
           "ORCH_ARGO_OUTPUTS": str(tmp_path / "out")}
    env.update({f"ORCH_R{i}": text for i, text in dict(refs).items()})
    done = subprocess.run([sys.executable, "-c", bootstrap_source()], cwd=tmp_path, env=env, capture_output=True)
    files = {p.name: p.read_bytes() for p in (tmp_path / "out").glob("*")} if (tmp_path / "out").exists() else {}
    return done.returncode, files, done.stderr.decode(errors="replace")


def argo_reads(data: bytes) -> str:
    """What Argo makes of an output file (`valueFrom.path`): its text, one trailing newline trimmed."""
    text = data.decode("utf-8")
    return text[:-1] if text.endswith("\n") else text


@pytest.mark.parametrize("written, expected", [
    (b"a\rb\r", "a\rb\r"), (b"a\r\n", "a\r"), (b"line\n\n", "line\n"), (b"{{workflow.name}} }}\n", "{{workflow.name}} }}"),
    ("naïve \U0001F600".encode(), "naïve \U0001F600"),
])
def test_a_command_outputs_bytes_come_back_exactly(tmp_path, written, expected):
    (tmp_path / "value").write_bytes(written)
    payload = {"kind": "command", "argv": ["sh", "-c", 'cat value > "$ORCH_OUTPUTS/v"'], "env": {},
               "outputs": {"v": "string"}, "refs": []}
    code, files, err = run_pod(tmp_path, payload)
    assert code == 0, err
    text = argo_reads(files["v"])
    assert "{{" not in text and "{%" not in text and "{#" not in text  # Argo re-reads a value it substitutes
    assert json.loads(text) == expected


def test_non_utf8_output_bytes_fail_the_step_with_a_clear_error(tmp_path):
    payload = {"kind": "command", "argv": ["sh", "-c", 'printf "\\377\\376" > "$ORCH_OUTPUTS/v"'], "env": {},
               "outputs": {"v": "string"}, "refs": []}
    code, files, err = run_pod(tmp_path, payload)
    assert code == 1 and files == {} and "not UTF-8" in err and "Traceback" not in err


def test_json_outputs_with_braces_travel_brace_free_and_parse_back(tmp_path):
    value = {"t{{": ["}}", {"{%": "{#"}], "n": 1.5}
    payload = {"kind": "python", "python": "conformance_steps:echo", "args": {"value": {"$ref": 0}}, "env": {},
               "outputs": {"value": "json"}, "refs": [{"kind": "output"}]}
    code, files, err = run_pod(tmp_path, payload, {0: json.dumps(value)})
    assert code == 0, err
    text = argo_reads(files["value"])
    assert not re.search(r"\{[{%#]", text) and json.loads(text) == value


def test_a_fan_outs_objects_aggregated_by_argo_as_values_are_read(tmp_path):
    """Argo's aggregate is a list of the items' texts, or of the values when each is an object or a list."""
    payload = {"kind": "python", "python": "conformance_steps:echo", "args": {"value": {"$ref": 0}}, "env": {},
               "outputs": {"value": "json"}, "refs": [{"kind": "list"}]}
    for aggregate in ('[{"a": 1}, [2]]', '["{\\"a\\": 1}", "3"]'):
        folder = tmp_path / str(len(aggregate))
        folder.mkdir()
        code, files, err = run_pod(folder, payload, {0: aggregate})
        assert code == 0, err
        assert json.loads(files["value"]) == ([{"a": 1}, [2]] if aggregate.startswith("[{") else [{"a": 1}, 3])


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20))
@settings(max_examples=200, deadline=None)
def test_brace_free_json_is_the_same_value_with_no_tag_opener(value):
    text = brace_free_json(value)
    assert text.isascii() and not re.search(r"\{[{%#]", text) and json.loads(text) == value


# Class 4: at the limits

def test_many_steps_long_non_ascii_strings_render_valid_manifests(validator):
    long = "ü€\U0001F600{{x}}" * 2000
    steps = {f"s{i}": {"command": ["echo", long if i == 0 else f"{i}"], "when": f"'{long[:500]}' != 'x'" if i == 1 else None}
             for i in range(250)}
    steps = {k: {f: v for f, v in s.items() if v is not None} for k, s in steps.items()}
    text = spec(steps, description="Ünïcode ✓ \U0001F600 {{ ds }}", params={"p": {"type": "string", "default": "é" * 1000}})
    documents = check(parse_spec(text), validator)
    assert documents[0]["spec"]["arguments"]["parameters"][0]["value"] == "é" * 1000


def test_a_manifest_over_a_megabyte_is_a_located_error():
    diagnostics = refused(spec({"a": {"python": "m:f", "args": {"blob": "x" * (1 << 20)}}}))
    assert [d.code for d in diagnostics] == ["E806"] and diagnostics[0].line is not None


def test_orchs_bounds_fit_the_fields_argo_reads_them_into():
    """Validation's bounds are what keep every number within Argo's field widths; the retry factor,
    unbounded in orch, is the one Argo checks itself."""
    from orch.backends.argo.templates import GO_SECONDS, INT32
    from orch.core import limits

    assert limits.MAX_TIMEOUT_SECONDS <= INT32 and limits.MAX_RETRIES <= INT32
    assert limits.MAX_DELAY_SECONDS <= GO_SECONDS and limits.INT_MAX <= 2**63 - 1  # tolerationSeconds: int64
    graph = parse_spec(spec({"a": {"command": ["true"], "retries": {"limit": 1, "delay": 1, "factor": 2**31}}}), "p.yaml")
    with pytest.raises(SpecError) as error:
        render(graph)
    assert [(d.code, d.field) for d in error.value.diagnostics] == [("E821", "steps.a.retries.factor")]
    assert error.value.diagnostics[0].line is not None


def test_a_delay_past_orchs_bound_is_capped_on_argo_as_everywhere():
    graph = parse_spec(spec({"a": {"command": ["true"], "retries": {"limit": 12, "delay": "1d", "factor": 2}}}))
    (artifact,) = render(graph)
    assert f"cap: {366 * 86400}s" in artifact.text
    assert max(graph.pipeline.steps["a"].retries.delays()) == 366 * 86400


def test_a_long_chain_renders_in_time_linear_in_its_length():
    """A step's failure sources are walked only where a trigger asks for them: no ancestor lists for a chain."""
    import time

    def seconds(n: int) -> float:
        graph = parse_spec(spec({f"s{i}": {"command": ["echo"], **({"after": [f"s{i - 1}"]} if i else {})} for i in range(n)}))
        start = time.perf_counter()
        render(graph)
        return time.perf_counter() - start

    seconds(200)  # warm up
    small, large = seconds(1500), seconds(6000)
    assert large < 6 * small, (small, large)  # 4x the steps: linear is ~4x, quadratic ~16x
