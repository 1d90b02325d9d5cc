"""A `RunResult` from Airflow's records of a DAG run: task instance states, try numbers, XComs."""

from __future__ import annotations

import json
from typing import Any

from orch.core.graph import PipelineGraph
from orch.core.result import RunResult, StepResult, pipeline_status

from ..remote import moment
from .render import ITEM_TASK, scheduler_times_out

STATES = {"success": "succeeded", "skipped": "skipped", "upstream_failed": "upstream_failed", "failed": "failed",
          "running": "running"}


def result_from_records(graph: PipelineGraph, records: dict, params: dict[str, Any]) -> RunResult:
    """The run as Airflow stored it (driver.py's `records`): the steps, then the finally steps, each read the same
    way; the pipeline's status is its steps' (the DAG run's state, which the verdict keeps theirs)."""
    tasks = {(t["task_id"], t["map_index"]): t for t in records["tasks"]}
    xcoms = {(x["task_id"], x["map_index"], x["key"]): x["value"] for x in records["xcoms"]}
    steps = {}
    for name, step in graph.pipeline.all_steps.items():
        task = tasks.get((name, -1))
        if task is None or task["state"] not in STATES:
            steps[name] = StepResult(status="running" if task and task["state"] in ("queued", "up_for_retry") else "pending")
            continue
        status = STATES[task["state"]]
        if status == "failed" and xcoms.get((name, -1, "orch_status")) == "upstream_failed":
            status = "upstream_failed"  # stopped before running its step: fail_fast or the deadline
        timed_out = status == "skipped" and _timed_out(graph, name, tasks, records)
        if timed_out:  # the scheduler's dagrun_timeout came before orch's own deadline in the task
            status = "failed" if task["start"] is not None else "upstream_failed"
        if status in ("skipped", "upstream_failed"):
            steps[name] = StepResult(status=status)
            continue
        if step.foreach is not None:
            attempts = max((t["try_number"] for (task_id, index), t in tasks.items()
                            if task_id == ITEM_TASK.format(name) and index >= 0 and t["state"]), default=0)
        else:
            attempts = task["try_number"]
        steps[name] = StepResult.model_validate({
            "status": status, "attempts": attempts, "started_at": task["start"], "ended_at": task["end"],
            "outputs": _outputs(xcoms.get((name, -1, "return_value"))) if status == "succeeded" else {},
            "error": (f"the pipeline's timeout of {graph.pipeline.timeout:g}s ran out" if timed_out else
                      xcoms.get((name, -1, "orch_error")) or "the task failed (see its log)") if status == "failed" else None,
        })
    state = records.get("state")
    own = {name: steps[name] for name in graph.pipeline.steps}
    status = "running" if state not in ("success", "failed") else pipeline_status(own, engine_ok=state == "success")
    error = None
    if status == "failed" and not any(step.status == "failed" for step in own.values()):
        error = f"Airflow's DAG run {records['run_id']} ended {state}"
    return RunResult(pipeline=graph.pipeline.name, backend="airflow", run_id=records["run_id"], status=status,
                     params=params, started_at=records.get("start"), ended_at=records.get("end"), steps=steps,
                     error=error)


def _timed_out(graph: PipelineGraph, name: str, tasks: dict, records: dict) -> bool:
    """Whether a skipped task was skipped by a scheduler timing the DAG run out (dagrun_timeout), which marks what
    still runs or waits skipped: in a failed run that lasted the pipeline's timeout, a task that started without a
    `when` to skip it (it was running: failed), or one that never started with no upstream step skipped otherwise
    to have skipped it (it was waiting: upstream_failed)."""
    timeout, task = graph.pipeline.timeout, tasks[(name, -1)]
    if not (scheduler_times_out(graph.pipeline) and records.get("state") == "failed" and records.get("start")
            and records.get("end")):
        return False
    if _seconds(records["end"], records["start"]) < timeout:
        return False
    if task["start"] is not None:
        return graph.pipeline.steps[name].when is None
    return not any((tasks.get((up, -1)) or {}).get("state") == "skipped" and not _timed_out(graph, up, tasks, records)
                   for up in graph.upstream(name))


def _seconds(end, start) -> float:
    """Between two records' times: datetimes (the local driver's) or ISO text (the REST API's)."""
    return (moment(end) - moment(start)).total_seconds()


def _outputs(value: Any) -> dict:
    """A step's outputs from its XCom: JSON text (runtime.py), or a pod's XCom sidecar's parsed text."""
    return json.loads(value) if isinstance(value, str) else {}
