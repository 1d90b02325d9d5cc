"""A deployed pipeline on a running Prefect server: trigger a run and follow it, list and read its runs.

The server is `--server` (Prefect's API URL, ending in /api), else PREFECT_API_URL; the credentials are Prefect's
own (PREFECT_API_KEY, or PREFECT_API_AUTH_STRING for a server started with an auth string), never shown. Everything
read comes from the server's records (flow run, task runs, their states and run counts); a step's outputs come
from its persisted result, which Prefect keeps where the worker ran (status.py says when they cannot be read here).
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Mapping, Optional

from orch.core.errors import BackendUnavailable, UsageError
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult
from orch.core.values import resolve_params

from .render import names_of

API_HINT = "Prefect's API URL ends in /api, e.g. http://127.0.0.1:4200/api"
SETTLE_SECONDS = 10.0  # at most this long, once the flow run ended, for the server to record its last task-run states


def api_url(server: Optional[str]) -> str:
    """`--server`, else PREFECT_API_URL (as Prefect reads it: environment or profile); none: exit 3 saying what to set."""
    from prefect.settings import PREFECT_API_URL

    url = server or PREFECT_API_URL.value()
    if not url:
        raise BackendUnavailable(f"no Prefect server given: pass --server URL or set PREFECT_API_URL ({API_HINT})")
    return url.rstrip("/")


@contextmanager
def connected(server: Optional[str]):
    """Prefect's client pointed at the server for the block, once it answers and accepts the credentials; yields its URL."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = api_url(server)
    with temporary_settings({PREFECT_API_URL: url}):
        call(url, _check)
        yield url


def call(url: str, job, *args):
    """`job(client, *args)` on a fresh client; an unreachable server or refused credentials: exit 3 naming the URL."""
    import httpx
    from prefect import get_client

    async def go():
        async with get_client() as client:
            return await job(client, *args)

    from ..remote import shown

    try:
        return asyncio.run(go())
    except httpx.HTTPStatusError as err:  # PrefectHTTPStatusError too
        code = err.response.status_code
        if code in (401, 403):
            raise BackendUnavailable(f"the Prefect API at {shown(url)} refused the credentials (HTTP {code}):"
                                     " set PREFECT_API_KEY (Prefect Cloud) or PREFECT_API_AUTH_STRING (a server with an"
                                     " auth string)") from None
        raise BackendUnavailable(f"the Prefect API at {shown(url)} answered HTTP {code}"
                                 + (f" ({API_HINT})" if code == 404 else "")) from None
    except (httpx.TransportError, OSError) as err:
        raise BackendUnavailable(f"cannot reach the Prefect API at {shown(url)}: {type(err).__name__} ({API_HINT})") from None


async def _check(client) -> None:
    problem = await client.api_healthcheck()
    if problem is not None:
        raise problem if isinstance(problem, Exception) else RuntimeError(problem)
    await client.read_work_pools(limit=1)  # /health asks for no credentials; this does


def full_name(graph: PipelineGraph) -> str:
    """The deployment's name as Prefect shows it: `<flow>/<deployment>`, both the pipeline's name."""
    return f"{graph.pipeline.name}/{graph.pipeline.name}"


def version_of(module_text: str) -> str:
    """The deployment's version: a short hash of the module it runs, so a run can tell it is not today's render."""
    return hashlib.sha256(module_text.encode("utf-8")).hexdigest()[:12]


async def read_deployment(client, name: str):
    """The deployment named `<flow>/<deployment>`, or None."""
    from prefect.exceptions import ObjectNotFound

    try:
        return await client.read_deployment_by_name(name)
    except ObjectNotFound:
        return None


def run_deployed(graph: PipelineGraph, params: Mapping[str, Any], *, server: Optional[str], spec_path: Optional[str] = None,
                 progress=None) -> RunResult:
    """Trigger a run of the deployed pipeline (create_flow_run from its deployment) and follow it to its end."""
    from ..remote import follow
    from ..local.progress import Quiet

    values = resolve_params(graph.pipeline, params)
    names = names_of(graph.pipeline)
    with connected(server) as url:
        deployment = call(url, read_deployment, full_name(graph))
        if deployment is None:
            raise UsageError(f"no Prefect deployment {full_name(graph)!r} on {url}: deploy it first "
                             f"(orch deploy SPEC -b prefect --server {url})")
        _warn_if_stale(graph, spec_path, deployment)
        arguments = {names.params[name]: value for name, value in values.items()}
        run_name = f"{graph.pipeline.name}-{uuid.uuid4().hex[:8]}"
        flow_run = call(url, _trigger, deployment.id, arguments, run_name)
        notes = Notes()
        return follow(lambda final: _read(url, graph, flow_run.id, values, final, notes), progress=progress or Quiet(),
                      cancel=lambda: call(url, cancel, flow_run.id),
                      how_to_cancel=f"prefect flow-run cancel {flow_run.id}",
                      where=f"{url} (flow run {run_name})")


