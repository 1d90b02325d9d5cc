"""Conformance checks that need more than a RunResult to compare: times, processes, the run's context."""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

import pytest


def spec(name: str, steps: dict, **fields) -> dict:
    return {"apiVersion": "orch/v1", "name": name, **fields, "steps": steps}


@pytest.mark.notyet(["airflow"], reason="dag.test() starts a retry when its loop next looks, 1-2 s late; the rendered "
                    "retry policy gives a scheduler the exact delay")
@pytest.mark.notyet(["airflow-server"], reason="a scheduler starts a retry at its delay after the try's end, but each "
                    "try of a task starts its own process first (0.2-0.4 s): start to start, the 0.8 s wait measured "
                    "1.08-1.31 s (tests/airflow/test_server.py checks end to next start)")
def test_retry_delays_are_exact(run_spec, workdir):
    """Retry k waits min(delay * factor**(k-1), max_delay): here 0.3 s, 0.6 s, then capped at 0.8 s."""
    retries = {"limit": 3, "delay": "300ms", "factor": 2, "max_delay": "800ms"}
    code, result = run_spec(spec("retry-gaps", {
        "flaky": {"python": "conformance_steps:flaky", "args": {"failures": 3}, "retries": retries},
    }))
    assert code == 0 and result["steps"]["flaky"]["attempts"] == 4
    starts = [float(t) for t in (workdir / "flaky.times").read_text().split()]
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    for gap, wanted in zip(gaps, [0.3, 0.6, 0.8]):
        assert wanted <= gap <= wanted + 0.25, gaps  # never early; late only by process start-up


def test_a_timeout_kills_the_whole_process_tree(run_spec, workdir):
    code, result = run_spec(spec("timeout-tree", {
        "tree": {"command": ["sh", "-c", 'sleep 60 & echo $! > child.pid; wait'], "timeout": "500ms"},
    }))
    step = result["steps"]["tree"]
    assert _seconds(step) < 30  # not the 60 s of its child (a task's own time includes its start-up on Airflow)
    assert step["status"] == "failed"
    assert "timed out after 0.5s" in result["steps"]["tree"]["error"]
    child = int((workdir / "child.pid").read_text())
    time.sleep(0.2)
    assert not _alive(child), "the step's own child process outlived its timeout"


@pytest.mark.notyet(["airflow"], reason="dag.test() runs one task at a time (a scheduler with a parallel executor does not)")
def test_independent_steps_run_at_the_same_time(run_spec, workdir):
    """Four half-second steps overlap: each starts before any ends (engines differ in fixed start-up cost)."""
    steps = {name: {"python": "conformance_steps:sleep", "args": {"seconds": 0.5}} for name in ("a", "b", "c", "d")}
    code, result = run_spec(spec("parallel", steps))
    assert code == 0
    times = [(datetime.datetime.fromisoformat(s["started_at"]), datetime.datetime.fromisoformat(s["ended_at"]))
             for s in result["steps"].values()]
    assert max(start for start, _ in times) < min(end for _, end in times), times


def test_run_id_and_date_reach_steps(run_spec):
    code, result = run_spec(spec("run-context", {
        "ident": {"python": "conformance_steps:echo", "args": {"value": "${{ run.id }}"}, "outputs": {"value": "string"}},
        "day": {"command": ["sh", "-c", 'printf "%s" "$D" > "$ORCH_OUTPUTS/value"'], "env": {"D": "${{ run.date }}"},
                "outputs": {"value": "string"}},
    }))
    assert code == 0
    assert result["steps"]["ident"]["outputs"]["value"] == result["run_id"]
    today = datetime.datetime.now(datetime.timezone.utc).date()
    assert datetime.date.fromisoformat(result["steps"]["day"]["outputs"]["value"]) in (today, today - datetime.timedelta(days=1))


def test_times_are_recorded(run_spec):
    code, result = run_spec(spec("times", {"a": {"python": "conformance_steps:sleep", "args": {"seconds": 0.2}}}))
    step = result["steps"]["a"]
    assert 0.2 <= _seconds(step) < 10  # on Airflow a task's times include its own start-up
    assert result["started_at"] <= step["started_at"] <= step["ended_at"] <= result["ended_at"]


def _seconds(step: dict) -> float:
    started, ended = (datetime.datetime.fromisoformat(step[k]) for k in ("started_at", "ended_at"))
    return (ended - started).total_seconds()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
