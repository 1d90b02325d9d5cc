"""The ports of public pipelines (specs/ports: Argo's dag-nested and exit-handlers, Kubeflow's pipeline-in-pipeline
inside an ExitHandler, Airflow's task groups in Python) run on the local backend as their originals would: the
RunResult's statuses and outputs, and the order the groups' steps ran in."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from .conftest import SPECS

PORTS = SPECS / "ports"


@pytest.fixture
def run(orch, tmp_path, monkeypatch):
    """`orch run PORT --json -p ...` in a fresh working folder with its own orch state: (exit code, RunResult)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))

    def go(port: str, **params) -> tuple[int, dict]:
        flags = [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]
        code, out, err = orch("run", PORTS / port, "--json", *flags)
        assert out, err
        return code, json.loads(out)

    return go


def statuses(result: dict) -> dict[str, str]:
    return {name: step["status"] for name, step in result["steps"].items()}


def outputs(result: dict) -> dict[str, dict]:
    return {name: step["outputs"] for name, step in result["steps"].items() if step["outputs"]}


def moment(step: dict, field: str) -> datetime:
    return datetime.fromisoformat(step[field].replace("Z", "+00:00"))


def test_every_port_validates(orch):
    ports = sorted(p for p in PORTS.iterdir() if p.suffix == ".yaml" or "PipelineBuilder(" in p.read_text("utf-8"))
    assert [p.name for p in ports] == ["airflow_task_groups.py", "argo-dag-nested.yaml", "argo-exit-handlers.yaml",
                                       "kfp-pipeline-in-pipeline.yaml"]
    code, out, err = orch("validate", *ports)
    assert (code, err) == (0, ""), err


# --- Argo examples/dag-nested.yaml: a diamond of diamonds, every leaf the one echo template


def test_argo_dag_nested_runs_a_diamond_of_diamonds_in_order(run):
    code, result = run("argo-dag-nested.yaml")
    assert code == 0 and result["status"] == "succeeded"
    steps = result["steps"]
    groups = "abcd"
    assert statuses(result) == {name: "succeeded" for g in groups for name in (g, *(f"{g}.{s}" for s in groups))}
    for g in groups:
        assert steps[g]["outputs"] == {"last": f"{g.upper()}D"} and steps[g]["attempts"] == 0
        for s in groups:
            assert steps[f"{g}.{s}"]["outputs"] == {"said": (g + s).upper()}  # the template's input, per use
        # inside each group: a, then b and c, then d
        assert moment(steps[f"{g}.a"], "ended_at") <= min(moment(steps[f"{g}.{s}"], "started_at") for s in "bc")
        assert max(moment(steps[f"{g}.{s}"], "ended_at") for s in "bc") <= moment(steps[f"{g}.d"], "started_at")

    def first_start(g):
        return min(moment(steps[f"{g}.{s}"], "started_at") for s in groups)

    def last_end(g):
        return max(moment(steps[f"{g}.{s}"], "ended_at") for s in groups)

    # between the groups: a, then b and c, then d -- a group waits for every step of the groups it follows
    assert last_end("a") <= min(first_start("b"), first_start("c"))
    assert max(last_end("b"), last_end("c")) <= first_start("d")


# --- Argo examples/exit-handlers.yaml around dag-conditional-parameters.yaml's coinflip


def test_argo_exit_handler_cries_after_the_intentional_failure(run):
    code, result = run("argo-exit-handlers.yaml")
    assert code == 1 and result["status"] == "failed"
    assert statuses(result) == {
        "coinflip": "succeeded", "coinflip.flipcoin": "succeeded", "coinflip.heads": "succeeded",
        "coinflip.tails": "skipped", "coinflip.stepresult": "succeeded", "intentional-fail": "failed",
        "send-email": "succeeded", "celebrate": "skipped", "cry": "succeeded"}
    steps = result["steps"]
    assert steps["coinflip"]["outputs"] == {"stepresult": "heads"}
    assert steps["intentional-fail"]["error"] == "exited with status 1: intentional failure after heads"
    assert steps["send-email"]["outputs"]["mail"] == (
        f'send e-mail: {result["run_id"]} failed. Failed steps ["intentional-fail"]')
    assert steps["cry"]["outputs"] == {"said": "boohoo!"}


def test_argo_exit_handler_celebrates_a_run_that_succeeded(run):
    code, result = run("argo-exit-handlers.yaml", coin="tails", fail="false")
    assert code == 0 and result["status"] == "succeeded"
    assert outputs(result)["coinflip"] == {"stepresult": "tails"}  # from the branch that ran
    assert statuses(result)["coinflip.heads"] == "skipped" and statuses(result)["coinflip.tails"] == "succeeded"
    assert outputs(result)["send-email"]["mail"].endswith(" succeeded. Failed steps []")
    assert statuses(result)["celebrate"] == "succeeded" and statuses(result)["cry"] == "skipped"
    assert outputs(result)["celebrate"] == {"said": "hooray!"}


