"""A `RunResult` from Prefect's own records: the flow run, its task runs' states, run counts and results; the steps
and groups as the spec orders them, then the finally steps, whose states never count in the run's status.

A step inside a group is read from its task runs by their names (`sweep[2].train`: item 2's `sweep.train`) and its
items reported as one, as the local backend does; the steps inside a group that did not run take its state (they
have no task run)."""

from __future__ import annotations

import os
from typing import Any, Optional

from orch.core import groups
from orch.core.graph import PipelineGraph
from orch.core.result import FINISHED, RunResult, StepResult, pipeline_status

from ..local.scopes import across_items
from .runtime import SKIPPED, TIMED_OUT, UPSTREAM_FAILED, error_of

PAGE = 200  # task runs a read returns at most (the server's PREFECT_API_DEFAULT_LIMIT)


async def read_result(client, graph: PipelineGraph, flow_run_id, params: dict[str, Any], final: bool = True,
                      missing: Optional[list] = None) -> RunResult:
    """The run as Prefect recorded it; with `final`, outputs are read from the persisted results. With `missing` (the
    reader may be on another machine than the worker), a result it cannot reach leaves the step's outputs {} and adds
    (step, where the result is) to `missing`; without, that raises."""
    pipeline = graph.pipeline
    flow_run = await client.read_flow_run(flow_run_id)
    records = _Records(pipeline, await _task_runs(client, flow_run_id), final, missing)
    found = await records.inside("", "")
    for name in pipeline.finally_:
        found[name] = await records.step(name, name)
    steps = {name: found[name] for name in [*groups.order(pipeline), *pipeline.finally_]}
    state = flow_run.state
    running = not (state and state.is_final())
    judged = {name: steps[name] for name in groups.order(pipeline)}  # finally steps never count
    status = "running" if running else pipeline_status(judged, engine_ok=state.is_completed(),
                                                                leaves=groups.judged(graph))
    error = None
    if status == "failed" and not any(step.status == "failed" for step in judged.values()):
        error = f"the flow run ended {state.name}: {state.message or 'no message'}"
    return RunResult(pipeline=pipeline.name, backend="prefect", run_id=str(flow_run.id), status=status,
                     params=params, started_at=flow_run.start_time, ended_at=flow_run.end_time, steps=steps, error=error)


def settled(graph: PipelineGraph, result: RunResult, before: Optional[RunResult]) -> bool:
    """Whether a read of an ended run can be the last: every step final and, with groups, the same as the read
    before (the server records task runs from events: an item's it has not recorded yet would go unseen)."""
    final = all(step.status in FINISHED for step in result.steps.values())
    return final and (not graph.pipeline.groups or result == before)


