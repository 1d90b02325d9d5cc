"""Triggers as Argo `depends` expressions, exact to DESIGN §3.

Argo runs a task when its `depends` expression over task results is true and marks it
Omitted otherwise; a false `when` marks it Skipped (workflow/controller/dag.go). A bare
name means `A.Succeeded || A.Skipped || A.Daemoned` -- dependents of a skipped task
would run -- so every result here is explicit.

orch's four states land on Argo's phases as succeeded -> Succeeded, failed ->
Failed/Error, skipped -> Skipped (condition false) or Omitted (trigger not met),
upstream_failed -> Omitted. Omitted alone cannot tell "skipped" from
"upstream_failed", so the expressions look further up: a step is failed-or-
upstream_failed exactly when it, or an ancestor whose failure reaches it, failed. A
failure reaches X from A along a path on which every step after A propagates it
(trigger all_succeeded or none_failed): such a step always ends upstream_failed once an
upstream did.
"""

from __future__ import annotations

import re
from typing import Callable

from orch.core.graph import PipelineGraph
from orch.core.names import argo_name

from .layout import throttled

PROPAGATING = ("all_succeeded", "none_failed")
DONE = ("Succeeded", "Skipped", "Failed", "Errored", "Omitted")
_RESULT = re.compile(r"([a-z0-9][a-z0-9-]*)\.(Succeeded|Failed|Errored|Skipped|Omitted)\b")  # steps' tasks
_ANY_RESULT = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*)\.[A-Z][a-zA-Z]+")  # any task's, orch's own too (ancestry.go)


def tasks_in(expression: str) -> list[str]:
    """The task names a depends expression reads, in order of first use."""
    return list(dict.fromkeys(m.group(1) for m in _RESULT.finditer(expression)))


def leaves(tasks: list[dict]) -> list[str]:
    """The tasks of a DAG no other task of it depends on: Argo's targets when none is set (dag.go, findLeafTaskNames)."""
    read = {name for task in tasks for name in _ANY_RESULT.findall(task.get("depends") or "")}
    return [task["name"] for task in tasks if task["name"] not in read]


def as_status_test(expression: str, status_of: Callable[[str], str]) -> str:
    """The same test over node statuses, in expr-lang (for a `when`, where `depends` cannot reach)."""
    phase = {"Errored": "Error"}
    return _RESULT.sub(lambda m: f'({status_of(m.group(1))} == "{phase.get(m.group(2), m.group(2))}")', expression)


def waits_for(tasks: list[str]) -> str | None:
    """A `depends` that only waits for these tasks to end, however they end."""
    return _all([_any([f"{task}.{phase}" for phase in DONE]) for task in tasks]) if tasks else None


def trigger_of(graph: PipelineGraph, step: str) -> str:
    return graph.pipeline.steps[step].trigger or "all_succeeded"


def failure_sources(graph: PipelineGraph, step: str) -> list[str]:
    """The ancestors whose failure makes `step` upstream_failed (spec order): those reached through
    steps whose trigger propagates a failure. Walked for one step, when asked: most steps never are,
    so a long chain costs what it holds, not its length squared."""
    found: dict[str, None] = {}
    stack, seen = [step], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if trigger_of(graph, current) in PROPAGATING:
            for upstream in graph.upstream(current):
                found[upstream] = None
                stack.append(upstream)
    return graph.in_spec_order(found)


def _any(terms: list[str]) -> str:
    return terms[0] if len(terms) == 1 else "(" + " || ".join(terms) + ")"


def _all(terms: list[str]) -> str:
    return terms[0] if len(terms) == 1 else "(" + " && ".join(terms) + ")"


def _failed(task: str) -> str:
    return f"({task}.Failed || {task}.Errored)"


def _not_failed(task: str) -> str:
    return f"({task}.Succeeded || {task}.Skipped || {task}.Omitted)"


class Depends:
    """`depends` expressions for the steps of one pipeline."""

    def __init__(self, graph: PipelineGraph):
        self.graph = graph
        self._sources: dict[str, list[str]] = {}
        self._of: dict[str, str | None] = {}  # the layout asks first, the task after
        self._reads: dict[str, list[str]] = {}

    def sources(self, step: str) -> list[str]:
        if step not in self._sources:
            self._sources[step] = failure_sources(self.graph, step)
        return self._sources[step]

    def failed_or_upstream_failed(self, step: str) -> str:
        return _any([_failed(argo_name(s)) for s in [step] + self.sources(step)])

    def succeeded(self, step: str) -> str:
        """A fan-out's task group is Skipped when its list is empty, which orch counts a success
        (its condition, if any, sits in a gate task before it). A throttled fan-out's wrapper succeeds
        then, so its Skipped is only a false `when`."""
        task, spec = argo_name(step), self.graph.pipeline.steps[step]
        empty_is_skipped = spec.foreach is not None and not throttled(spec)
        return f"({task}.Succeeded || {task}.Skipped)" if empty_is_skipped else f"{task}.Succeeded"

    def not_failed(self, step: str) -> str:
        return _all([_not_failed(argo_name(s)) for s in [step] + self.sources(step)])

    def of(self, step: str) -> str | None:
        """The task's `depends`, or None for a step without upstream steps."""
        if step not in self._of:
            self._of[step] = self._formula(step)
        return self._of[step]

    def reads(self, step: str) -> list[str]:
        """The tasks the step's `depends` reads, in order of first use."""
        if step not in self._reads:
            self._reads[step] = tasks_in(self.of(step) or "")
        return self._reads[step]

    def _formula(self, step: str) -> str | None:
        upstream = self.graph.upstream(step)
        if not upstream:
            return None
        trigger = trigger_of(self.graph, step)
        if trigger == "all_succeeded":
            return _all([self.succeeded(u) for u in upstream])
        if trigger == "none_failed":
            return _all([self.not_failed(u) for u in upstream])
        if trigger == "all_done":
            return waits_for([argo_name(u) for u in upstream])
        return _any([self.failed_or_upstream_failed(u) for u in upstream])

    def verdict(self, judged: list[str] | None = None) -> str:
        """A `depends` naming every step (or only the `judged` leaves) that is never true: the leaf is always Omitted.

        Argo takes a DAG's phase from its leaves, an omitted leaf inheriting its parents'
        branch phase with Failed preferred (dag.go, assessDAGPhase). With this leaf below
        every step, the workflow fails when any step failed, even if a handler after it
        succeeded -- as orch's pipeline does. Below the leaves alone (`state_from: leaves`) it
        fails when a leaf failed or was omitted below a failure: a leaf failed or upstream_failed.
        """
        names = self.graph.pipeline.steps if judged is None else judged
        return " || ".join(f"({argo_name(s)}.Succeeded && {argo_name(s)}.Failed)" for s in names)


def orch_states(graph: PipelineGraph, phases: dict[str, str | None]) -> dict[str, str]:
    """Argo node phases (by step name; None: no node, as after failFast) back to orch's states."""
    failed = {step for step, phase in phases.items() if phase in ("Failed", "Error", "Errored")}
    reached: set[str] = set()  # steps a failure reaches through propagating triggers, found in one pass
    states = {}
    for step in graph.order():
        if trigger_of(graph, step) in PROPAGATING and any(u in failed or u in reached for u in graph.upstream(step)):
            reached.add(step)
        phase = phases.get(step)
        if phase == "Succeeded":
            states[step] = "succeeded"
        elif step in failed:
            states[step] = "failed"
        elif phase is None or step in reached:
            states[step] = "upstream_failed"
        else:
            states[step] = "skipped"
    return {step: states[step] for step in graph.pipeline.steps}
