"""Outputs read from a command's stdout (`outputs: {NAME: {type: T, from: stdout}}`): the model, its
validation, the step runner the Prefect and Airflow files embed, and the local backend.

The behaviour every backend shares is in tests/conformance/cases/stdout-output.yaml.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from orch.backends import steprun
from orch.backends.steprun import StepError, call_command
from orch.core import limits
from orch.core.builder import PipelineBuilder, from_stdout
from orch.core.errors import SpecError
from orch.core.load import parse_spec
from orch.core.spec import Pipeline, Step

H = "apiVersion: orch/v1\nname: p\n"
MAX = limits.MAX_STDOUT_OUTPUT_BYTES
STEPS = Path(__file__).resolve().parent / "conformance" / "steps.py"


# --- the model


def test_outputs_stay_name_to_type_and_the_stdout_one_is_named():
    step = Step.model_validate({"command": ["x"], "outputs": {
        "a": "integer", "b": {"type": "json", "from": "stdout"}, "c": {"type": "string", "from": "file"}}})
    assert step.outputs == {"a": "integer", "b": "json", "c": "string"}
    assert step.stdout_output == "b"
    assert Step.model_validate({"command": ["x"], "outputs": {"a": "integer"}}).stdout_output is None
    assert step.model_copy(update={"env": {"K": "v"}}).stdout_output == "b"  # defaults merge by model_copy


def test_a_dump_keeps_where_an_output_comes_from():
    pipeline = Pipeline.model_validate({"name": "p", "defaults": {"env": {"A": "1"}}, "steps": {
        "a": {"command": ["x"], "outputs": {"n": {"type": "integer", "from": "stdout"}, "m": {"type": "string"}}}}})
    dumped = pipeline.model_dump(mode="json", by_alias=True)
    assert dumped["steps"]["a"]["outputs"] == {"n": {"type": "integer", "from": "stdout"}, "m": "string"}
    again = Pipeline.model_validate(dumped)
    assert again.steps["a"].stdout_output == "n" and again.steps["a"].outputs == {"n": "integer", "m": "string"}
    assert again.model_dump(mode="json", by_alias=True) == dumped


def test_the_schema_shows_both_forms():
    schema = Pipeline.model_json_schema(by_alias=True)
    forms = schema["$defs"]["Step"]["properties"]["outputs"]["additionalProperties"]["anyOf"]
    assert forms[0]["enum"] == ["string", "integer", "number", "boolean", "json", "artifact"]
    output = schema["$defs"]["Output"]
    assert output["properties"]["from"]["enum"] == ["file", "stdout"] and output["additionalProperties"] is False
    assert output["required"] == ["type"]


def test_the_builder_declares_one():
    pipe = PipelineBuilder("b")
    count = pipe.command("count", ["sh", "-c", "echo 3"], outputs={"rows": from_stdout("integer")})
    pipe.command("use", ["echo", count.outputs.rows])
    pipeline = pipe.build()
    assert pipeline.steps["count"].stdout_output == "rows" and pipeline.steps["count"].outputs == {"rows": "integer"}


def test_the_builder_refuses_one_on_a_python_step():
    pipe = PipelineBuilder("b")
    pipe.step(print, name="py", outputs={"rows": from_stdout("integer")})
    with pytest.raises(SpecError) as err:
        pipe.build()
    assert err.value.diagnostics[0].code == "E224"


# --- validation: located, exit 2


@pytest.mark.parametrize("text, code, line, col, words", [
    (H + "steps:\n  py:\n    python: m:f\n    outputs: {a: {type: integer, from: stdout}}\n",
     "E224", 6, 40, "output 'a' is read from stdout, but a python step has none"),
    (H + "steps:\n  c:\n    command: [x]\n    outputs:\n      a: {type: integer, from: stdout}\n      b: {type: string, from: stdout}\n",
     "E225", 8, 31, "output 'b' is read from stdout too, but 'a' already is"),
    (H + "steps:\n  c:\n    command: [x]\n    outputs: {a: {type: integer, frm: stdout}}\n", "E201", 6, 34, "unknown field 'frm'"),
    (H + "steps:\n  c:\n    command: [x]\n    outputs: {a: {type: integer, from: stdin}}\n", "E201", 6, 40, "must be one of 'file', 'stdout'"),
    (H + "steps:\n  c:\n    command: [x]\n    outputs: {a: {type: intger, from: stdout}}\n", "E201", 6, 25, "must be one of 'string'"),
    (H + "steps:\n  c:\n    command: [x]\n    outputs: {a: {from: stdout}}\n", "E201", 6, 15, "missing required field 'type'"),
    (H + "steps:\n  c:\n    command: [x]\n    outputs: {a: integr}\n", "E201", 6, 18, "must be one of 'string'"),
])
def test_bad_stdout_outputs_are_located(orch, spec_file, text, code, line, col, words):
    path = spec_file(text)
    exit_code, out, err = orch("validate", path)
    assert exit_code == 2 and out == "" and "Traceback" not in err
    located = [ln for ln in err.splitlines() if ln.startswith(f"{path}:{line}:{col}: error[{code}]")]
    assert located and words in located[0], err


def test_the_hints_say_what_to_do(orch, spec_file):
    _, _, err = orch("validate", spec_file(H + "steps:\n  py: {python: m:f, outputs: {a: {type: string, from: stdout}}}\n"))
    assert "hint: a python step returns its outputs; print is only logged" in err
    _, _, err = orch("validate", spec_file(H + "steps:\n  c: {command: [x], outputs: {a: {type: string, from: stdin}}}\n"))
    assert "(from: stdout)" in err
    _, _, err = orch("validate", spec_file(H + "steps:\n  c: {command: [x], outputs: {a: {type: string, frm: stdout}}}\n"))
    assert "did you mean 'from'?" in err


def test_a_stdout_output_is_referenced_like_any_other():
    graph = parse_spec(H + "steps:\n  a: {command: [echo, 1], outputs: {n: {type: integer, from: stdout}}}\n"
                       "  b: {command: [echo, '${{ steps.a.outputs.n }}'], when: 'steps.a.outputs.n > 0'}\n")
    assert graph.pipeline.steps["a"].stdout_output == "n"


# --- the step runner (Prefect, Airflow)


def test_the_bound_is_one_number():
    assert steprun.MAX_STDOUT_OUTPUT_BYTES == MAX == 256 * 1024 - 1


def test_stdout_is_the_value_and_everything_is_logged():
    logged = []
    out = call_command(["sh", "-c", "echo noise >&2; echo 42; echo f > $ORCH_OUTPUTS/f"], {"n": "integer", "f": "string"},
                       log=logged.append, stdout="n")
    assert out == {"n": 42, "f": "f"} and logged == ["noise\n42"]
    assert call_command(["sh", "-c", "printf 'a\\n\\n'"], {"s": "string"}, log=logged.append, stdout="s") == {"s": "a\n"}
    assert call_command(["sh", "-c", "true"], {"s": "string"}, log=logged.append, stdout="s") == {"s": ""}


@pytest.mark.parametrize("size, newline, fits", [(MAX, "", True), (MAX, "\\n", True), (MAX + 1, "", False),
                                                 (MAX + 1, "\\n", False), (10 * MAX, "", False)])
def test_the_bound_counts_without_one_newline(size, newline, fits):
    argv = ["python3", "-c", f"import sys; sys.stdout.write('x' * {size} + '{newline}')"]
    logged = []
    if fits:
        assert len(call_command(argv, {"s": "string"}, log=logged.append, stdout="s")["s"]) == size
    else:
        with pytest.raises(StepError, match=f"output 's' is read from stdout, which is longer than {MAX} bytes"):
            call_command(argv, {"s": "string"}, log=logged.append, stdout="s")
    assert len(logged[0]) == size  # the log has all of it


def test_bad_stdout_fails_the_step():
    with pytest.raises(StepError, match="output 'n' is not UTF-8 text: byte 0xff at offset 0"):
        call_command(["sh", "-c", "printf '\\377'"], {"n": "string"}, log=lambda _: None, stdout="n")
    with pytest.raises(StepError, match="exited with status 3: 1"):
        call_command(["sh", "-c", "echo 1; exit 3"], {"n": "integer"}, log=lambda _: None, stdout="n")


def test_a_timeout_and_a_leftover_child_still_end_the_attempt():
    with pytest.raises(TimeoutError, match="timed out after 0.3s"):
        call_command(["sh", "-c", "echo 1; sleep 5"], {"n": "integer"}, timeout=0.3, log=lambda _: None, stdout="n")
    out = call_command(["sh", "-c", "(sleep 5; echo late) & echo 7"], {"n": "integer"}, timeout=3, log=lambda _: None, stdout="n")
    assert out == {"n": 7}


# --- the local backend


@pytest.fixture
def write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")

    def spec(steps: dict) -> Path:
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps}, sort_keys=False))
        return path

    return spec


def stdout(kind):
    return {"type": kind, "from": "stdout"}


def test_local_reads_stdout_and_keeps_the_log(orch, write):
    path = write({
        "count": {"command": ["sh", "-c", "echo noise >&2; echo 42"], "outputs": {"n": stdout("integer")}},
        "next": {"command": ["sh", "-c", "echo $(( ${{ steps.count.outputs.n }} + 1 ))"], "outputs": {"n": stdout("integer")},
                 "foreach": [1, 2]},
        "fits": {"command": ["python3", "-c", f"print('x' * {MAX})"], "outputs": {"s": stdout("string")}},
        "long": {"command": ["python3", "-c", f"import sys; sys.stdout.write('x' * {4 * MAX})"], "outputs": {"s": stdout("string")}},
    })
    code, out, _ = orch("run", path, "--json")
    result = json.loads(out)
    steps = result["steps"]
    assert code == 1
    assert steps["count"]["outputs"] == {"n": 42} and steps["next"]["outputs"] == {"n": [43, 43]}
    assert len(steps["fits"]["outputs"]["s"]) == MAX
    assert steps["long"]["status"] == "failed" and f"longer than {MAX} bytes" in steps["long"]["error"]
    assert orch("logs", result["run_id"], "count")[1] == "noise\n42\n"
    assert orch("logs", result["run_id"], "long")[1].rstrip("\n") == "x" * (4 * MAX)
    kept = list(Path(".orch").rglob("long/attempt-1.stdout"))
    assert kept and kept[0].stat().st_size == MAX + 2  # no more than tells it was too long


def test_local_timeout_and_exit_status_with_stdout(orch, write):
    path = write({
        "slow": {"command": ["sh", "-c", "echo 1; sleep 30"], "outputs": {"n": stdout("integer")}, "timeout": "0.5s"},
        "exits": {"command": ["sh", "-c", "echo 1; exit 3"], "outputs": {"n": stdout("integer")}},
        "killed": {"command": ["sh", "-c", "echo 1; kill -9 $$"], "outputs": {"n": stdout("integer")}},
        "leftover": {"command": ["sh", "-c", "(sleep 30; echo late) & echo 7"], "outputs": {"n": stdout("integer")}},
        "missing": {"command": ["no-such-program-here"], "outputs": {"n": stdout("integer")}},
    })
    code, out, _ = orch("run", path, "--json")
    steps = json.loads(out)["steps"]
    assert steps["slow"]["error"] == "timed out after 0.5s"
    assert steps["exits"]["error"] == "exited with status 3: 1"
    assert steps["killed"]["error"].startswith("killed by signal 9")
    assert steps["leftover"]["outputs"] == {"n": 7}
    assert "cannot run 'no-such-program-here'" in steps["missing"]["error"]


def test_local_resume_keeps_the_stdout_output(orch, write):
    path = write({
        "count": {"command": ["sh", "-c", "echo 5"], "outputs": {"n": stdout("integer")}},
        "flaky": {"command": ["sh", "-c", "test -f ok || { touch ok; exit 1; }; echo ${{ steps.count.outputs.n }}"],
                  "outputs": {"m": stdout("integer")}},
    })
    code, out, _ = orch("run", path, "--json")
    run_id = json.loads(out)["run_id"]
    assert code == 1
    code, out, err = orch("run", path, "--resume", run_id, "--json")
    assert code == 0, err
    assert json.loads(out)["steps"]["flaky"]["outputs"] == {"m": 5}
