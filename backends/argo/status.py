"""An Argo Workflow's status (its nodes) read back as orch's RunResult.

An artifact output's value is its URI. A node records a key-only artifact as rendered, its key alone
(docs/key-only-artifacts.md: "the location data is no longer stored in /status/nodes"); the bucket is
the one of the repository the workflow used, which the controller records in
`status.artifactRepositoryRef.artifactRepository` (operator.go, ArtifactRepositoryRefStatus).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from orch.core.graph import PipelineGraph
from orch.core.names import argo_name
from orch.core.typed import parse_text
from orch.core import groups
from orch.core.result import RunResult, StepResult, pipeline_status, scope_state

from ..local.scopes import across_items, first_failure

from .depends import orch_states
from .fanout import is_wrapper
from .groups import ok_name, scopes_of
from .final import FINALLY, final_graph

API_VERSION = "argoproj.io/v1alpha1"
FINISHED = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
DONE = ("Succeeded", "Failed", "Error")  # a workflow's phases once it ended


def result_from_workflow(graph: PipelineGraph, document: dict, params: dict) -> RunResult:
    """The steps, then the finally steps (the exit handler's DAG, final.py); the run's status is the steps' alone."""
    status = document.get("status") or {}
    nodes = status.get("nodes") or {}
    dags = {n["id"] for n in nodes.values() if n.get("type") == "DAG" and _ours(n.get("templateName", ""))}
    wrappers = {n["id"] for n in nodes.values() if is_wrapper(n.get("templateName", ""))}
    # a throttled fan-out's own node, in its wrapper, is read before the wrapper's node of the same name
    found = sorted((n for n in nodes.values() if n.get("boundaryID") in dags), key=lambda n: n["boundaryID"] in wrappers)
    tasks = {n["displayName"]: n for n in found}
    reading = _Reading(tasks, nodes, _repository(status), _text_templates(document), status.get("phase") in DONE)
    steps = reading.grouped(graph, _main(nodes)) if graph.pipeline.groups else reading.steps(graph)
    final = reading.steps(final_graph(graph)) if graph.pipeline.finally_ else {}
    run_status = pipeline_status(steps, leaves=groups.judged(graph)) if reading.finished else "running"
    metadata = document.get("metadata", {})
    return RunResult(pipeline=graph.pipeline.name, backend="argo", run_id=metadata.get("name", ""), status=run_status,
                     params=params, started_at=status.get("startedAt"), ended_at=status.get("finishedAt"),
                     steps={**steps, **final})


class _Reading:
    """The nodes of one workflow, read as the steps' results."""

    def __init__(self, tasks: dict, nodes: dict, bucket: tuple[str, str], text_templates: set[str], finished: bool):
        self.tasks, self.nodes, self.bucket, self.text_templates = tasks, nodes, bucket, text_templates
        self.finished = finished
        self.inside: dict[str, dict[str, dict]] = {}  # with groups: every DAG node's tasks (grouped)

    def steps(self, graph: PipelineGraph) -> dict[str, StepResult]:
        """The results of the graph's steps (the steps, or the finally steps: their triggers count one another)."""
        phases: dict[str, Optional[str]] = {}
        steps: dict[str, StepResult] = {}
        for name, step in graph.pipeline.steps.items():
            node = self.tasks.get(argo_name(name))
            phase = node.get("phase") if node else None
            phases[name] = phase if phase in FINISHED else None
            as_text = node is not None and _template_of(node) in self.text_templates
            steps[name] = _step(node, self.nodes, step, self.bucket, as_text) if node else StepResult()
            if phase == "Succeeded" and steps[name].error:  # its pod ended well, but wrote an output of the wrong type
                phases[name] = "Failed"
            if node and step.foreach is not None and phase == "Skipped" and not is_wrapper(node.get("templateName", "")):
                # an empty fan-out: Argo skips its task group; orch counts it a success. A false condition or trigger
                # test is in the fan-out's gate, in every layout (render.py, `_gated`), and leaves it Omitted
                phases[name], steps[name] = "Succeeded", StepResult(outputs={o: [] for o in step.outputs})
        states = orch_states(graph, phases)
        for name, result in steps.items():
            if phases[name] is not None or self.finished:
                result.status = states[name]
            elif self.tasks.get(argo_name(name)):
                result.status = "running"
            if result.status != "succeeded":
                result.outputs = {}
            if result.status in ("skipped", "upstream_failed"):
                result.attempts, result.error = 0, None
        return steps

    def grouped(self, graph: PipelineGraph, main: str) -> dict[str, StepResult]:
        """Each group and step, in spec order (groups.order): a scope's nodes from the tasks of its DAG's node."""
        results: dict[str, StepResult] = {}
        self.inside = _inside(self.nodes)  # read once: each group and item looks its own tasks up
        self._scope(scopes_of(graph), "", self.inside.get(main, {}), results, None)
        return {name: results[name] for name in groups.order(graph.pipeline)}

    def _scope(self, scopes: dict, name: str, tasks: dict, results: dict, ended: Optional[str]) -> None:
        """The results of one scope's nodes; `ended`: the state of a group that did not run, for all inside it."""
        scope = scopes[name]
        phases: dict[str, Optional[str]] = {}
        for written, qualified in scope.local.items():
            node = None if ended else tasks.get(argo_name(written))
            if qualified in scope.graph.pipeline.groups and node is not None and self._looped(scope, qualified, node):
                results.update(self._items(scopes, qualified, node))
                phases[written] = {"failed": "Failed", "skipped": "Skipped"}.get(results[qualified].status, "Succeeded")
                continue
            if qualified in scope.graph.pipeline.groups:
                ran = node is not None and node.get("phase") in ("Succeeded", "Failed", "Error")
                self._scope(scopes, qualified, self.inside.get(node["id"], {}) if ran else {}, results,
                            None if ran else ended or "pending")
                results[qualified] = self._group(scope, qualified, node, results) if ran else StepResult()
                state = results[qualified].status
                phases[written] = {"failed": "Failed", "skipped": "Skipped"}.get(state, "Succeeded") if ran else (
                    node.get("phase") if node else None)
                continue
            step = scope.graph.pipeline.steps[qualified]
            as_text = node is not None and _template_of(node) in self.text_templates
            results[qualified] = _step(node, self.nodes, step, self.bucket, as_text) if node else StepResult()
            phase = node.get("phase") if node else None
            phases[written] = "Failed" if phase == "Succeeded" and results[qualified].error else (
                phase if phase in FINISHED else None)
        states = orch_states(scope.nodes, phases)
        for written, qualified in scope.local.items():
            result = results[qualified]
            status = ended if ended and ended != "pending" else states[written]
            if qualified in scope.graph.pipeline.groups and result.status != "pending":
                status = result.status
            if phases[written] is None and not self.finished and not ended:
                status = "running" if tasks.get(argo_name(written)) else "pending"
            result.status = status
            if status != "succeeded":
                result.outputs = {}
            if status in ("skipped", "upstream_failed"):
                result.attempts, result.error = 0, None
            if qualified in scope.graph.pipeline.groups and status in ("skipped", "upstream_failed"):
                for member in groups.members(scope.graph.pipeline, qualified):
                    results[member] = StepResult(status=status)
                for inner in [g for g in scope.graph.pipeline.groups if groups.inside(g, qualified)]:
                    results[inner] = StepResult(status=status)

    @staticmethod
    def _looped(scope, qualified: str, node: dict) -> bool:
        """Whether a fan-out group's task ran its loop: a task group of its items' DAGs; Skipped, over no item (its
        `when` sits in a gate: render.py); Error without items, its list not one (the loop's expansion failed)."""
        if scope.graph.pipeline.groups[qualified].foreach is None:
            return False
        return node.get("type") == "TaskGroup" or node.get("phase") in ("Skipped", "Error", "Failed")

    def _items(self, scopes: dict, qualified: str, node: dict) -> dict[str, StepResult]:
        """A fan-out group that ran, and everything inside it: each item's DAG read as a run of the group's inside,
        then each step (and group) inside reported across the items (local/scopes.py, across_items)."""
        pipeline = scopes[qualified].graph.pipeline
        inner = [n for n in groups.order(pipeline) if groups.inside(n, qualified)]
        kids = groups.children(pipeline, qualified)
        items = sorted((self.nodes[c] for c in node.get("children", []) if c in self.nodes), key=_item_index)
        runs = []
        for item in items:
            run: dict[str, StepResult] = {}
            self._scope(scopes, qualified, self.inside.get(item["id"], {}), run, None)
            runs.append(run)
        times = {"started_at": node.get("startedAt"), "ended_at": node.get("finishedAt")}
        if node.get("type") != "TaskGroup" and node.get("phase") != "Skipped":  # no item: its list is not a list
            found = {n: StepResult(status="upstream_failed") for n in inner}
            return {**found, qualified: StepResult(status="failed", error=f"foreach: {node.get('message', '')}", **times)}
        found = {n: across_items([run[n] for run in runs], self._declared(pipeline, n)) for n in inner}
        states = [scope_state(run[k].status for k in kids) for run in runs]
        status = scope_state(states)
        error, outputs = None, {}
        if status == "failed":
            first = states.index("failed")
            error = f"item {first}: {first_failure([(k, k) for k in kids], runs[first], pipeline)}"
        if status == "succeeded":
            for output in pipeline.groups[qualified].outputs:
                child, name = groups.source_of(pipeline, qualified, output)
                outputs[output] = [run[child].outputs.get(name) if run[child].status == "succeeded" else None for run in runs]
        return {**found, qualified: StepResult(status=status, outputs=outputs, error=error, **times)}

    @staticmethod
    def _declared(pipeline, name: str) -> list[str]:
        return list((pipeline.groups.get(name) or pipeline.steps[name]).outputs)

    def _group(self, scope, qualified: str, node: dict, results: dict) -> StepResult:
        """A group that ran: its state from the steps inside (scope_state), its outputs from its DAG's exports."""
        pipeline = scope.graph.pipeline
        children = groups.children(pipeline, qualified)
        status = scope_state(results[c].status for c in children)
        found = {p["name"]: p.get("value") for p in (node.get("outputs") or {}).get("parameters", [])}
        outputs = {}
        for output in pipeline.groups[qualified].outputs:
            leaf, name = groups.leaf_source(pipeline, qualified, output)
            kind = pipeline.steps[leaf].outputs[name]
            text = found.get(output)
            if kind == "artifact":
                outputs[output] = results[leaf].outputs.get(name)
            elif found.get(ok_name(output)) == "true" and isinstance(text, str):  # groups keep a template per step: text
                outputs[output] = parse_text(text, kind)
            else:
                outputs[output] = None
        error = first_failure([(c, c) for c in children], results, pipeline) if status == "failed" else None
        return StepResult(status=status, outputs=outputs, error=error, started_at=node.get("startedAt"),
                          ended_at=node.get("finishedAt"))


def _main(nodes: dict) -> str:
    return next((n["id"] for n in nodes.values() if n.get("templateName") == "Main"), "")


def _inside(nodes: dict) -> dict[str, dict[str, dict]]:
    """DAG node id -> its tasks' nodes by display name; a throttled fan-out's own node in place of its wrapper's."""
    found: dict[str, dict[str, dict]] = {}
    for node in nodes.values():
        found.setdefault(node.get("boundaryID", ""), {})[node.get("displayName", "")] = node
    for tasks in found.values():
        for name, node in list(tasks.items()):
            if is_wrapper(node.get("templateName", "")):
                tasks[name] = found.get(node["id"], {}).get(name, node)
    return found


def _text_templates(document: dict) -> set[str]:
    """The Workflow's templates whose pods keep an output as its text: a step's own or a shared use's (a command's,
    or the runner's with its call in argv). Past a template per step (templates.py: the call in ORCH_PAYLOAD, and in
    a chunk's WorkflowTemplate), outputs are JSON text."""
    return {t["name"] for t in (document.get("spec") or {}).get("templates", [])
            if not any(e.get("name") == "ORCH_PAYLOAD" for e in (t.get("container") or {}).get("env", []))}


def _template_of(node: dict) -> str:
    return node.get("templateName") or (node.get("templateRef") or {}).get("template", "")


def _ours(template: str) -> bool:
    """The DAG templates orch renders: the main DAG, a large pipeline's chunks, throttled fan-outs' wrappers, the
    exit handler."""
    return template in ("Main", FINALLY) or template.startswith("chunk-") or is_wrapper(template)


def _repository(status: dict) -> tuple[str, str]:
    """(scheme, bucket) of the workflow's artifact repository, as its status records it; ('s3', '') if unknown."""
    repository = ((status.get("artifactRepositoryRef") or {}).get("artifactRepository")) or {}
    for kind, scheme in (("s3", "s3"), ("gcs", "gs")):
        if repository.get(kind):
            return scheme, repository[kind].get("bucket", "")
    return "s3", ""


def _uri(artifact: dict, bucket: tuple[str, str]) -> str:
    location = artifact.get("s3") or {}
    scheme, name = ("s3", location["bucket"]) if location.get("bucket") else bucket
    return f"{scheme}://{name}/{location.get('key', '')}"


def _step(node: dict, nodes: dict, step, bucket: tuple[str, str], as_text: bool = False) -> StepResult:
    if node.get("type") == "TaskGroup":
        items = sorted((nodes[c] for c in node.get("children", []) if c in nodes), key=_item_index)
        units = [_unit(item, nodes, step, bucket, as_text) for item in items]
        outputs = {o: [u[1].get(o) for u in units] for o in step.outputs} if units else {o: [] for o in step.outputs}
        errors = [f"item {i}: {u[2]}" for i, u in enumerate(units) if u[2]]
        return StepResult(attempts=max((u[0] for u in units), default=0), outputs=outputs,
                          error=errors[0] if errors else None, started_at=node.get("startedAt"), ended_at=node.get("finishedAt"))
    attempts, outputs, error = _unit(node, nodes, step, bucket, as_text)
    return StepResult(attempts=attempts, outputs=outputs, error=error,
                      started_at=node.get("startedAt"), ended_at=node.get("finishedAt"))


def _unit(node: dict, nodes: dict, step, bucket: tuple[str, str], as_text: bool) -> tuple[int, dict, Optional[str]]:
    """(attempts, outputs, error) of a task or item node; a Retry node's attempts are its children.
    A step with a template of its own keeps its outputs as text (stdout in `result`), read by type."""
    attempts = len(node.get("children", [])) if node.get("type") == "Retry" else (1 if node.get("type") == "Pod" else 0)
    found = node.get("outputs") or {}
    texts = {p["name"]: p.get("value") for p in found.get("parameters", [])}
    stdout = step.stdout_output
    if stdout and "result" in found:
        texts[stdout] = found["result"]
    failed = node.get("phase") in ("Failed", "Error")
    error = (node.get("message") or node.get("phase")) if failed else None
    outputs = {}
    for name, text in texts.items():
        if not as_text:
            outputs[name] = _decode(text)
            continue
        try:
            outputs[name] = parse_text(text, step.outputs.get(name, "string")) if isinstance(text, str) else text
        except ValueError as err:  # a command wrote a value of the wrong type: the step failed
            error = error or f"output {name!r}: {err}; it is declared {step.outputs.get(name)}"
    outputs.update((a["name"], _uri(a, bucket)) for a in found.get("artifacts", [])
                   if step.outputs.get(a.get("name")) == "artifact")
    return attempts, outputs, error


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
