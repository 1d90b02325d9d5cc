"""`orch deploy -b prefect`: the rendered flow module as a Prefect deployment on a running server.

The module is exactly what `orch render -b prefect` writes, put at `<spec folder>/.orch/deploy/prefect/` (orch's
own folder: never shipped as code). The deployment's source is the spec's folder, the project root as a Prefect
user's repository would be, so a flow run works in it as `orch run` does from there (pull step
set_working_directory), and its entrypoint is the module's path relative to it. Its name is the pipeline's, under the
flow of the pipeline's name: a second deploy updates the same deployment. `undeploy` deletes it and the module.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from orch.core.artifacts import needs_store, ships_code, spec_store
from orch.core.errors import UsageError
from orch.core.graph import PipelineGraph

from ..shipping import project_root
from .remote import call, connected, full_name, read_deployment, version_of
from .render import module_file, module_source, names_of

FOLDER = Path(".orch") / "deploy" / "prefect"  # under the spec's folder
REMOTE_FOLDER = "deploy/prefect"  # under a remote store, beside code/


def deploy(graph: PipelineGraph, *, spec_path: Optional[str], server: Optional[str], options: Mapping[str, Any],
           say: Callable[[str], None]):
    """Create or update the deployment `<pipeline>/<pipeline>` on the server (its work pool, schedule, parameters)."""
    from ..remote import Deployed

    with connected(server) as url:
        pool = _work_pool(options)
        if call(url, _read_pool, pool) is None:
            raise UsageError(f"no work pool {pool!r} on {url}: create it (prefect work-pool create {pool} --type process) "
                             f"and start a worker on it (prefect worker start --pool {pool}), or pick one with --work-pool")
        graph = _with_run_store(graph, check=True)
        text = module_source(graph, deployment=True, code=_shipped(graph, spec_path, say, upload=True))
        root = project_root(spec_path)
        entrypoint = _write(root, graph.pipeline.name, text)
        source, entrypoint = _source(graph, root, entrypoint)
        before = call(url, read_deployment, full_name(graph))
        deployment_id = _apply(graph, source, entrypoint, pool, bool(options.get("paused")), version_of(text))
    verb = "updated" if before is not None else "created"
    schedule = graph.pipeline.schedule
    required = [name for name, param in graph.pipeline.params.items() if param.required]
    if schedule and required:
        say(f"warning: param{'s' if len(required) > 1 else ''} {', '.join(required)} ha{'ve' if len(required) > 1 else 's'} "
            "no default: the schedule's runs will fail until the deployment's parameters give one")
    when = f", schedule {schedule.cron!r} ({schedule.timezone}){' paused' if options.get('paused') else ''}" if schedule else ""
    if before is not None and before.id != deployment_id:  # Prefect keys a deployment by its name: never expected
        say(f"warning: Prefect replaced deployment {before.id} by {deployment_id}")
    return Deployed("prefect", graph.pipeline.name, url, (
        f"{verb} Prefect deployment '{full_name(graph)}' (id {deployment_id}, work pool {pool!r}{when}, version "
        f"{version_of(text)})", f"wrote {root / FOLDER / module_file(graph.pipeline.name)}"
        + (f", uploaded to {source}" if source != str(root) else "") + f" (entrypoint {entrypoint}, source {source})"))


def undeploy(graph: PipelineGraph, *, spec_path: Optional[str], server: Optional[str], options: Mapping[str, Any],
             say: Callable[[str], None]):
    """Delete the deployment (its flow runs stay on the server, as Prefect keeps them) and the module deploy wrote."""
    from ..remote import Deployed

    made = []
    with connected(server) as url:
        deployment = call(url, read_deployment, full_name(graph))
        if deployment is not None:
            call(url, _delete, deployment.id)
            made.append(f"deleted Prefect deployment '{full_name(graph)}' (id {deployment.id})")
            made += _remove_uploaded(deployment, module_file(graph.pipeline.name))
    module = project_root(spec_path) / FOLDER / module_file(graph.pipeline.name)
    if module.exists():
        module.unlink()
        made.append(f"removed {module}")
    return Deployed("prefect", graph.pipeline.name, url, tuple(made))


def module_text(graph: PipelineGraph, spec_path: Optional[str], say: Callable[[str], None]) -> str:
    """What deploy would deploy today (nothing uploaded): for `orch run --server` to compare with the deployed version."""
    graph = _with_run_store(graph, check=False)
    return module_source(graph, deployment=True, code=_shipped(graph, spec_path, say, upload=False))


def _work_pool(options: Mapping[str, Any]) -> str:
    from prefect.settings import PREFECT_DEFAULT_WORK_POOL_NAME

    pool = options.get("work_pool") or PREFECT_DEFAULT_WORK_POOL_NAME.value()
    if not pool:
        raise UsageError("which work pool should run it? pass --work-pool NAME or set PREFECT_DEFAULT_WORK_POOL_NAME")
    return pool


def _with_run_store(graph: PipelineGraph, check: bool) -> PipelineGraph:
    """The graph naming, as its spec's store, the store this deploy uses ($ORCH_ARTIFACTS, the spec's, the default
    folder made absolute): the code goes there, so the deployed module must read it there too."""
    if not needs_store(graph.pipeline):
        return graph
    from orch.core.spec import Artifacts

    from ..stores import run_store

    store = run_store(graph.pipeline, None, check=check)
    if store == spec_store(graph.pipeline):
        return graph
    artifacts = Artifacts(store=store)  # artifacts has no other field
    return dataclasses.replace(graph, pipeline=graph.pipeline.model_copy(update={"artifacts": artifacts}))


def _shipped(graph: PipelineGraph, spec_path: Optional[str], say, upload: bool):
    """The packed code (uploaded to the store when `upload`), or None for a pipeline that ships none."""
    if not ships_code(graph.pipeline):
        return None
    from ..shipping import ship

    return ship(graph, spec_path, spec_store(graph.pipeline) if upload else None, say=say)


def _write(root: Path, pipeline: str, text: str) -> str:
    """Write the module (readable by others: the worker may run as another user); its path relative to `root`."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / module_file(pipeline)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o644)
    return str(FOLDER / module_file(pipeline))