async def _trigger(client, deployment_id, parameters, name):
    return await client.create_flow_run_from_deployment(deployment_id, parameters=parameters, name=name)


async def cancel(client, flow_run_id) -> None:
    """Set the flow run Cancelling, as `prefect flow-run cancel` does: its worker then stops it."""
    from prefect.client.schemas.objects import StateType
    from prefect.states import State

    await client.set_flow_run_state(flow_run_id=flow_run_id, state=State(type=StateType.CANCELLING))


def _warn_if_stale(graph: PipelineGraph, spec_path: Optional[str], deployment) -> None:
    """One line on stderr when the deployed module is not what the spec renders today (the deployment runs the old one)."""
    from .deploy import module_text

    try:
        today = version_of(module_text(graph, spec_path, say=lambda line: None))
    except Exception:  # a spec Prefect cannot deploy today: deploy says why
        return
    if deployment.version and deployment.version != today:
        print(f"warning: the deployed flow module (version {deployment.version}) is not what the spec renders today "
              f"({today}); this run uses the deployed one -- run orch deploy again to update it", file=sys.stderr)


class Notes:
    """What to say once per run: outputs the reader could not reach."""

    def __init__(self):
        self.said = False

    def unreachable(self, missing: list[tuple[str, str]]) -> None:
        if missing and not self.said:
            self.said = True
            steps = ", ".join(sorted({step for step, _ in missing}))
            where = missing[0][1]
            print(f"note: outputs of {steps} not read: Prefect keeps results where its worker ran ({where}), out of "
                  "reach here; give the worker and this machine one result storage (a block both reach, set with "
                  "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK or `prefect experimental result-storage set`, or a "
                  "shared folder as PREFECT_RESULTS_LOCAL_STORAGE_PATH)", file=sys.stderr)


def _read(url: str, graph: PipelineGraph, flow_run_id, values, final: bool, notes: Notes) -> RunResult:
    from .status import read_result, settled

    async def job(client):
        missing: list = []
        deadline, result = asyncio.get_running_loop().time() + SETTLE_SECONDS, None
        while True:
            missing.clear()
            result, before = await read_result(client, graph, flow_run_id, values, final=final, missing=missing), result
            # the server records task-run states from events: once the run ended, wait until it has every final one
            if not final or result.status == "running" or settled(graph, result, before) \
                    or asyncio.get_running_loop().time() > deadline:
                return result, missing
            await asyncio.sleep(0.2)

    result, missing = call(url, job)
    notes.unreachable(missing)
    return result


def _status(state) -> str:
    """A flow run's state in RunResult's words (a summary reads no task runs)."""
    if state is None or state.type.value in ("SCHEDULED", "PENDING", "PAUSED"):
        return "pending"
    if state.is_completed():
        return "succeeded"
    if state.is_final():
        return "failed"
    return "running"


def list_runs(graph: PipelineGraph, *, server: Optional[str], limit: int):
    """The deployed pipeline's recent runs, newest first; runs its schedule made for later are left out."""
    from ..remote import RunSummary

    async def job(client):
        from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterId, FlowRunFilter,
                                                    FlowRunFilterExpectedStartTime)
        from prefect.client.schemas.sorting import FlowRunSort

        deployment = await read_deployment(client, full_name(graph))
        if deployment is None:
            return None
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(timezone.utc))),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)

    with connected(server) as url:
        runs = call(url, job)
    if runs is None:
        raise UsageError(f"no Prefect deployment {full_name(graph)!r} on {url}: nothing to list")
    return [RunSummary(run_id=str(run.id), status=_status(run.state), started_at=run.start_time, ended_at=run.end_time)
            for run in runs]


def read_run(graph: PipelineGraph, run_id: str, *, server: Optional[str]) -> RunResult:
    """One flow run of the pipeline, as the server recorded it (its params as the flow run got them)."""
    try:
        flow_run_id = uuid.UUID(run_id)
    except ValueError:
        raise UsageError(f"{run_id!r} is not a Prefect flow run id (a UUID, as orch runs list -b prefect shows)") from None

    async def job(client):
        from prefect.exceptions import ObjectNotFound

        try:
            run = await client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            return None
        flow = await client.read_flow(run.flow_id)
        return run, flow.name

    with connected(server) as url:
        found = call(url, job)
        if found is None or found[1] != graph.pipeline.name:
            raise UsageError(f"no flow run {run_id} of {graph.pipeline.name!r} on {url}")
        names = names_of(graph.pipeline)
        given = found[0].parameters or {}
        values = {name: given.get(names.params[name]) for name in graph.pipeline.params}
        return _read(url, graph, flow_run_id, values, True, Notes())
