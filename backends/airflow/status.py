"""A `RunResult` from Airflow's records of a DAG run: task instance states, try numbers, XComs."""

from __future__ import annotations

import json
from typing import Any

from orch.core import groups
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult, StepResult, pipeline_status

from ..local.scopes import across_items
from ..remote import moment
from .render import GROUP_TASK, ITEM_TASK, end_task, scheduler_times_out

STATES = {"success": "succeeded", "skipped": "skipped", "upstream_failed": "upstream_failed", "failed": "failed",
          "running": "running"}


def result_from_records(graph: PipelineGraph, records: dict, params: dict[str, Any]) -> RunResult:
    """The run as Airflow stored it (driver.py's `records`): the steps, then the finally steps, each read the same
    way; the pipeline's status is its steps' (the DAG run's state, which the verdict keeps theirs)."""
    tasks = {(t["task_id"], t["map_index"]): t for t in records["tasks"]}
    xcoms = {(x["task_id"], x["map_index"], x["key"]): x["value"] for x in records["xcoms"]}
    steps = {}
    pipeline = graph.pipeline
    for name in [*groups.order(pipeline), *pipeline.finally_]:
        fan_out = next(iter(groups.fan_out_groups(pipeline, name)), None)
        if fan_out is not None:
            steps[name] = _across_items(pipeline, name, fan_out, tasks, xcoms)
            continue
        step = pipeline.groups.get(name) or pipeline.all_steps[name]
        task = tasks.get((end_task(pipeline, name), -1))
        if task is None or task["state"] not in STATES:
            steps[name] = StepResult(status="running" if task and task["state"] in ("queued", "up_for_retry") else "pending")
            continue
        status = STATES[task["state"]]
        name_id = end_task(pipeline, name)
        if status == "failed" and xcoms.get((name_id, -1, "orch_status")) == "upstream_failed":
            status = "upstream_failed"  # stopped before running its step: fail_fast or the deadline
        timed_out = status == "skipped" and _timed_out(graph, name, tasks, records)
        if timed_out:  # the scheduler's dagrun_timeout came before orch's own deadline in the task
            status = "failed" if task["start"] is not None else "upstream_failed"
        if status in ("skipped", "upstream_failed"):
            steps[name] = StepResult(status=status)
            continue
        if name in pipeline.groups:
            attempts = 0
        elif step.foreach is not None:
            attempts = max((t["try_number"] for (task_id, index), t in tasks.items()
                            if task_id == ITEM_TASK.format(name) and index >= 0 and t["state"]), default=0)
        else:
            attempts = task["try_number"]
        steps[name] = StepResult.model_validate({
            "status": status, "attempts": attempts, "started_at": task["start"], "ended_at": task["end"],
            "outputs": _outputs(xcoms.get((name_id, -1, "return_value"))) if status == "succeeded" else {},
            "error": (f"the pipeline's timeout of {graph.pipeline.timeout:g}s ran out" if timed_out else
                      xcoms.get((name_id, -1, "orch_error")) or "the task failed (see its log)") if status == "failed" else None,
        })
    state = records.get("state")
    own = {name: steps[name] for name in groups.order(graph.pipeline)}  # never the finally steps
    status = "running" if state not in ("success", "failed") else pipeline_status(own, engine_ok=state == "success",
                                                                                  leaves=groups.judged(graph))
    error = None
    if status == "failed" and not any(step.status == "failed" for step in own.values()):
        error = f"Airflow's DAG run {records['run_id']} ended {state}"
    return RunResult(pipeline=graph.pipeline.name, backend="airflow", run_id=records["run_id"], status=status,
                     params=params, started_at=records.get("start"), ended_at=records.get("end"), steps=steps,
                     error=error)


def _across_items(pipeline, name: str, group: str, tasks: dict, xcoms: dict) -> StepResult:
    """A step inside a fan-out group, its items as one: from what the group's end kept of each item (Step.close);
    before that, the group's own state where it did not run (failed before its items: its list was bad, or the
    deadline came first, and its steps are upstream_failed), else running or pending."""
    end = GROUP_TASK.format(group)
    inner = xcoms.get((end, -1, "orch_inner"))
    if inner is None:
        state = STATES.get((tasks.get((end, -1)) or {}).get("state"))
        if state in ("skipped", "upstream_failed"):
            return StepResult(status=state)
        if state == "failed":
            return StepResult(status="upstream_failed")
        started = any(task_id == name and t["state"] for (task_id, _), t in tasks.items())
        return StepResult(status="running" if started else "pending")
    items = [StepResult.model_validate({**item, "attempts": _item_attempts(item, tasks.get((name, index))),
                                        "outputs": item["outputs"] if item["status"] == "succeeded" else {}})
             for index, item in enumerate(json.loads(inner)[name])]
    result = across_items(items, pipeline.steps[name].outputs)
    starts = [t["start"] for (task_id, index), t in tasks.items() if task_id == name and t["start"] is not None]
    ends = [t["end"] for (task_id, index), t in tasks.items() if task_id == name and t["end"] is not None]
    return StepResult.model_validate({**result.model_dump(), "started_at": min(starts, default=None),
                                      "ended_at": max(ends, default=None)})


def _item_attempts(item: dict, task: dict | None) -> int:
    """An item's attempts: its task's tries where its step ran; none where it was skipped or stopped before running
    (Airflow counts the try that skipped it)."""
    return (task or {}).get("try_number") or 0 if item["status"] in ("succeeded", "failed") else 0


def _timed_out(graph: PipelineGraph, name: str, tasks: dict, records: dict) -> bool:
    """Whether a skipped task was skipped by a scheduler timing the DAG run out (dagrun_timeout), which marks what
    still runs or waits skipped: in a failed run that lasted the pipeline's timeout, a task that started without a
    `when` to skip it (it was running: failed), or one that never started with no upstream step skipped otherwise
    to have skipped it (it was waiting: upstream_failed)."""
    timeout, task = graph.pipeline.timeout, tasks[(end_task(graph.pipeline, name), -1)]
    if not (scheduler_times_out(graph.pipeline) and records.get("state") == "failed" and records.get("start")
            and records.get("end")):
        return False
    if _seconds(records["end"], records["start"]) < timeout:
        return False
    if task["start"] is not None:
        return (graph.pipeline.groups.get(name) or graph.pipeline.steps[name]).when is None
    return not any((tasks.get((up, -1)) or {}).get("state") == "skipped" and not _timed_out(graph, up, tasks, records)
                   for up in graph.upstream(name))


def _seconds(end, start) -> float:
    """Between two records' times: datetimes (the local driver's) or ISO text (the REST API's)."""
    return (moment(end) - moment(start)).total_seconds()


def _outputs(value: Any) -> dict:
    """A step's outputs from its XCom: JSON text (runtime.py), or a pod's XCom sidecar's parsed text."""
    return json.loads(value) if isinstance(value, str) else {}
