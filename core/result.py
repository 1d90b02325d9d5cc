"""`RunResult`: what every backend reports about a run, so backends can be compared field by field."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "upstream_failed"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "skipped", "upstream_failed"})
FAILED: frozenset[str] = frozenset({"failed", "upstream_failed"})


class StepResult(BaseModel):
    status: StepStatus = "pending"
    attempts: int = 0  # attempts started; for a fan-out step, the most any item took
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: Optional[str] = None
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None


class RunResult(BaseModel):
    pipeline: str
    backend: str
    run_id: str
    status: RunStatus
    params: dict[str, Any] = Field(default_factory=dict)
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    steps: dict[str, StepResult] = Field(default_factory=dict)
    error: Optional[str] = None  # the engine's own error, when the run failed outside any step

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


LEAF_FAILURES = ("failed", "upstream_failed")  # a leaf's ends that fail a pipeline judged by its leaves


def pipeline_status(steps: dict[str, StepResult], engine_ok: bool = True, leaves=None) -> RunStatus:
    """Failed if the engine's own record of the ended run is a failure (a flow that raised); else as run_outcome
    judges the steps' ends (any failed, or one of its `leaves` failed or upstream_failed; a step never finished)."""
    if not engine_ok:
        return "failed"
    return run_outcome({name: step.status for name, step in steps.items()}, list(steps), leaves)["status"]


def run_outcome(statuses: dict[str, str], steps, leaves=None) -> dict[str, Any]:
    """What a finally step reads as `run.status` and `run.failed_steps`: from the final states (name -> status; one
    missing counts as not finished) of the steps and groups in `steps`, in their order (the spec's). A failed group
    is named only when no step inside it failed: its own list was bad. Judged by its `leaves` (a list, or None:
    every step), the run fails only where one of them ended failed or upstream_failed; failed_steps still names
    every failed step."""
    failed = [name for name in steps if statuses.get(name) == "failed"]
    own = [name for name in failed if not any(inner.startswith(name + ".") for inner in failed)]
    done = all(statuses.get(name) in FINISHED for name in steps)
    failing = failed if leaves is None else [leaf for leaf in leaves if _leaf_state(statuses, leaf) in LEAF_FAILURES]
    return {"status": "failed" if failing or not done else "succeeded", "failed_steps": own}


def _leaf_state(statuses: dict[str, str], leaf: str) -> str | None:
    """A leaf's end: a step's own; a group's, where the reader has it, else its inside's as one scope."""
    if leaf in statuses:
        return statuses[leaf]
    inside = [state for name, state in statuses.items() if name.startswith(leaf + ".")]
    return scope_state(inside) if inside else None


def scope_state(states) -> str:
    """A run of a group's inside (or a fan-out group, from its items' runs): a failure anywhere fails it, a stop
    before running makes it upstream_failed, all skipped skips it (docs/semantics.md#groups)."""
    states = list(states)
    if "failed" in states:
        return "failed"
    if "upstream_failed" in states:
        return "upstream_failed"
    if states and all(state == "skipped" for state in states):
        return "skipped"
    return "succeeded"


def state_over_items(states) -> str:
    """A step or group inside a fan-out group, its items' states as one: failed, else succeeded (or no items),
    else upstream_failed, else skipped."""
    states = list(states)
    for state in ("failed", "succeeded", "upstream_failed"):
        if state in states or (state == "succeeded" and not states):
            return state
    return "skipped"
