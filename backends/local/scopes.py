"""Groups on the local backend: the instances of a scope's runs, and how a group ends (docs/semantics.md#groups).

A scope is the pipeline's level or a group's inside; which of its nodes wait for which is
core/groups.py's scope_edges, which every backend shares. Each run of a scope (the pipeline, a group, one item of a
fan-out group) has instance names of its own: `sweep[2].train` is item 2's `sweep.train`. A run of a scope is also
what fail_fast stops (executor.py, `_stop_new_work`): a failure in `sweep[2]` starts no more of item 2's nodes.
"""

from __future__ import annotations

from typing import Iterable, Optional

from orch.core import groups
from orch.core.result import StepResult, state_over_items


def instance(scope_instance: str, qualified: str) -> str:
    """The instance name of `qualified` in a run of its scope."""
    return groups.qualify(scope_instance, groups.local(qualified))


def item_scope(group_instance: str, index: Optional[int]) -> str:
    """The instance of a group's inside: the group's own, or one item's (`sweep[2]`)."""
    return group_instance if index is None else f"{group_instance}[{index}]"


def across_items(results: list[StepResult], outputs: Iterable[str]) -> StepResult:
    """A step (or group) inside a fan-out, its items reported as one (docs/semantics.md#groups)."""
    attempts = max((r.attempts for r in results), default=0)
    status = state_over_items(r.status for r in results)
    if status == "failed":
        failed = next(i for i, r in enumerate(results) if r.status == "failed")
        return StepResult(status="failed", attempts=attempts, error=f"item {failed}: {results[failed].error}")
    if status == "succeeded":
        values = {o: [r.outputs.get(o) if r.status == "succeeded" else None for r in results] for o in outputs}
        return StepResult(status="succeeded", attempts=attempts, outputs=values)
    return StepResult(status=status, attempts=attempts)


def first_failure(children: list[tuple[str, str]], results: dict[str, StepResult], pipeline) -> Optional[str]:
    """What a failed run of a group's inside says: its first failed node, of (instance, qualified) in spec order."""
    for child, qualified in children:
        if results[child].status == "failed":
            kind = "group" if qualified in pipeline.groups else "step"
            return f"{kind} {groups.local(qualified)!r} failed"
    return None
