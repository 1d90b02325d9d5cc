"""Random DAGs of succeeding, failing and conditional steps with random triggers, run for
real, must end exactly as DESIGN §3's table says -- computed here by an independent oracle.

Each run holds several independent random DAGs side by side (the trigger table judges each
step by its own upstream steps only), so engines with seconds of start-up per run
(Airflow's `dag.test()`, Prefect) check many DAGs per run."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import BACKENDS, SERVERS, _param

TRIGGERS = ["all_succeeded", "none_failed", "all_done", "any_failed"]
FAILED = {"failed", "upstream_failed"}


def oracle(steps: dict) -> dict[str, str]:
    """Each step's final state, straight from the trigger table (steps listed upstream first)."""
    state: dict[str, str] = {}
    for name, step in steps.items():
        ups = [state[u] for u in step.get("after", [])]
        trigger = step.get("trigger", "all_succeeded")
        any_failed = any(s in FAILED for s in ups)
        if trigger == "all_succeeded":
            runs = all(s == "succeeded" for s in ups)
            otherwise = "upstream_failed" if any_failed else "skipped"
        elif trigger == "none_failed":
            runs, otherwise = not any_failed, "upstream_failed"
        elif trigger == "all_done":
            runs, otherwise = True, None
        else:
            runs, otherwise = any_failed, "skipped"
        if not runs:
            state[name] = otherwise
        elif step.get("when") == "1 == 2":
            state[name] = "skipped"
        else:
            state[name] = "failed" if step["python"].endswith(":fail") else "succeeded"
    return state


@st.composite
def dags(draw, prefix: str = ""):
    count = draw(st.integers(2, 9))
    steps = {}
    for i in range(count):
        name = f"{prefix}s{i}"
        step = {"python": draw(st.sampled_from(["conformance_steps:ok"] * 3 + ["conformance_steps:fail"]))}
        after = draw(st.lists(st.sampled_from([f"{prefix}s{j}" for j in range(i)]), unique=True, max_size=3)) if i else []
        if after:
            step["after"] = after
            step["trigger"] = draw(st.sampled_from(TRIGGERS))
        if draw(st.integers(0, 4)) == 0:
            step["when"] = draw(st.sampled_from(["1 == 2", "1 == 1"]))
        steps[name] = step
    return steps


@st.composite
def side_by_side(draw):
    """One to six random DAGs as one pipeline (step names g<k>s<i>)."""
    steps = {}
    for k in range(draw(st.integers(1, 6))):
        steps.update(draw(dags(prefix=f"g{k}")))
    return steps


RULES = dict(deadline=None, suppress_health_check=list(HealthCheck))


SLOW = ("airflow",)  # dag.test() runs a task at a time: 8-13 s an example; airflow-server checks 2 more


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b not in SERVERS and b not in SLOW], indirect=True)
@settings(max_examples=5, **RULES)
@given(side_by_side())
def test_random_dags_end_as_the_table_says(run_spec, steps):
    _ends_as_the_table_says(run_spec, steps)


@pytest.mark.parametrize("backend", [*SLOW, *(_param(b) for b in SERVERS)], indirect=True)
@settings(max_examples=2, **RULES)  # on a server each example is a deploy and a run (6-9 s); dag.test() 8-13 s
@given(side_by_side())
def test_random_dags_on_slow_engines_end_as_the_table_says(run_spec, steps):
    _ends_as_the_table_says(run_spec, steps)


def _ends_as_the_table_says(run_spec, steps):
    code, result = run_spec({"apiVersion": "orch/v1", "name": "random", "steps": steps})
    expected = oracle(steps)
    assert {name: s["status"] for name, s in result["steps"].items()} == expected
    assert result["status"] == ("failed" if "failed" in expected.values() else "succeeded")
    assert code == (1 if "failed" in expected.values() else 0)
