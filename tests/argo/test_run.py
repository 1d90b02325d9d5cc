"""`orch run --backend argo` against a local HTTP server speaking the Argo Server's API.

No Kubernetes cluster can run here; the fake server (fake_server.py) plays the workflow
by a model of Argo's DAG rules, so these tests check the client: what it submits, how it
authenticates, and how it reads node statuses back into the RunResult.
"""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from ..conformance.test_random_dags import dags, oracle
from .fake_server import FakeArgo



def by_function(name: str, task: dict) -> dict:
    """Run a task as its step's function says: ':fail' fails (the nested layout's verdict too)."""
    if task["template"] == "Orch-verdict":
        return {"phase": "Failed", "message": "orch: a step failed"}
    if task["template"] == "Orch-gate":
        return {"phase": "Succeeded"}
    if task["call"]["python"].endswith(":fail"):
        return {"phase": "Failed", "message": "Error (exit code 1)"}
    return {"phase": "Succeeded"}


@pytest.fixture
def argo_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARGO_NAMESPACE", "ml")
    monkeypatch.delenv("ARGO_TOKEN", raising=False)

    def write(steps: dict, **fields) -> str:
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", **fields, "steps": steps}, sort_keys=False))
        return str(path)

    return write


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(dags())
def test_random_dags_end_as_the_table_says(orch, argo_env, monkeypatch, steps):
    with FakeArgo(by_function) as server:
        monkeypatch.setenv("ARGO_SERVER", server.url)
        import orch.backends.argo.run as client

        monkeypatch.setattr(client.time, "sleep", lambda seconds: None)
        code, out, err = orch("run", argo_env(steps), "--backend", "argo", "--json")
    result = json.loads(out)
    expected = oracle(steps)
    assert {name: s["status"] for name, s in result["steps"].items()} == expected, err
    assert result["backend"] == "argo" and result["run_id"] == "p-x7k2p"
    assert code == (1 if "failed" in expected.values() else 0)


def test_submission_outputs_attempts_and_errors(orch, argo_env, monkeypatch):
    def outcome(name, task):
        return {"train": {"phase": "Succeeded", "attempts": 3, "outputs": {"accuracy": 0.93, "model": "s3://m/1"}},
                "deploy": {"phase": "Failed", "message": "OOMKilled (exit code 137)"}}.get(name, {"phase": "Succeeded"})

    spec = argo_env({
        "train": {"python": "m:train", "outputs": {"accuracy": "number", "model": "string"}, "retries": 3},
        "deploy": {"python": "m:deploy", "args": {"model": "${{ steps.train.outputs.model }}"}},
        "notify": {"python": "m:notify", "after": ["deploy"], "trigger": "any_failed"},
    }, params={"threshold": {"type": "number", "default": 0.5}})
    with FakeArgo(outcome, polls_before_done=2, token="s3cret") as server:
        monkeypatch.setenv("ARGO_SERVER", server.url)
        monkeypatch.setenv("ARGO_TOKEN", "s3cret")
        import orch.backends.argo.run as client

        monkeypatch.setattr(client.time, "sleep", lambda seconds: None)
        code, out, err = orch("run", spec, "--backend", "argo", "--json", "-p", "threshold=0.7")
        method, path, body = server.requests[0]
    assert (method, path) == ("POST", "/api/v1/workflows/ml")
    assert body["workflow"]["spec"]["arguments"]["parameters"] == [{"name": "threshold", "value": "0.7"}]
    assert [r[0] for r in server.requests] == ["POST", "GET", "GET", "GET"]  # watched until it ended
    result = json.loads(out)
    assert code == 1 and result["status"] == "failed" and result["params"] == {"threshold": 0.7}
    assert result["steps"]["train"] == {**result["steps"]["train"], "status": "succeeded", "attempts": 3,
                                        "outputs": {"accuracy": 0.93, "model": "s3://m/1"}}
    assert result["steps"]["deploy"]["error"] == "OOMKilled (exit code 137)"
    assert result["steps"]["notify"]["status"] == "succeeded"


def test_a_wrong_token_is_exit_3(orch, argo_env, monkeypatch):
    with FakeArgo(by_function, token="right") as server:
        monkeypatch.setenv("ARGO_SERVER", server.url)
        monkeypatch.setenv("ARGO_TOKEN", "wrong")
        code, _, err = orch("run", argo_env({"a": {"python": "m:ok"}}), "--backend", "argo")
    assert code == 3 and "the Argo Server refused the request" in err


def test_an_unreachable_server_is_exit_3(orch, argo_env, monkeypatch):
    monkeypatch.setenv("ARGO_SERVER", "http://127.0.0.1:9")
    code, _, err = orch("run", argo_env({"a": {"python": "m:ok"}}), "--backend", "argo")
    assert code == 3 and "cannot reach the Argo Server at http://127.0.0.1:9" in err


def test_no_server_named_is_exit_3(orch, argo_env, monkeypatch):
    monkeypatch.delenv("ARGO_SERVER", raising=False)
    code, _, err = orch("run", argo_env({"a": {"python": "m:ok"}}), "--backend", "argo")
    assert code == 3 and "set ARGO_SERVER" in err


