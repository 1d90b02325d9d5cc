"""Every case in cases/ on every backend: the RunResult must match the case's expectations.

A case is a spec and its expected, normalized RunResult: the pipeline's status and, per
step named, its status, attempts, outputs (exactly) and error (a substring). A known gap
is written in the case: `gaps: {prefect: {kind: notyet, reason: "..."}}`.

A case with `servers: false` runs on the in-process engines only: a rule orch's runtime decides inside a task
(triggers, conditions, null references, output checks, a group's state) runs the same code on a server's worker.
The servers run the cases where the server decides -- its scheduler (retries, timeouts, fail_fast, parallel
steps), its records read back (fan-out, groups, finally steps, errors, names, bytes and types through its
storage and its API) and its worker's processes -- and the suite keeps to its 20 minutes on two cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orch.core import groups
from orch.core.load import parse_spec

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def load_case(path: Path) -> dict:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    case["spec"] = {"apiVersion": "orch/v1", "name": path.stem, **case["spec"]}
    return case


def with_gaps(path: Path):
    """The case as a pytest param, carrying its `gaps:` (backend -> {kind, reason, strict}) as markers."""
    gaps = yaml.safe_load(path.read_text(encoding="utf-8")).get("gaps", {})
    marks = [getattr(pytest.mark, gap["kind"])([backend], reason=gap["reason"], strict=gap.get("strict", True))
             for backend, gap in gaps.items()]
    return pytest.param(path, marks=marks, id=path.stem)


@pytest.mark.parametrize("path", [with_gaps(p) for p in CASES])
def test_case(run_spec, backend, path):
    case = load_case(path)
    if case.get("servers") is False and backend.endswith("-server"):  # said in the case, kept to the suite's time
        pytest.skip("servers: false -- a rule decided inside the task, the same code on a server's worker "
                    "(run on local, prefect and airflow)")
    code, result = run_spec(case["spec"], case.get("params"))
    check_case(case, code, result)


def check_case(case: dict, code: int, result: dict) -> None:
    """The RunResult (and exit code) against the case's expectations."""
    expect = case["expect"]
    assert result["status"] == expect["status"], result
    assert code == (0 if expect["status"] == "succeeded" else 1)
    pipeline = parse_spec(json.dumps({"apiVersion": "orch/v1", **case["spec"]})).pipeline
    assert list(result["steps"]) == [*groups.order(pipeline), *pipeline.finally_]  # every step and group, in spec order
    if "params" in expect:
        assert result["params"] == expect["params"]
    for name, got in result["steps"].items():  # a step that did not run made no attempt; a failed one made some
        if got["status"] in ("skipped", "upstream_failed"):
            assert got["attempts"] == 0 and got["outputs"] == {}, f"{name}: {got}"
        elif got["status"] == "failed" and name not in pipeline.groups:  # a group makes no attempt of its own
            assert got["attempts"] >= 1 or "foreach" in got["error"], f"{name}: {got}"
    for name, wanted in expect.get("steps", {}).items():
        got = result["steps"][name]
        for field in ("status", "attempts", "outputs"):
            if field in wanted:
                assert got[field] == wanted[field], f"{name}.{field}: {got}"
        if "error" in wanted:
            assert got["error"] and wanted["error"] in got["error"], f"{name}.error: {got}"
        elif got["status"] != "failed":
            assert got["error"] is None, f"{name}: only a failed step has an error: {got}"


def test_there_are_cases_for_every_rule():
    assert len(CASES) >= 20
