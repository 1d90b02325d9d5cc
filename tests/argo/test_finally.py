"""Finally steps as Argo's exit handler, and the uses of one of the spec's templates sharing one Argo template, played
by the model of Argo (argo_model.py: the exit handler after the entrypoint, `workflow.status`, `workflow.failures`,
global outputs) with each pod run here for real (fake_executor.py: orch's runner, `sh`), and read back as
`orch run -b argo` reads a run. The conformance cases of both are run so, against their own expectations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from orch.backends.argo.render import render, workflow_spec
from orch.backends.argo.status import result_from_workflow
from orch.core import parse_spec

from ..conformance.test_cases import check_case, load_case
from .argo_model import World, play, workflow_phase
from .fake_executor import Executor
from .fake_server import FakeArgo
from .test_render import check, schema_file, validator  # noqa: F401 - the schema fixture

ROOT = Path(__file__).resolve().parents[2]
STEPS = ROOT / "tests" / "conformance" / "steps.py"
CASES = ["finally-after-failure", "finally-keeps-status", "finally-after-fail-fast", "reusable-steps"]


def orchs_own(name: str, task: dict) -> dict:
    """orch's own tasks: the nested layout's verdict is a pod that fails; a gate succeeds."""
    return {"phase": "Failed" if task["template"] == "Orch-verdict" else "Succeeded"}


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """Runs a spec as `orch run -b argo` does, on the fake server whose pods run here: (RunResult, server, executor)."""
    import orch.backends.argo.run as client

    code = tmp_path / "code"
    code.mkdir()
    shutil.copy(STEPS, code / "conformance_steps.py")
    monkeypatch.chdir(code)
    monkeypatch.setattr(client.time, "sleep", lambda seconds: None)
    monkeypatch.setenv("ARGO_SECURE", "false")

    def run(spec: dict, params: dict | None = None):
        executor = Executor(tmp_path / "cluster", code)
        with FakeArgo(orchs_own, executor=executor, schema=json.loads(schema_file().read_text())) as server:
            monkeypatch.setenv("ARGO_SERVER", server.url)
            result = client.run(parse_spec(yaml.safe_dump(spec, sort_keys=False)), params or {})
        return result, server, executor
    return run


def without_errors(case: dict) -> dict:
    """The case's expectations but its errors' texts: Argo's node message says how the pod ended ("Error (exit code
    1)"), the step's exception is in its log."""
    steps = {name: {k: v for k, v in wanted.items() if k != "error"} for name, wanted in case["expect"]["steps"].items()}
    return {**case, "expect": {**case["expect"], "steps": steps}}


@pytest.mark.parametrize("name", CASES)
def test_the_cases_run_on_the_model_as_on_every_backend(cluster, validator, name):
    case = load_case(ROOT / "tests" / "conformance" / "cases" / f"{name}.yaml")
    check(parse_spec(yaml.safe_dump(case["spec"], sort_keys=False)), validator)  # the schema, and Argo's other rules
    result, server, executor = cluster(case["spec"], case.get("params"))
    got = json.loads(result.to_json())
    check_case(without_errors(case), 0 if got["status"] == "succeeded" else 1, got)
    for step, wanted in case["expect"]["steps"].items():
        if "error" in wanted:  # the step's own words are in its pod's log
            assert any(wanted["error"] in log for pod, log in executor.logs.items() if pod.startswith(step)), executor.logs
    (workflow,) = server.workflows.values()
    assert workflow["status"]["phase"] == ("Succeeded" if case["expect"]["status"] == "succeeded" else "Failed")


