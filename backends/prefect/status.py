"""A `RunResult` from Prefect's own records: the flow run, its task runs' states, run counts and results; the steps,
then the finally steps, whose states never count in the run's status."""

from __future__ import annotations

import os
from typing import Any, Optional

from orch.core.graph import PipelineGraph
from orch.core.result import RunResult, StepResult, pipeline_status

from .runtime import SKIPPED, TIMED_OUT, UPSTREAM_FAILED, error_of


async def read_result(client, graph: PipelineGraph, flow_run_id, params: dict[str, Any], final: bool = True,
                      missing: Optional[list] = None) -> RunResult:
    """The run as Prefect recorded it; with `final`, outputs are read from the persisted results. With `missing` (the
    reader may be on another machine than the worker), a result it cannot reach leaves the step's outputs {} and adds
    (step, where the result is) to `missing`; without, that raises."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_run = await client.read_flow_run(flow_run_id)
    task_runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    by_name = {run.name: run for run in task_runs}
    steps = {}
    for name, step in graph.pipeline.all_steps.items():
        record = by_name.get(name)
        items = [run for run in task_runs if run.name.startswith(f"{name}[")]
        steps[name] = await _step(name, record, items, step.foreach is not None, step.timeout, final, missing)
    state = flow_run.state
    running = not (state and state.is_final())
    judged = {name: steps[name] for name in graph.pipeline.steps}  # finally steps never count
    status = "running" if running else pipeline_status(judged, engine_ok=state.is_completed())
    error = None
    if status == "failed" and not any(step.status == "failed" for step in judged.values()):
        error = f"the flow run ended {state.name}: {state.message or 'no message'}"
    return RunResult(pipeline=graph.pipeline.name, backend="prefect", run_id=str(flow_run.id), status=status,
                     params=params, started_at=flow_run.start_time, ended_at=flow_run.end_time, steps=steps, error=error)


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
