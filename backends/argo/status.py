"""An Argo Workflow's status (its nodes) read back as orch's RunResult."""

from __future__ import annotations

import json
from typing import Any, Optional

from orch.core.graph import PipelineGraph
from orch.core.names import argo_name
from orch.core.result import RunResult, StepResult, pipeline_status

from .depends import orch_states

API_VERSION = "argoproj.io/v1alpha1"
FINISHED = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")


def result_from_workflow(graph: PipelineGraph, document: dict, params: dict) -> RunResult:
    status = document.get("status") or {}
    nodes = status.get("nodes") or {}
    dags = {n["id"] for n in nodes.values() if n.get("type") == "DAG" and _ours(n.get("templateName", ""))}
    tasks = {n["displayName"]: n for n in nodes.values() if n.get("boundaryID") in dags}
    pipeline = graph.pipeline
    phases: dict[str, Optional[str]] = {}
    steps: dict[str, StepResult] = {}
    for name, step in pipeline.steps.items():
        node = tasks.get(argo_name(name))
        phase = node.get("phase") if node else None
        phases[name] = phase if phase in FINISHED else None
        steps[name] = _step(node, nodes, step) if node else StepResult()
        if node and step.foreach is not None and phase == "Skipped":
            # an empty fan-out: Argo skips its task group; orch counts it a success (a condition is in its gate)
            phases[name], steps[name] = "Succeeded", StepResult(outputs={o: [] for o in step.outputs})
    finished = (status.get("phase") in ("Succeeded", "Failed", "Error"))
    states = orch_states(graph, phases)
    for name, result in steps.items():
        if phases[name] is not None or finished:
            result.status = states[name]
        elif tasks.get(argo_name(name)):
            result.status = "running"
        if result.status != "succeeded":
            result.outputs = {}
        if result.status in ("skipped", "upstream_failed"):
            result.attempts, result.error = 0, None
    run_status = pipeline_status(steps) if finished else "running"
    metadata = document.get("metadata", {})
    return RunResult(pipeline=pipeline.name, backend="argo", run_id=metadata.get("name", ""), status=run_status,
                     params=params, started_at=status.get("startedAt"), ended_at=status.get("finishedAt"), steps=steps)


def _ours(template: str) -> bool:
    """The DAG templates orch renders: the main DAG and, for a large pipeline, its chunks."""
    return template == "main" or template.startswith("chunk-")


def _step(node: dict, nodes: dict, step) -> StepResult:
    if node.get("type") == "TaskGroup":
        items = sorted((nodes[c] for c in node.get("children", []) if c in nodes), key=_item_index)
        units = [_unit(item, nodes) for item in items]
        outputs = {o: [u[1].get(o) for u in units] for o in step.outputs} if units else {o: [] for o in step.outputs}
        errors = [f"item {i}: {u[2]}" for i, u in enumerate(units) if u[2]]
        return StepResult(attempts=max((u[0] for u in units), default=0), outputs=outputs,
                          error=errors[0] if errors else None, started_at=node.get("startedAt"), ended_at=node.get("finishedAt"))
    attempts, outputs, error = _unit(node, nodes)
    return StepResult(attempts=attempts, outputs=outputs, error=error,
                      started_at=node.get("startedAt"), ended_at=node.get("finishedAt"))


def _unit(node: dict, nodes: dict) -> tuple[int, dict, Optional[str]]:
    """(attempts, outputs, error) of a task or item node; a Retry node's attempts are its children."""
    attempts = len(node.get("children", [])) if node.get("type") == "Retry" else (1 if node.get("type") == "Pod" else 0)
    outputs = {p["name"]: _decode(p.get("value")) for p in (node.get("outputs") or {}).get("parameters", [])}
    failed = node.get("phase") in ("Failed", "Error")
    return attempts, outputs, (node.get("message") or node.get("phase")) if failed else None


def _decode(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _item_index(node: dict) -> int:
    name = node.get("displayName", "")
    try:
        return int(name.split("(", 1)[1].split(":", 1)[0])
    except (IndexError, ValueError):
        return 0
