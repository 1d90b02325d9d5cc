"""Runs of a pipeline deployed on an Argo Server (`orch deploy -b argo`): submitted from its WorkflowTemplate,
followed, listed and read back from the server's own records.

A run is Argo's submit from the template (WorkflowSubmitRequest, resourceKind WorkflowTemplate): the server makes a
Workflow whose spec is only `workflowTemplateRef` and the arguments, labelled
`workflows.argoproj.io/workflow-template=NAME` (common.NewWorkflowFromWorkflowTemplate; the controller sets the same
label on any Workflow with a workflowTemplateRef, setWfTemplateLabel, so a CronWorkflow's runs carry it too). The
controller keeps the template's spec it ran in `status.storedWorkflowTemplateSpec`; that is what the status reader
reads, with the deployed template's spec before the controller has stored it.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Optional

from orch.core.errors import BackendUnavailable, UsageError
from orch.core.graph import PipelineGraph
from orch.core.names import argo_name
from orch.core.result import RunResult
from orch.core.typed import parse_text, to_text
from orch.core.values import resolve_params

from ..remote import RunSummary, follow, moment, shown
from .status import result_from_workflow

TEMPLATE_LABEL = "workflows.argoproj.io/workflow-template"  # workflow/common/common.go, LabelKeyWorkflowTemplate
PIPELINE_LABEL = "orch.dev/pipeline"  # on everything orch deploys, and on the runs it submits
LIST_FIELDS = ",".join(["metadata", "items.metadata.name", "items.metadata.creationTimestamp", "items.metadata.labels",
                        "items.spec.workflowTemplateRef", "items.status.phase", "items.status.startedAt",
                        "items.status.finishedAt"])  # util/fields: what `orch runs list` shows, not the nodes
PHASES = {"Succeeded": "succeeded", "Failed": "failed", "Error": "failed"}  # else (Pending, Running): running


class Server:
    """One Argo Server and namespace, through hera's WorkflowsService; its errors as orch's, naming the URL only."""

    def __init__(self, server: Optional[str], namespace: Optional[str] = None):
        from .run import _service

        self.service, self.namespace = _service(server or None, namespace)
        self.url = shown(self.service.host)

    def call(self, method: str, *args, missing_ok: bool = False, **kwargs) -> Any:
        """`service.<method>(...)`; None for a 404 when `missing_ok`. Unreachable or refused: BackendUnavailable."""
        import requests
        from hera.exceptions import Forbidden, HeraException, NotFound, Unauthorized

        try:
            return getattr(self.service, method)(*args, namespace=self.namespace, **kwargs)
        except requests.exceptions.RequestException as err:
            raise BackendUnavailable(f"cannot reach the Argo Server at {self.url}: {type(err).__name__}") from None
        except NotFound:
            if missing_ok:
                return None
            raise
        except (Unauthorized, Forbidden) as err:
            raise BackendUnavailable(
                f"the Argo Server at {self.url} refused the request ({_status(err)}) in namespace {self.namespace}"
                "\n  hint: set ARGO_TOKEN to a token that may use it (a service account's, or `argo auth token`)") from None
        except HeraException as err:
            raise BackendUnavailable(f"the Argo Server at {self.url} refused the request: {err}") from None


def run_deployed(graph: PipelineGraph, params: Mapping[str, Any], *, server: str, progress=None,
                 spec_path: Optional[str] = None, poll_seconds: float = 2.0) -> RunResult:
    """Submit a run from the deployed WorkflowTemplate with `params`, follow it, return the server's record of it."""
    from hera.workflows import models as m

    from .deploy import drift_warning

    values = resolve_params(graph.pipeline, params)
    for name, value in values.items():  # Argo substitutes a template after placing a param's value in it
        if "{{" in to_text(value):
            raise UsageError(f"-p {name}: Argo would read '{{{{' in a param's value as a tag, and has no escape for it")
    remote = Server(server)
    name = argo_name(graph.pipeline.name)
    deployed = remote.call("get_workflow_template", name, missing_ok=True)
    if deployed is None:
        raise UsageError(f"pipeline {graph.pipeline.name!r} is not deployed on {remote.url} (no WorkflowTemplate "
                         f"{name!r} in namespace {remote.namespace})\n  hint: orch deploy SPEC -b argo first")
    warning = drift_warning(graph, spec_path, deployed, remote.url)
    if warning:
        print(warning, file=sys.stderr)
    labels = {**graph.pipeline.labels, PIPELINE_LABEL: name}
    options = m.SubmitOpts(generate_name=f"{name}-", labels=",".join(f"{k}={v}" for k, v in labels.items()),
                           parameters=[f"{k}={to_text(v)}" for k, v in values.items()] or None)
    request = m.WorkflowSubmitRequest(namespace=remote.namespace, resource_kind="WorkflowTemplate", resource_name=name,
                                      submit_options=options)
    run_id = remote.call("submit_workflow", request).metadata.name
    template_spec = _dumped(deployed)["spec"]
    where = f"the Argo Server at {remote.url}"

    def cancel() -> None:
        remote.call("terminate_workflow", run_id, m.WorkflowTerminateRequest(name=run_id, namespace=remote.namespace))

    return follow(lambda final: _read(graph, remote, run_id, values, template_spec), progress=progress, cancel=cancel,
                  how_to_cancel=f"argo terminate {run_id} -n {remote.namespace}", where=where, poll_seconds=poll_seconds)


