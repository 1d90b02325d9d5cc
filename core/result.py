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


def pipeline_status(steps: dict[str, StepResult], engine_ok: bool = True) -> RunStatus:
    """Failed if any step failed, whatever handlers ran after it -- or if the engine's own record of the
    ended run is a failure (a flow that raised) or a step never finished; else succeeded."""
    if not engine_ok or any(s.status == "failed" or s.status not in FINISHED for s in steps.values()):
        return "failed"
    return "succeeded"


def run_outcome(statuses: dict[str, str], steps) -> dict[str, Any]:
    """What a finally step reads as `run.status` and `run.failed_steps`: from the final states (name -> status; one
    missing counts as not finished) of the steps and groups in `steps`, in their order (the spec's). A failed group
    is named only when no step inside it failed: its own list was bad."""
    failed = [name for name in steps if statuses.get(name) == "failed"]
    own = [name for name in failed if not any(inner.startswith(name + ".") for inner in failed)]
    done = all(statuses.get(name) in FINISHED for name in steps)
    return {"status": "failed" if failed or not done else "succeeded", "failed_steps": own}


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
