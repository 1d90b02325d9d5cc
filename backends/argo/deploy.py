"""`orch deploy -b argo`: the pipeline as a WorkflowTemplate on an Argo Server -- with its nested chunks'
WorkflowTemplates, and a CronWorkflow running it when the spec has a schedule; `--delete` removes them.

The template is what `orch render -b argo --kind template` writes (render.py, the same spec a Workflow gets, its
params as arguments with their defaults), named as Kubernetes names objects (argo_name: no '_'), the chunks'
`templateRef`s renamed alike. The CronWorkflow is render.py's, its workflowSpec only a `workflowTemplateRef`, with
`suspend: true` when deployed paused. Everything carries the label orch.dev/pipeline=NAME: deploy updates, and
--delete removes, only objects that carry it. The template's annotation orch.dev/rendered-sha256 is the hash of
the rendered documents, so `orch run --server` can tell when the spec renders differently today.
Each object is created, or updated with the resourceVersion the server gave (get, then PUT): deploying twice is
deploying once. A pipeline that ships its code uploads its pack here, as `orch run` does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from orch.core.artifacts import ships_code
from orch.core.errors import SpecError, UsageError
from orch.core.graph import PipelineGraph
from orch.core.names import argo_name

from ..remote import Deployed
from .remote import PIPELINE_LABEL, Server

HASH_ANNOTATION = "orch.dev/rendered-sha256"
MANAGED_BY = "app.kubernetes.io/managed-by"
# kind -> hera's WorkflowsService methods (get, create, update, delete, list) and its requests' field for the object
API = {"WorkflowTemplate": ("workflow_template", "template"), "CronWorkflow": ("cron_workflow", "cron_workflow")}


@dataclass(frozen=True)
class Objects:
    """What deploy puts on the server: the templates in the order they are applied (the chunks' first: the
    pipeline's refers to them, and the server checks a templateRef), the CronWorkflow if scheduled."""

    templates: list[dict]
    cron: Optional[dict]
    digest: str


def deploy(graph: PipelineGraph, *, spec_path: Optional[str], server: Optional[str], options: Mapping[str, Any],
           say: Callable[[str], None]) -> Deployed:
    from .run import _shipped

    remote = Server(server, options.get("namespace"))
    name = argo_name(graph.pipeline.name)
    if ships_code(graph.pipeline):  # reachable, and the token taken, before the code is uploaded
        remote.call("get_workflow_template", name, missing_ok=True)
    paused = bool(options.get("paused"))
    wanted = objects(graph, _shipped(graph, spec_path), paused)
    made = [_apply(remote, document, name) for document in wanted.templates]
    if wanted.cron is not None:
        made.append(_apply(remote, wanted.cron, name) + (" (suspended)" if paused else ""))
    else:  # a schedule dropped from the spec
        made += [_delete(remote, "CronWorkflow", cron) for cron in _ours(remote, "CronWorkflow", name)]
    kept = {document["metadata"]["name"] for document in wanted.templates}
    made += [_delete(remote, "WorkflowTemplate", old) for old in _ours(remote, "WorkflowTemplate", name) if old not in kept]
    return Deployed("argo", graph.pipeline.name, remote.url, tuple(line for line in made if line))


def undeploy(graph: PipelineGraph, *, spec_path: Optional[str], server: Optional[str], options: Mapping[str, Any],
             say: Callable[[str], None]) -> Deployed:
    """The CronWorkflow first (it would start runs of a template being removed), then the templates, the pipeline's
    before its chunks'. Only what carries orch's label for this pipeline; one already gone is no error."""
    remote = Server(server, options.get("namespace"))
    name = argo_name(graph.pipeline.name)
    made = [_delete(remote, "CronWorkflow", cron) for cron in _ours(remote, "CronWorkflow", name)]
    templates = sorted(_ours(remote, "WorkflowTemplate", name), key=lambda each: (each != name, each))
    made += [_delete(remote, "WorkflowTemplate", template) for template in templates]
    return Deployed("argo", graph.pipeline.name, remote.url, tuple(line for line in made if line))


def objects(graph: PipelineGraph, code=None, paused: bool = False) -> Objects:
    """The documents as deployed: rendered, renamed, labelled, the pipeline's template annotated with their hash."""
    import yaml

    from .render import _document, render

    name = argo_name(graph.pipeline.name)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    main, *chunks = [yaml.load(artifact.text, Loader=loader) for artifact in render(graph, "template", code=code)]
    renamed = {chunk["metadata"]["name"]: argo_name(chunk["metadata"]["name"]) for chunk in chunks}
    for chunk in chunks:
        chunk["metadata"]["name"] = renamed[chunk["metadata"]["name"]]
    main["metadata"]["name"] = name
    for template in main["spec"]["templates"]:
        for task in (template.get("dag") or {}).get("tasks", []):
            if "templateRef" in task:
                task["templateRef"]["name"] = renamed.get(task["templateRef"]["name"], task["templateRef"]["name"])
    digest = hashlib.sha256(json.dumps([main] + chunks, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    for document in [main] + chunks:
        _label(document, name)
    main["metadata"].setdefault("annotations", {})[HASH_ANNOTATION] = digest
    cron = None
    if graph.pipeline.schedule is not None:
        cron = _document(graph, {"workflowTemplateRef": {"name": name}}, "cron")
        cron["metadata"]["name"] = name
        _label(cron, name)
        # its runs labelled as submitted ones are (the controller adds workflows.argoproj.io/workflow-template)
        cron["spec"]["workflowMetadata"] = {"labels": {**graph.pipeline.labels, PIPELINE_LABEL: name}}
        if paused:
            cron["spec"]["suspend"] = True
    return Objects(chunks + [main], cron, digest)


def drift_warning(graph: PipelineGraph, spec_path: Optional[str], deployed, url: str) -> Optional[str]:
    """A line for stderr when the deployed template's hash is not that of what the spec renders today."""
    from ..shipping import ship

    try:
        code = ship(graph, spec_path, None, say=lambda line: None)  # packed only: its sha256 is in the template
        today = objects(graph, code).digest
    except (UsageError, SpecError, OSError) as err:  # the run is of the deployed template: only the check is lost
        return f"warning: cannot tell whether the deployed WorkflowTemplate is what the spec renders today: {err}"
    if (deployed.metadata.annotations or {}).get(HASH_ANNOTATION) == today:
        return None
    return (f"warning: the WorkflowTemplate {deployed.metadata.name!r} on {url} is not what the spec renders today; "
            "this run runs the deployed one\n  hint: orch deploy SPEC -b argo updates it")


def _label(document: dict, name: str) -> None:
    document["metadata"]["labels"] = {**(document["metadata"].get("labels") or {}), PIPELINE_LABEL: name,
                                      MANAGED_BY: "orch"}


def _apply(remote: Server, document: dict, name: str) -> str:
    """Create the object, or update the one there with its resourceVersion; what was done."""
    from hera.workflows import models as m

    kind, own = document["kind"], document["metadata"]["name"]
    method, field = API[kind]
    model = getattr(m, kind).model_validate(document)
    current = remote.call(f"get_{method}", own, missing_ok=True)
    if current is None:
        request = (m.WorkflowTemplateCreateRequest if kind == "WorkflowTemplate" else m.CreateCronWorkflowRequest)
        remote.call(f"create_{method}", request(namespace=remote.namespace, **{field: model}))
        return f"created {kind} {own!r} in namespace {remote.namespace}"
    if (current.metadata.labels or {}).get(PIPELINE_LABEL) != name:
        raise UsageError(f"{kind} {own!r} in namespace {remote.namespace} on {remote.url} was not deployed by orch for "
                         f"this pipeline (no label {PIPELINE_LABEL}={name}); orch leaves it alone\n  hint: remove it, "
                         "or deploy to another namespace (--namespace)")
    model.metadata.resource_version = current.metadata.resource_version
    request = (m.WorkflowTemplateUpdateRequest if kind == "WorkflowTemplate" else m.UpdateCronWorkflowRequest)
    remote.call(f"update_{method}", own, request(name=own, namespace=remote.namespace, **{field: model}))
    return f"updated {kind} {own!r} in namespace {remote.namespace}"


def _delete(remote: Server, kind: str, own: str) -> Optional[str]:
    if remote.call(f"delete_{API[kind][0]}", own, missing_ok=True) is None:
        return None
    return f"removed {kind} {own!r} from namespace {remote.namespace}"


def _ours(remote: Server, kind: str, name: str) -> list[str]:
    """The objects of `kind` orch deployed for the pipeline (by its label)."""
    found = remote.call(f"list_{API[kind][0]}s", label_selector=f"{PIPELINE_LABEL}={name}")
    return [item.metadata.name for item in found.items or []]
