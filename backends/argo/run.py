"""`run` for Argo: submit the rendered Workflow to an Argo Server, watch it, read the outcome back.

The server is named as the argo CLI names it: ARGO_SERVER (host:port, or a URL),
ARGO_SECURE (https unless 'false'), ARGO_INSECURE_SKIP_VERIFY, ARGO_TOKEN, ARGO_NAMESPACE.
The RunResult comes from the workflow's own node statuses, nothing remembered here.
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping, Optional

from orch.core.errors import BackendUnavailable, Diagnostic, SpecError, UsageError
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult
from orch.core.typed import to_text
from orch.core.values import resolve_params

from .render import MAX_BYTES, render, workflow_spec  # noqa: F401 - render is this backend's other face
from .status import API_VERSION, result_from_workflow

DONE = ("Succeeded", "Failed", "Error")


def run(graph: PipelineGraph, params: Mapping[str, Any], *, resume: Optional[str] = None, progress=None,
        poll_seconds: float = 2.0, artifacts: Optional[str] = None, **_: Any) -> RunResult:
    """Submit and watch until the workflow ends."""
    from hera.workflows import models as m

    if resume:
        raise UsageError("--resume is the local backend's; on Argo, use `argo retry` or `argo resubmit`")
    if artifacts:
        raise UsageError("--artifacts: on Argo the cluster's artifact repository holds the artifacts (its executor moves "
                         "them); point the workflow's repository at the bucket, and give the key's prefix as the "
                         "spec's artifacts.store")
    values = resolve_params(graph.pipeline, params)
    for name, value in values.items():  # Argo substitutes a template after placing a param's value in it
        if "{{" in to_text(value):
            raise UsageError(f"-p {name}: Argo would read '{{{{' in a param's value as a tag, and has no escape for it")
    spec = workflow_spec(graph)  # what the spec cannot be on Argo is said before any server is asked
    spec.arguments = m.Arguments(parameters=[m.Parameter(name=k, value=to_text(v)) for k, v in values.items()]) or None
    workflow = m.Workflow(api_version=API_VERSION, kind="Workflow", spec=spec,
                          metadata=m.ObjectMeta(generate_name=f"{graph.pipeline.name}-", labels=dict(graph.pipeline.labels) or None))
    size = len(workflow.model_dump_json(by_alias=True, exclude_none=True).encode())
    if size > MAX_BYTES:
        raise SpecError([graph.locate(Diagnostic(
            "E806", f"the Workflow would be {size / 1e6:.1f} MB; Kubernetes stores objects up to 1 MB", ("steps",),
            hint="`orch render -b argo -o DIR` moves its chunks into WorkflowTemplates: kubectl apply them, then submit the Workflow"))])
    service, namespace = _service()
    created = _call(service.create_workflow, m.WorkflowCreateRequest(workflow=workflow), namespace=namespace)
    name = created.metadata.name
    seen: dict[str, str] = {}
    if progress:
        progress.begin(name, graph.pipeline.name, list(graph.pipeline.steps))
    try:
        while True:
            current = _call(service.get_workflow, name, namespace=namespace)
            document = current.model_dump(by_alias=True, exclude_none=True, mode="json")
            result = result_from_workflow(graph, document, values)
            _report(progress, result, seen)
            if (document.get("status") or {}).get("phase") in DONE:
                return result
            time.sleep(poll_seconds)
    finally:
        if progress:
            progress.end()


def _service():
    from hera.workflows.service import WorkflowsService

    server = os.environ.get("ARGO_SERVER")
    if not server:
        raise BackendUnavailable("set ARGO_SERVER (host:port of the Argo Server), as for the argo CLI")
    if "://" not in server:
        secure = os.environ.get("ARGO_SECURE", "true").lower() != "false"
        server = ("https://" if secure else "http://") + server
    token = os.environ.get("ARGO_TOKEN") or None
    if token and not token.startswith("Bearer "):
        token = f"Bearer {token}"
    verify = os.environ.get("ARGO_INSECURE_SKIP_VERIFY", "false").lower() != "true"
    namespace = os.environ.get("ARGO_NAMESPACE", "argo")
    return WorkflowsService(host=server, token=token, verify_ssl=verify, namespace=namespace), namespace


def _call(method, *args, **kwargs):
    import requests

    try:
        return method(*args, **kwargs)
    except requests.exceptions.RequestException as err:
        host = getattr(method.__self__, "host", "?")
        raise BackendUnavailable(f"cannot reach the Argo Server at {host}: {type(err).__name__}") from None
    except Exception as err:  # hera raises its own exception classes for HTTP error statuses
        if type(err).__module__.startswith("hera"):
            raise BackendUnavailable(f"the Argo Server refused the request: {err}") from None
        raise


def _report(progress, result: RunResult, seen: dict[str, str]) -> None:
    if not progress:
        return
    for name, step in result.steps.items():
        if step.status != seen.get(name) and step.status != "pending":
            seen[name] = step.status
            progress.step(name, step.status, attempt=step.attempts, error=step.error)
