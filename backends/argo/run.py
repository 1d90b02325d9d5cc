"""`run` for Argo: submit the rendered Workflow to an Argo Server, watch it, read the outcome back.

The server is named as the argo CLI names it: ARGO_SERVER (host:port, or a URL),
ARGO_SECURE (https unless 'false'), ARGO_INSECURE_SKIP_VERIFY, ARGO_TOKEN, ARGO_NAMESPACE.
The RunResult comes from the workflow's own node statuses, nothing remembered here.

A pipeline that ships its code (`code: {ship: true}`) is packed and uploaded before the Workflow is
submitted, to `<store>/code/<sha256>.tar.gz` with the store $ORCH_ARTIFACTS, else the spec's
`artifacts.store`: it must be the bucket of the cluster's artifact repository, for the pods read the
code as a key-only input artifact (the key is the URI's path; the repository gives the bucket).
A step's secrets are read by the kubelet from Kubernetes Secrets: orch carries no value to the cluster.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from orch.core.artifacts import ENV, ships_code
from orch.core.errors import BackendUnavailable, Diagnostic, SpecError, UsageError
from orch.core.names import argo_name
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult
from orch.core.typed import to_text
from orch.core.values import resolve_params

from ..stores import chosen_store
from .deploy import deploy, undeploy  # noqa: F401 - the faces the CLI loads from this module
from .remote import list_runs, read_run  # noqa: F401
from .render import MAX_BYTES, render, workflow_spec  # noqa: F401 - render is this backend's other face
from .status import API_VERSION, result_from_workflow

DONE = ("Succeeded", "Failed", "Error")


def run(graph: PipelineGraph, params: Mapping[str, Any], *, resume: Optional[str] = None, progress=None,
        poll_seconds: float = 2.0, artifacts: Optional[str] = None, secrets: Optional[Mapping[str, str]] = None,
        spec_path: Optional[str] = None, server: Optional[str] = None, **_: Any) -> RunResult:
    """Submit and watch until the workflow ends; with `server` ("" for ARGO_SERVER), run the deployed template."""
    from hera.workflows import models as m

    if server is not None:
        from .remote import run_deployed

        return run_deployed(graph, params, server=server, progress=progress, spec_path=spec_path,
                            poll_seconds=poll_seconds)
    if resume:
        raise UsageError("--resume is the local backend's; on Argo, use `argo retry` or `argo resubmit`")
    if artifacts:
        raise UsageError("--artifacts: on Argo the cluster's artifact repository holds the artifacts (its executor moves "
                         "them); point the workflow's repository at the bucket, and give the key's prefix as the "
                         "spec's artifacts.store")
    if secrets is not None:
        raise UsageError("--secrets: on Argo each step reads its secrets from the Kubernetes Secrets it names, in the "
                         "workflow's namespace (kubectl create secret generic NAME --from-literal=KEY=...); orch carries "
                         "no secret value to the cluster")
    values = resolve_params(graph.pipeline, params)
    for name, value in values.items():  # Argo substitutes a template after placing a param's value in it
        if "{{" in to_text(value):
            raise UsageError(f"-p {name}: Argo would read '{{{{' in a param's value as a tag, and has no escape for it")
    spec = workflow_spec(graph, code=_shipped(graph, spec_path))  # what Argo cannot do is said before its server is asked
    spec.arguments = m.Arguments(parameters=[m.Parameter(name=k, value=to_text(v)) for k, v in values.items()]) or None
    workflow = m.Workflow(api_version=API_VERSION, kind="Workflow", spec=spec,
                          metadata=m.ObjectMeta(generate_name=f"{argo_name(graph.pipeline.name)}-", labels=dict(graph.pipeline.labels) or None))
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
        progress.begin(name, graph.pipeline.name, list(graph.pipeline.all_steps))
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


def _shipped(graph: PipelineGraph, spec_path: Optional[str]):
    """The pipeline's code packed and uploaded to the store the pods read it from (None unless it ships code)."""
    if not ships_code(graph.pipeline):
        return None
    from ..shipping import ship

    store, _ = chosen_store(graph.pipeline)
    if store.startswith("file://"):
        raise UsageError(f"code: {{ship: true}} on Argo: the pods read the code from the cluster's artifact repository, "
                         f"not from {store}\n  hint: set ${ENV} or the spec's artifacts.store to s3://<the repository's "
                         "bucket>/<prefix>")
    from ..transfer import ArtifactError
    from .artifacts import _prefix

    # the bucket chosen; the key under the spec store's prefix, as a rendered Workflow names it (where.code_key)
    bucket, prefix = urlsplit(store), _prefix(graph.pipeline)
    store = f"{bucket.scheme}://{bucket.netloc}" + (f"/{prefix}" if prefix else "")
    try:
        return ship(graph, spec_path, store, say=lambda line: print(line, file=sys.stderr))
    except ArtifactError as err:
        raise BackendUnavailable(f"cannot upload the code to {store}: {err}\n  hint: check the credentials (AWS_*, "
                                 "AWS_ENDPOINT_URL) and that the bucket exists") from None


def _service(server: Optional[str] = None, namespace: Optional[str] = None):
    """hera's client for `server` (else ARGO_SERVER) in `namespace` (else ARGO_NAMESPACE, else argo)."""
    from hera.workflows.service import WorkflowsService

    server = server or os.environ.get("ARGO_SERVER")
    if not server:
        raise BackendUnavailable("set ARGO_SERVER (host:port of the Argo Server), as for the argo CLI")
    if "://" not in server:
        secure = os.environ.get("ARGO_SECURE", "true").lower() != "false"
        server = ("https://" if secure else "http://") + server
    token = os.environ.get("ARGO_TOKEN") or None
    if token and not token.startswith("Bearer "):
        token = f"Bearer {token}"
    verify = os.environ.get("ARGO_INSECURE_SKIP_VERIFY", "false").lower() != "true"
    namespace = namespace or os.environ.get("ARGO_NAMESPACE") or "argo"
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