def _source(graph: PipelineGraph, root: Path, entrypoint: str) -> tuple[str, str]:
    """The deployment's source and entrypoint: the spec's folder; for a pipeline that ships its code to a remote
    store, the module uploaded beside the code (`<store>/deploy/prefect/<pipeline>/`), so a worker on another
    machine needs no shared disk (Prefect pulls that folder with fsspec, as RemoteStorage)."""
    store = spec_store(graph.pipeline)
    if not ships_code(graph.pipeline) or store is None or store.startswith("file://"):
        return str(root), entrypoint
    from orch.core.errors import BackendUnavailable

    from ..transfer import ArtifactError, publish

    key = f"{REMOTE_FOLDER}/{graph.pipeline.name}/{module_file(graph.pipeline.name)}"
    try:
        publish(store, key, root / entrypoint)
    except ArtifactError as err:
        raise BackendUnavailable(str(err)) from None
    return f"{store}/{REMOTE_FOLDER}/{graph.pipeline.name}", module_file(graph.pipeline.name)


def _remove_uploaded(deployment, module: str) -> list[str]:
    """The module deploy uploaded beside shipped code (a remote source), removed; what was removed."""
    for step in deployment.pull_steps or []:
        remote = step.get("prefect.deployments.steps.pull_from_remote_storage", {}).get("url")
        if remote and remote.rstrip("/").endswith(f"/{REMOTE_FOLDER}/{deployment.name}"):
            import fsspec

            fs, path = fsspec.core.url_to_fs(f"{remote}/{module}")
            if fs.exists(path):
                fs.rm(path)
                return [f"removed {remote}/{module}"]
    return []


def _apply(graph: PipelineGraph, root: str, entrypoint: str, pool: str, paused: bool, version: str):
    """`flow.from_source(...)` made a deployment and applied: Prefect's own create-or-update of the deployment
    of that name."""
    from prefect import Flow

    pipeline = graph.pipeline
    names = names_of(pipeline)
    flow = Flow.from_source(source=root, entrypoint=f"{entrypoint}:{names.flow}")
    schedule = pipeline.schedule
    timing: dict[str, Any] = {"schedules": []}  # none: an update removes the schedule a spec no longer has
    if schedule:
        from prefect.schedules import Cron

        timing = {"schedule": Cron(schedule.cron, timezone=schedule.timezone), "concurrency_limit": schedule.concurrency}
    defaults = {names.params[n]: p.default for n, p in pipeline.params.items() if not p.required}
    deployment = flow.to_deployment(name=pipeline.name, work_pool_name=pool, paused=paused, version=version,
                                    parameters=_typed(pipeline, defaults), description=pipeline.description,
                                    tags=["orch"], **timing)
    return deployment.apply(work_pool_name=pool)  # flow.deploy() would print its own table on stdout


def _typed(pipeline, defaults: dict) -> dict:
    from orch.core import typed

    names = {v: k for k, v in names_of(pipeline).params.items()}
    return {key: None if value is None else typed.as_declared(value, pipeline.params[names[key]].type)
            for key, value in defaults.items()}


async def _read_pool(client, name: str):
    from prefect.exceptions import ObjectNotFound

    try:
        return await client.read_work_pool(name)
    except ObjectNotFound:
        return None


async def _delete(client, deployment_id) -> None:
    await client.delete_deployment(deployment_id)
