"""A `RunResult` from Airflow's records of a DAG run: task instance states, try numbers, XComs."""

from __future__ import annotations

import json
from typing import Any

from orch.core.graph import PipelineGraph
from orch.core.result import RunResult, StepResult, pipeline_status

from .render import ITEM_TASK

STATES = {"success": "succeeded", "skipped": "skipped", "upstream_failed": "upstream_failed", "failed": "failed",
          "running": "running"}


def result_from_records(graph: PipelineGraph, records: dict, params: dict[str, Any]) -> RunResult:
    """The run as Airflow stored it (driver.py's `records`)."""
    tasks = {(t["task_id"], t["map_index"]): t for t in records["tasks"]}
    xcoms = {(x["task_id"], x["map_index"], x["key"]): x["value"] for x in records["xcoms"]}
    steps = {}
    for name, step in graph.pipeline.steps.items():
        task = tasks.get((name, -1))
        if task is None or task["state"] not in STATES:
            steps[name] = StepResult(status="running" if task and task["state"] in ("queued", "up_for_retry") else "pending")
            continue
        status = STATES[task["state"]]
        if status == "failed" and xcoms.get((name, -1, "orch_status")) == "upstream_failed":
            status = "upstream_failed"  # stopped before running its step: fail_fast or the deadline
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
            "error": (xcoms.get((name, -1, "orch_error")) or "the task failed (see its log)") if status == "failed" else None,
        })
    state = records.get("state")
    status = "running" if state not in ("success", "failed") else pipeline_status(steps, engine_ok=state == "success")
    error = None
    if status == "failed" and not any(step.status == "failed" for step in steps.values()):
        error = f"Airflow's DAG run {records['run_id']} ended {state}"
    return RunResult(pipeline=graph.pipeline.name, backend="airflow", run_id=records["run_id"], status=status,
                     params=params, started_at=records.get("start"), ended_at=records.get("end"), steps=steps,
                     error=error)


def _outputs(value: Any) -> dict:
    """A step's outputs from its XCom: JSON text (runtime.py), or a pod's XCom sidecar's parsed text."""
    return json.loads(value) if isinstance(value, str) else {}