def test_a_finally_step_reads_the_failed_steps_in_spec_order_and_a_failed_steps_output_as_null(cluster):
    """workflow.failures lists a retried step's failed attempts, a fan-out's failed items and task group, and the main
    DAG (named after the workflow, here like a step): run.failed_steps holds the steps that failed, in spec order, and
    an output exported by a pod that failed reads as null."""
    spec = {"apiVersion": "orch/v1", "name": "p", "steps": {
        "p-x7k2p": {"python": "conformance_steps:ok"},  # the workflow's own name: the main DAG's node has it too
        "retried_ok": {"python": "conformance_steps:flaky", "args": {"failures": 1, "name": "r"}, "retries": 1,
                       "outputs": {"value": "string"}},
        "items": {"python": "conformance_steps:check", "args": {"value": "${{ item }}"}, "foreach": [1, 0]},
        "gated": {"python": "conformance_steps:ok", "foreach": [1], "when": "1 == 1"},
        "wrote_then_failed": {"command": ["sh", "-c", 'echo 5 > "$ORCH_OUTPUTS/n"; exit 1'], "outputs": {"n": "integer"}},
        "broken_step": {"python": "conformance_steps:fail", "retries": 1},
        "after-broken": {"python": "conformance_steps:ok", "after": ["broken_step"]},
    }, "finally": {
        "report": {"python": "conformance_steps:produce", "outputs": {"failed": "json", "status": "string", "value": "json",
                                                                       "n": "json"},
                   "args": {"failed": "${{ run.failed_steps }}", "status": "${{ run.status }}",
                            "value": "${{ steps.retried_ok.outputs.value }}", "n": "${{ steps.wrote_then_failed.outputs.n }}"}},
        "said": {"command": ["sh", "-c", 'printf "%s|%s|%s" "$FAILED" "${{ steps.wrote_then_failed.outputs.n }}" '
                             '"${{ steps.retried_ok.outputs.value }}"'], "env": {"FAILED": "${{ run.failed_steps }}"},
                 "outputs": {"text": {"type": "string", "from": "stdout"}}},
        "on-failure": {"python": "conformance_steps:ok", "when": 'run.status == "failed" and "items" in run.failed_steps'},
        "on-success": {"python": "conformance_steps:ok", "when": 'run.status == "succeeded"'},
        "if-value": {"python": "conformance_steps:ok", "when": "steps.retried_ok.outputs.value == 'done'"},
        "if-null": {"python": "conformance_steps:ok", "when": "steps.wrote_then_failed.outputs.n == null"},
    }}
    result, server, _ = cluster(spec)
    assert {name: result.steps[name].status for name in ("on-failure", "on-success", "if-value", "if-null")} == {
        "on-failure": "succeeded", "on-success": "skipped", "if-value": "succeeded", "if-null": "succeeded"}
    failed = ["items", "wrote_then_failed", "broken_step"]
    assert result.steps["report"].outputs == {"failed": failed, "status": "failed", "value": "done", "n": None}
    assert result.steps["said"].outputs == {"text": json.dumps(failed) + "||done"}
    assert result.status == "failed" and list(result.steps)[-6:-4] == ["report", "said"]
    (workflow,) = server.workflows.values()
    assert {p["name"]: p["value"] for p in workflow["status"]["outputs"]["parameters"]} == {
        "retried-ok__value": "done", "wrote-then-failed__n": "5"}  # Argo exported the failed pod's value: not read


def test_finally_steps_trigger_on_one_another_only_and_never_change_the_workflows_phase():
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": {"a": {"python": "m:ok"}}, "finally": {
        "f": {"python": "m:fail"}, "g": {"python": "m:ok", "after": ["f"], "trigger": "any_failed"},
        "h": {"python": "m:ok", "after": ["f"]}}}))
    spec = workflow_spec(graph).model_dump(by_alias=True, exclude_none=True, mode="json")
    world = World()
    phases = play({"spec": spec}, lambda task: "Failed" if task["name"] == "f" else "Succeeded", world=world)
    assert (phases["f"], phases["g"], phases["h"]) == ("Failed", "Succeeded", "Omitted")
    assert (world.main, world.exit, workflow_phase(world)) == ("Succeeded", "Succeeded", "Succeeded")
    (handler,) = [t for t in spec["templates"] if t["name"] == spec["onExit"]]
    assert handler["dag"]["failFast"] is False and handler["dag"]["tasks"][-1]["name"] == "Orch-finally-done"