def test_a_nested_workflow_is_read_back_through_its_chunks(orch, argo_env, monkeypatch):
    steps = {f"s{i}": {"python": "m:fail" if i == 250 else "m:ok", **({"after": [f"s{i - 1}"]} if i else {})} for i in range(260)}
    steps["tidy"] = {"python": "m:ok", "after": ["s259"], "trigger": "all_done"}
    with FakeArgo(by_function) as server:
        monkeypatch.setenv("ARGO_SERVER", server.url)
        import orch.backends.argo.run as client

        monkeypatch.setattr(client.time, "sleep", lambda seconds: None)
        code, out, err = orch("run", argo_env(steps), "--backend", "argo", "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "failed"
    states = {name: s["status"] for name, s in result["steps"].items()}
    assert states["s249"] == "succeeded" and states["s250"] == "failed"
    assert states["s251"] == states["s259"] == "upstream_failed" and states["tidy"] == "succeeded"


def test_a_conditional_fan_out_is_gated_so_empty_and_skipped_differ(orch, argo_env, monkeypatch):
    def outcome(name, task):
        if name == "empty":
            return {"phase": "Skipped"}  # Argo skips the task group of an empty withParam
        return by_function(name, task)

    spec = argo_env({
        "a": {"python": "m:ok"},
        "empty": {"python": "m:ok", "foreach": [], "when": "1 == 1", "after": ["a"], "outputs": {"v": "string"}},
        "after-empty": {"python": "m:ok", "after": ["empty"]},
        "off": {"python": "m:ok", "foreach": [1, 2], "when": "1 == 2", "after": ["a"]},
        "after-off": {"python": "m:ok", "after": ["off"]},
    })
    with FakeArgo(outcome) as server:
        monkeypatch.setenv("ARGO_SERVER", server.url)
        import orch.backends.argo.run as client

        monkeypatch.setattr(client.time, "sleep", lambda seconds: None)
        code, out, err = orch("run", spec, "--backend", "argo", "--json")
    steps = json.loads(out)["steps"]
    assert (steps["empty"]["status"], steps["empty"]["outputs"]) == ("succeeded", {"v": []})
    assert steps["after-empty"]["status"] == "succeeded"
    assert steps["off"]["status"] == steps["after-off"]["status"] == "skipped"
    assert code == 0


def test_a_throttled_fan_out_runs_and_reads_back_as_without_its_limit(orch, argo_env, monkeypatch):
    """Its task runs in its wrapper (`Fan-STEP`, `parallelism`); the RunResult is the one without the limit."""
    items = {"fan": [{"phase": "Succeeded", "outputs": {"v": "a"}},
                     {"phase": "Succeeded", "attempts": 2, "outputs": {"v": "b"}}],
             "broken": [{"phase": "Succeeded"}, {"phase": "Failed", "message": "Error (exit code 1)"}]}

    def outcome(name, task):
        if name == "empty":
            return {"phase": "Skipped"}  # Argo skips the task group of an empty withParam
        if name in items:
            return {"phase": "Failed" if name == "broken" else "Succeeded", "items": items[name]}
        return by_function(name, task)

    def run(parallelism):
        limit = {"parallelism": parallelism} if parallelism else {}
        spec = argo_env({
            "source": {"python": "m:ok", "outputs": {"items": "json"}},
            "fan": {"python": "m:ok", "foreach": "${{ steps.source.outputs.items }}", "outputs": {"v": "string"}, **limit},
            "empty": {"python": "m:ok", "foreach": [], "outputs": {"v": "string"}, **limit},
            "broken": {"python": "m:ok", "foreach": [1, 2], **limit},
            "use": {"python": "m:ok", "args": {"v": "${{ steps.fan.outputs.v }}", "e": "${{ steps.empty.outputs.v }}"}},
            "after-broken": {"python": "m:ok", "after": ["broken"]},
        })
        with FakeArgo(outcome) as server:
            monkeypatch.setenv("ARGO_SERVER", server.url)
            import orch.backends.argo.run as client

            monkeypatch.setattr(client.time, "sleep", lambda seconds: None)
            code, out, err = orch("run", spec, "--backend", "argo", "--json")
        (workflow,) = server.workflows.values()
        return code, json.loads(out), {t["name"]: t for t in workflow["spec"]["templates"]}

    code, result, templates = run(2)
    assert templates["Fan-fan"]["parallelism"] == templates["Fan-broken"]["parallelism"] == 2
    plain_code, plain, _ = run(None)
    assert (code, result) == (plain_code, plain)
    steps = result["steps"]
    assert (steps["fan"]["status"], steps["fan"]["outputs"], steps["fan"]["attempts"]) == ("succeeded", {"v": ["a", "b"]}, 2)
    assert (steps["empty"]["status"], steps["empty"]["outputs"]) == ("succeeded", {"v": []})
    assert steps["use"]["status"] == "succeeded"
    assert (steps["broken"]["status"], steps["broken"]["error"]) == ("failed", "item 1: Error (exit code 1)")
    assert steps["after-broken"]["status"] == "upstream_failed" and code == 1