async def _task_runs(client, flow_run_id) -> list:
    """Every task run of the flow run, a page at a time."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    runs: dict = {}
    while True:
        page = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                                           sort=TaskRunSort.ID_DESC, limit=PAGE, offset=len(runs))
        runs.update((run.id, run) for run in page)
        if len(page) < PAGE:
            return list(runs.values())


class _Records:
    """The task runs by name, and under each name the runs of its items (`sweep[2].train` is under `sweep`, and
    `g.s` under `g`): the results of the steps and groups in each run of a scope, from them."""

    def __init__(self, pipeline, runs: list, final: bool, missing):
        self.pipeline, self.final, self.missing = pipeline, final, missing
        self.by_name = {run.name: run for run in runs}
        self.under: dict[str, list] = {}
        for run in runs:
            for at, char in enumerate(run.name):
                if char in "[.":
                    self.under.setdefault(run.name[:at], []).append(run)

    async def inside(self, group: str, at: str) -> dict[str, StepResult]:
        """Every step and group inside `group` ('' the pipeline), in its run `at` ('sweep[2]')."""
        results = {}
        for child in groups.children(self.pipeline, group):
            instance = f"{at}.{groups.local(child)}" if at else child
            if child in self.pipeline.groups:
                results.update(await self.group(child, instance))
            else:
                results[child] = await self.step(child, instance)
        return results

    async def step(self, name: str, instance: str) -> StepResult:
        step = self.pipeline.all_steps[name]
        items = [run for run in self.under.get(instance, ()) if run.name[len(instance)] == "["]
        return await _step(name, self.by_name.get(instance), items, step.foreach is not None, step.timeout, self.final,
                           self.missing)

    async def group(self, group: str, instance: str) -> dict[str, StepResult]:
        """The group in one run of its scope (its state, outputs and error: its task run's), and the steps inside."""
        result = await _step(group, self.by_name.get(instance), [], False, None, self.final, self.missing)
        result.attempts = 0  # a group makes no attempt of its own
        inner = [name for name in groups.order(self.pipeline) if groups.inside(name, group)]
        fan_out = self.pipeline.groups[group].foreach is not None
        if not self.under.get(instance) or (fan_out and result.status in ("pending", "running")):
            return {group: result, **{name: self._without_runs(name, result, fan_out) for name in inner}}
        if not fan_out:
            return {group: result, **await self.inside(group, instance)}
        indexes = {int(run.name[len(instance) + 1:run.name.index("]", len(instance))]) for run in self.under[instance]}
        runs = [await self.inside(group, f"{instance}[{i}]") for i in range(max(indexes) + 1)]
        return {group: result, **{name: self._across([run[name] for run in runs], name) for name in inner}}

    def _across(self, results: list[StepResult], name: str) -> StepResult:
        """A step or group inside a fan-out group, its items as one; running while any item's is not final yet (the
        server records task runs from events, a little after they happen)."""
        if any(result.status not in FINISHED for result in results):
            return StepResult(status="running")
        return across_items(results, self._declared(name))

    def _without_runs(self, name: str, group: StepResult, fan_out: bool) -> StepResult:
        """A step or group inside a group that has no task run inside: the group did not run (its state, or
        upstream_failed after a bad list), had no items (succeeded, every output []), or its steps' task runs are
        not recorded yet (running)."""
        if group.status == "succeeded" and fan_out:
            return StepResult(status="succeeded", outputs={output: [] for output in self._declared(name)})
        if group.status in ("pending", "running", "succeeded"):
            return StepResult(status="running" if group.status == "succeeded" else group.status)
        return StepResult(status="upstream_failed" if group.status == "failed" else group.status)

    def _declared(self, name: str) -> list[str]:
        return list((self.pipeline.groups.get(name) or self.pipeline.all_steps[name]).outputs)


async def _step(name: str, record, items: list, fan_out: bool, timeout, final: bool, missing) -> StepResult:
    if record is None or record.state is None:
        return StepResult()
    state = record.state
    status = _status(state)
    result = StepResult(status=status, started_at=record.start_time, ended_at=record.end_time)
    if status in ("skipped", "upstream_failed"):
        result.started_at = result.ended_at = None  # it never ran: Prefect's times are those of its check
        return result
    result.attempts = max((run.run_count for run in items), default=0) if fan_out else record.run_count
    if status in ("pending", "running"):
        return result
    if status == "failed":
        result.error = f"timed out after {timeout:g}s" if state.name == TIMED_OUT and timeout else error_of(state)
    elif final:
        result.outputs = await (state.aresult() if missing is None else _outputs(name, state, missing)) or {}
    return result


async def _outputs(name: str, state, missing: list):
    """A step's outputs from its result, read wherever this process reaches it: a result file at the worker's
    absolute path is read as it lies (whatever this process's own PREFECT_RESULTS_LOCAL_STORAGE_PATH); one that
    is not here, or a storage block this process cannot read, is noted in `missing`."""
    from prefect.results import ResultRecord, ResultRecordMetadata

    data = state.data
    if isinstance(data, ResultRecordMetadata) and data.storage_block_id is None and os.path.isabs(data.storage_key or ""):
        try:
            with open(data.storage_key, "rb") as handle:
                return ResultRecord.deserialize(handle.read()).result
        except OSError:
            missing.append((name, os.path.dirname(data.storage_key)))
            return {}
    try:
        return await state.aresult()
    except (OSError, ValueError) as err:
        missing.append((name, f"{type(err).__name__}: {err}"))
        return {}


def _status(state) -> str:
    if state.is_completed():
        return "skipped" if state.name == SKIPPED else "succeeded"
    if state.is_failed():
        return "upstream_failed" if state.name == UPSTREAM_FAILED else "failed"
    if state.is_crashed() or state.is_cancelled():
        return "failed"
    return "running" if state.is_running() else "pending"