def test_finally_steps_past_a_template_per_step_read_json_text(tmp_path, monkeypatch):
    """Nested chunks with shared templates (their pods write JSON text): the finally steps share them too, and read
    a step's global output, run.status and run.failed_steps as JSON."""
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    monkeypatch.chdir(tmp_path)
    steps = {"s0": {"python": "conformance_steps:echo", "args": {"value": "x"}, "outputs": {"v": "string"}}}
    steps.update({f"s{i}": {"python": "conformance_steps:ok", "after": [f"s{i - 1}"]} for i in range(1, 5)})
    steps["s4"]["python"] = "conformance_steps:fail"
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps, "finally": {"report": {
        "python": "conformance_steps:produce", "outputs": {"v": "string", "status": "string", "failed": "json"},
        "args": {"v": "${{ steps.s0.outputs.v }}", "status": "${{ run.status }}", "failed": "${{ run.failed_steps }}"}}}}))
    spec = workflow_spec(graph, chunk_size=3).model_dump(by_alias=True, exclude_none=True, mode="json")
    document = {"metadata": {"name": "p-x7k2p"}, "spec": spec}
    server = FakeArgo(orchs_own, executor=Executor(tmp_path / "cluster", tmp_path))
    result = result_from_workflow(graph, {**document, "status": server.status(document, done=True)}, {})
    assert result.steps["report"].outputs == {"v": "x", "status": "failed", "failed": ["s4"]}
    assert result.status == "failed"


def test_a_finally_step_reads_a_steps_artifact_through_its_global_output_null_unless_it_succeeded(cluster, validator):
    """What a failed pod uploaded is a global output too (the wait container saves it): the runner does not read it, and
    a finally command step reading an artifact runs through the runner, so it gets '' for each null."""
    spec = {"apiVersion": "orch/v1", "name": "p", "steps": {
        "made": {"python": "conformance_steps:write_file", "args": {"text": "hello"},
                 "outputs": {"file": "artifact", "scratch": "string"}},
        "broke": {"command": ["sh", "-c", 'printf lost > "$ORCH_OUTPUTS/file"; exit 1'], "outputs": {"file": "artifact"}},
        "never": {"command": ["sh", "-c", 'printf x > "$ORCH_OUTPUTS/file"'], "when": "1 == 2", "outputs": {"file": "artifact"}},
    }, "finally": {
        **{f"py-{s}": {"python": "conformance_steps:describe", "args": {"path": f"${{{{ steps.{s}.outputs.file }}}}"},
                       "outputs": {"seen": "json"}} for s in ("made", "broke", "never")},
        "cmd": {"command": ["sh", "-c", 'printf "[%s|%s|%s]" "$(cat "$A")" "$B" "$C" > "$ORCH_OUTPUTS/text"'], "env": {
            "A": "${{ steps.made.outputs.file }}", "B": "${{ steps.broke.outputs.file }}", "C": "${{ steps.never.outputs.file }}"},
            "outputs": {"text": "string"}},
    }}
    (document,) = check(parse_spec(yaml.safe_dump(spec, sort_keys=False)), validator)
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    assert templates["made"]["outputs"]["artifacts"][0]["globalName"] == "made__file"
    (task,) = [t for t in templates["Orch-finally"]["dag"]["tasks"] if t["name"] == "py-made"]
    assert task["arguments"]["artifacts"] == [{"name": "made_file", "from": "{{workflow.outputs.artifacts.made__file}}",
                                              "optional": True}]
    result, server, _ = cluster(spec)
    seen = {name: result.steps[f"py-{name}"].outputs["seen"] for name in ("made", "broke", "never")}
    assert seen["made"]["file"][0] == 5 and seen["broke"] is None and seen["never"] is None
    assert result.steps["cmd"].outputs == {"text": "[hello||]"}
    (workflow,) = server.workflows.values()  # Argo exported what the failed pod uploaded: it is not read
    assert {a["name"] for a in workflow["status"]["outputs"]["artifacts"]} == {"made__file", "broke__file"}


@pytest.mark.parametrize("steps, final, code, why", [
    ({"fan": {"python": "m:f", "foreach": [1, 2], "outputs": {"v": "string"}}}, {"python": "m:g"}, "E831",
     "overwrite one global output"),
    ({"fan": {"command": ["echo"], "outputs": {"v": {"type": "string", "from": "stdout"}}}}, {"python": "m:g"}, "E831",
     "not a step's stdout"),
    ({"fan": {"python": "m:f", "outputs": {"v": "artifact"}}},
     {"command": ["cat"], "outputs": {"o": {"type": "string", "from": "stdout"}}}, "E825", "runs through orch's runner"),
])
def test_what_the_exit_handler_cannot_read_is_refused_at_the_finally_step(steps, final, code, why):
    from orch.core import SpecError

    final = {**final, ("args" if "python" in final else "env"): {"v": "${{ steps.fan.outputs.v }}"}}
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps, "finally": {"f": final}}))
    with pytest.raises(SpecError) as error:
        render(graph)
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == code and why in diagnostic.message and diagnostic.path[:2] == ("finally", "f")