def test_argo_exit_handler_names_a_failed_step_inside_the_group(run):
    code, result = run("argo-exit-handlers.yaml", coin="edge")
    assert code == 1
    assert result["steps"]["coinflip"]["error"] == "step 'flipcoin' failed"
    assert {statuses(result)[s] for s in ("coinflip.heads", "coinflip.tails", "coinflip.stepresult",
                                          "intentional-fail")} == {"upstream_failed"}
    assert outputs(result)["send-email"]["mail"].endswith(' failed. Failed steps ["coinflip.flipcoin"]')
    assert statuses(result)["cry"] == "succeeded"


# --- Kubeflow pipeline_in_pipeline_complex.py inside pipeline_as_exit_task.py's ExitHandler


def test_kfp_parallel_for_over_a_sub_pipeline_branches_per_item_and_notifies_the_failure(run):
    code, result = run("kfp-pipeline-in-pipeline.yaml")
    assert code == 1 and result["status"] == "failed"
    assert statuses(result) == {
        "print-op1": "succeeded", "graph-component": "succeeded", "graph-component.print-op1": "succeeded",
        "graph-component.print-op2": "succeeded", "graph-component.print-op3": "succeeded", "fail-op": "failed",
        "get-run-state": "succeeded", "notify": "succeeded"}
    found = outputs(result)
    assert found["print-op1"] == {"result": "Hello"}
    assert found["graph-component"] == {"echoed": ["Hello", "world!"], "world": ["world", None], "bye": [None, "Bye!"]}
    assert found["graph-component.print-op2"] == {"said": ["world", None]}  # its condition, decided per item
    assert found["get-run-state"] == {"result": "failed"} and found["notify"] == {"said": "notify task failure."}


def test_kfp_exit_task_stays_quiet_when_the_run_succeeded(run):
    code, result = run("kfp-pipeline-in-pipeline.yaml", fail="false", items='["Hello", "Hello", "bye"]')
    assert code == 0 and result["status"] == "succeeded"
    assert outputs(result)["graph-component"] == {
        "echoed": ["Hello", "Hello", "bye"], "world": ["world", "world", None], "bye": [None, None, "Bye!"]}
    assert outputs(result)["get-run-state"] == {"result": "succeeded"} and statuses(result)["notify"] == "skipped"


def test_kfp_parallel_for_over_no_items_succeeds_with_empty_lists(run):
    code, result = run("kfp-pipeline-in-pipeline.yaml", fail="false", items="[]")
    assert code == 0
    assert outputs(result)["graph-component"] == {"echoed": [], "world": [], "bye": []}
    assert {result["steps"][f"graph-component.print-op{n}"]["attempts"] for n in (1, 2, 3)} == {0}


# --- Airflow example_task_group_decorator.py and the mapped task groups of dynamic-task-mapping.rst, in Python


def test_airflow_task_groups_in_python(run):
    code, result = run("airflow_task_groups.py")
    assert code == 0 and result["status"] == "succeeded"
    assert set(statuses(result).values()) == {"succeeded"}
    found = outputs(result)
    chain = [f"[ Task3 [ Task2 [ Task1 {i} ] ] ]" for i in range(5)]
    assert found["task_group_function"] == {"last": chain}
    assert found["task_group_function.task_1"] == {"result": [f"[ Task1 {i} ]" for i in range(5)]}
    assert found["task_end"] == {"result": 5}
    assert found["add_to.add_one"] == {"result": [2, 3, 4]}
    assert found["add_to"] == {"doubled": [4, 6, 8]} and found["consumer"] == {"result": [4, 6, 8]}
    assert found["my_task_group"] == {"chosen": ["a", "b", "c"]}
    assert [found[f"my_task_group.{letter}"]["result"] for letter in "abc"] == [
        ["a", None, None], [None, "b", None], [None, None, "c"]]  # one branch per item
    assert found["report"] == {"line": "succeeded []"}


def test_airflow_mapped_group_items_are_independent(run):
    code, result = run("airflow_task_groups.py", inputs='["b", "zz", "ab"]', count="[7]")
    assert code == 0
    found = outputs(result)
    assert found["my_task_group"] == {"chosen": ["b", "c", "a"]}
    assert found["my_task_group.c"] == {"result": [None, "c", None]}
    assert found["task_group_function"] == {"last": ["[ Task3 [ Task2 [ Task1 7 ] ] ]"]}
    assert found["task_end"] == {"result": 1}