def list_runs(graph: PipelineGraph, *, server: Optional[str], limit: int) -> list[RunSummary]:
    """The newest runs of the deployed pipeline: workflows labelled with its template, newest first."""
    remote = Server(server)
    name = argo_name(graph.pipeline.name)
    found = remote.call("list_workflows", label_selector=f"{TEMPLATE_LABEL}={name}", limit=str(limit), fields=LIST_FIELDS)
    items = [_dumped(item) for item in found.items or []]
    items.sort(key=lambda w: w["metadata"].get("creationTimestamp") or "", reverse=True)
    return [RunSummary(run_id=w["metadata"]["name"], status=PHASES.get(w.get("status", {}).get("phase"), "running"),
                       started_at=moment(w.get("status", {}).get("startedAt")),
                       ended_at=moment(w.get("status", {}).get("finishedAt"))) for w in items[:limit]]


def read_run(graph: PipelineGraph, run_id: str, *, server: Optional[str]) -> RunResult:
    """One run of the deployed pipeline, as the server records it (`orch runs show ID -b argo --spec SPEC`)."""
    remote = Server(server)
    name = argo_name(graph.pipeline.name)
    workflow = remote.call("get_workflow", run_id, missing_ok=True)
    document = _dumped(workflow) if workflow is not None else None
    if document is None or (document["metadata"].get("labels") or {}).get(TEMPLATE_LABEL) != name:
        raise UsageError(f"no run {run_id!r} of pipeline {graph.pipeline.name!r} in namespace {remote.namespace} "
                         f"on {remote.url}\n  hint: orch runs list -b argo --spec SPEC")
    spec = _ran_spec(document)
    if spec is None:
        deployed = remote.call("get_workflow_template", name, missing_ok=True)
        spec = _dumped(deployed)["spec"] if deployed is not None else {}
    return _result(graph, document, _params(graph, document, spec), spec)


def _read(graph: PipelineGraph, remote: Server, run_id: str, values: dict, template_spec: dict) -> RunResult:
    workflow = remote.call("get_workflow", run_id, missing_ok=True)
    if workflow is None:
        raise BackendUnavailable(f"the workflow {run_id} is gone from namespace {remote.namespace} on {remote.url}: "
                                 "it was deleted while orch followed it")
    document = _dumped(workflow)
    return _result(graph, document, values, _ran_spec(document) or template_spec)


def _result(graph: PipelineGraph, document: dict, values: dict, spec: dict) -> RunResult:
    """The status reader over the spec the run ran; a node called through `templateRef` (a nested pipeline's chunk
    in a WorkflowTemplate of its own) names its template there, not in `templateName` (operator.go, initializeNode)."""
    status = document.get("status") or {}
    nodes = {key: _named(node) for key, node in (status.get("nodes") or {}).items()}
    result = result_from_workflow(graph, {**document, "spec": spec, "status": {**status, "nodes": nodes}}, values)
    if status.get("phase") in ("Failed", "Error") and result.status != "running":
        if not any(result.steps[name].status == "failed" for name in graph.pipeline.steps):  # terminated, or timed out
            result.error = status.get("message") or f"the workflow ended {status['phase']}"
        result.status = "failed"
    return result


def _named(node: dict) -> dict:
    if node.get("templateName") or not (node.get("templateRef") or {}).get("template"):
        return node
    return {**node, "templateName": node["templateRef"]["template"]}


def _ran_spec(document: dict) -> Optional[dict]:
    return (document.get("status") or {}).get("storedWorkflowTemplateSpec")


def _params(graph: PipelineGraph, document: dict, spec: dict) -> dict:
    """The run's param values: its own arguments over the template's defaults, read by each param's type."""
    given = {p["name"]: p.get("value") for p in ((spec.get("arguments") or {}).get("parameters") or [])}
    given.update((p["name"], p.get("value")) for p in ((document["spec"].get("arguments") or {}).get("parameters") or []))
    values = {}
    for name, param in graph.pipeline.params.items():
        if isinstance(given.get(name), str):
            try:
                values[name] = parse_text(given[name], param.type)
            except ValueError:
                values[name] = given[name]
    return values


def _dumped(model) -> dict:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def _status(err: Exception) -> str:
    return {"Unauthorized": "401 Unauthorized", "Forbidden": "403 Forbidden"}.get(type(err).__name__, type(err).__name__)