TEMPLATED = {"apiVersion": "orch/v1", "name": "t", "params": {"n": {"type": "integer", "default": 4}}, "templates": {
    "keep": {"inputs": {"value": "integer"}, "python": "conformance_steps:echo", "args": {"value": "${{ inputs.value }}"},
               "outputs": {"n": "integer"}},
    "say": {"inputs": {"word": "string", "suffix": {"type": "string", "default": "!"}},
            "command": ["sh", "-c", 'printf "%s%s %s" "${{ inputs.word }}" "${{ inputs.suffix }}" "$WHO"'],
            "env": {"WHO": "you"}, "outputs": {"said": {"type": "string", "from": "stdout"}}},
}, "steps": {
    "one": {"uses": "keep", "with": {"value": 1}},
    "two": {"uses": "keep", "with": {"value": "${{ params.n }}"}},
    "three": {"uses": "keep", "with": {"value": "${{ steps.one.outputs.n }}"}},
    "hi": {"uses": "say", "with": {"word": "hi"}},
    "yo": {"uses": "say", "with": {"word": "${{ steps.two.outputs.n }}", "suffix": "?"}, "env": {"WHO": "me"}},
    "hey": {"uses": "say", "with": {"word": "hey"}, "outputs": {"said": "string"},
            "command": ["sh", "-c", 'printf hey > "$ORCH_OUTPUTS/said"']},  # its own command: another shape
}, "finally": {
    "last": {"uses": "keep", "with": {"value": "${{ steps.two.outputs.n }}"}},  # in the exit handler, reading a global
}}


def test_a_template_used_three_times_is_one_argo_template_and_each_use_runs_with_its_values(cluster, validator):
    graph = parse_spec(yaml.safe_dump(TEMPLATED, sort_keys=False))
    (document,) = check(graph, validator)
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    tasks = {t["name"]: t for t in templates["Main"]["dag"]["tasks"]}
    final = {t["name"]: t for t in templates["Orch-finally"]["dag"]["tasks"]}
    assert {tasks[s]["template"] for s in ("one", "two", "three")} | {final["last"]["template"]} == {"Uses-keep"}
    assert [p["globalName"] for p in templates["Uses-keep"]["outputs"]["parameters"]] == ["{{inputs.parameters.Global-n}}"]
    assert {p["name"]: p["value"] for p in tasks["two"]["arguments"]["parameters"]}["Global-n"] == "two__n"
    assert "Global-n" not in {p["name"] for p in tasks["one"]["arguments"]["parameters"]}  # '': not exported
    assert {tasks[s]["template"] for s in ("hi", "yo")} == {"Uses-say"} and tasks["hey"]["template"] == "Uses-say-2"
    assert not {"one", "two", "three", "hi", "yo", "hey", "last"} & set(templates)
    say = templates["Uses-say"]["container"]
    assert say["args"] == ["-c", "{{=fromBase64(inputs.parameters[\"Arg-2\"])}}"] and say["env"][0] == {
        "name": "WHO", "value": "{{inputs.parameters.Env-WHO}}"}  # a literal each use writes its own way, as text
    assert {p["name"]: p["value"] for p in tasks["hi"]["arguments"]["parameters"]}["Env-WHO"] == "you"
    result, _, _ = cluster(TEMPLATED)
    outputs = {name: step.outputs for name, step in result.steps.items()}
    assert outputs == {"one": {"n": 1}, "two": {"n": 4}, "three": {"n": 1}, "hi": {"said": "hi! you"},
                       "yo": {"said": "4? me"}, "hey": {"said": "hey"}, "last": {"n": 4}}
    assert result.status == "succeeded"


def test_past_a_template_per_step_a_templates_uses_share_one_named_after_it():
    steps = {f"s{i}": {"uses": "keep", "with": {"value": i}} for i in range(3)}
    steps.update({f"f{i}": {"python": "m:f"} for i in range(190)})
    graph = parse_spec(yaml.safe_dump({**TEMPLATED, "steps": steps, "finally": {}}))
    spec = workflow_spec(graph).model_dump(by_alias=True, exclude_none=True, mode="json")
    tasks = {t["name"]: t["template"] for t in spec["templates"][0]["dag"]["tasks"]}
    assert {tasks[f"s{i}"] for i in range(3)} == {"Uses-keep"} and tasks["f0"] == "step-1"
