"""`run` for Prefect: execute the rendered flow module on Prefect, read the outcome back from its API.

The server is PREFECT_API_URL when set (unreachable: exit 3); otherwise a temporary local
server that Prefect starts and orch keeps for the run and the read-back (one start, ~6 s).
The module is written to $ORCH_HOME/prefect/ and imported from there: exactly what
`orch render --backend prefect` prints. A pipeline that ships its code is packed and uploaded to the
run's store first, and its steps import only from their copy of it. Secrets: on the temporary server
orch saves a Secret block per secret from `--secrets` and ORCH_SECRET_*, so the flow reads them as it
would on a real server; on PREFECT_API_URL's server it writes nothing (the blocks must be there).
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.util
import os
import signal
import socket
import sys
import time
import threading
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Mapping, Optional

from orch.core import groups
from orch.core.artifacts import ships_code
from orch.core.errors import BackendUnavailable, RunInterrupted, UsageError
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult
from orch.core.secrets import grouped_secrets, local_secrets
from orch.core.values import resolve_params

from ..children import kill_step_processes
from ..shipping import project_root
from ..stores import run_store, store_in_env
from .deploy import deploy, undeploy  # noqa: F401 - the backend's server face, loaded from here as render is
from .remote import list_runs, read_run  # noqa: F401
from .render import flow_parameters, module_file, module_source, names_of, render  # noqa: F401 - render is this backend's other face

SETTLE_SECONDS = 10.0  # at most this long for the server to record the last task-run states


def run(graph: PipelineGraph, params: Mapping[str, Any], *, spec_path: Optional[str] = None, resume: Optional[str] = None,
        progress=None, home: Optional[Path] = None, artifacts: Optional[str] = None,
        secrets: Optional[Mapping[str, str]] = None, server: Optional[str] = None, **_: Any) -> RunResult:
    """Run the flow to its end and return what Prefect recorded. With `server` (a URL; "": PREFECT_API_URL's),
    trigger a run of the deployed pipeline there instead, follow it and read it back (remote.py)."""
    if server is not None:
        from .remote import run_deployed

        return run_deployed(graph, params, server=server or None, spec_path=spec_path, progress=progress)
    if resume:
        raise UsageError("--resume is the local backend's; on Prefect, rerun the flow (its retries are per task)")
    values = resolve_params(graph.pipeline, params)
    store = run_store(graph.pipeline, artifacts)
    names = names_of(graph.pipeline)
    shipped = _ship(graph, spec_path, store)
    module = _load_flow(graph, home, shipped)
    flow = getattr(module, names.flow)
    folder = str(project_root(spec_path))
    name = f"{graph.pipeline.name}-{uuid.uuid4().hex[:8]}"
    # shipped code: a step imports from its copy only, never from the spec's folder
    with _api() as temporary, nullcontext() if shipped else _on_path(folder), store_in_env(store), \
            _secret_blocks(graph, local_secrets(secrets) if temporary else {}):
        watcher = _Watcher(graph, name, values, progress)
        watcher.start()
        try:
            with _steps_die_on_ctrl_c(module.end_attempts):
                arguments = [values[param] for param in flow_parameters(graph.pipeline)]
                state = flow.with_options(flow_run_name=name)(*arguments, return_state=True)
        except KeyboardInterrupt:
            raise RunInterrupted(f"interrupted: Prefect's flow run {name} stopped (rerun it; --resume is local's)") from None
        finally:
            watcher.stop()
        drain_workers()  # task-run states reach the API as events: send what is queued
        result = asyncio.run(_read(graph, state.state_details.flow_run_id, values))
        watcher.finish(result)
        return result


@contextmanager
def _steps_die_on_ctrl_c(end_attempts):
    """Ctrl-C kills the running steps first, and no step starts after (`end_attempts`: the flow module's): Prefect's
    task runner waits for its worker threads on the way out, and they wait on the steps (each in its own session,
    out of Ctrl-C's reach)."""
    def interrupt(signum, frame):
        end_attempts("stopped: the run was interrupted")
        kill_step_processes()
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ship(graph: PipelineGraph, spec_path: Optional[str], store: Optional[str]):
    """The pipeline's code packed and uploaded to the run's store (once per content), or None if it ships none."""
    if not ships_code(graph.pipeline):
        return None
    from ..shipping import ship

    return ship(graph, spec_path, store, say=lambda line: print(line, file=sys.stderr))


@contextmanager
def _secret_blocks(graph: PipelineGraph, values: Mapping[str, str]):
    """On the temporary server: a Secret block per secret the steps read that the server has none of, holding the
    keys that have a value (`Secret(value={key: value}).save(name)`; a key without one is left out, so its step
    fails naming it); removed when the run ends. The server's database is the profile's: a block the user keeps
    there is never overwritten, and no value stays behind."""
    from prefect.blocks.system import Secret

    made = []
    try:
        for secret, keys in grouped_secrets(graph.pipeline, values).items():
            if not _has_block(Secret, secret):
                Secret(value=keys).save(secret)
                made.append(secret)
        yield
    finally:
        for secret in made:
            Secret.delete(secret)


def _has_block(kind, name: str) -> bool:
    try:
        kind.load(name)
    except ValueError:  # "Unable to find block document named ..."
        return False
    return True


def _load_flow(graph: PipelineGraph, home: Optional[Path], shipped=None):
    """The flow module, written to $ORCH_HOME/prefect/ and imported from there."""
    folder = (home or Path(os.environ.get("ORCH_HOME", ".orch"))) / "prefect"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / module_file(graph.pipeline.name)
    path.write_text(module_source(graph, deployment=False, code=shipped), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"orch_prefect_{path.stem}_{uuid.uuid4().hex[:6]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def _api():
    """PREFECT_API_URL if set and reachable (yields False); else a temporary local server for the run and the
    read-back (yields True)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = PREFECT_API_URL.value()
    if url:
        problem = asyncio.run(_health())
        if problem is not None:
            raise BackendUnavailable(f"cannot reach the Prefect API at {url}: {problem}")
        yield False
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer(port=free_port())  # its own: Prefect's default one may be someone else's
    server.start(timeout=60)  # Prefect waits 20 s by default; a loaded machine can need more
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            try:
                yield True
            finally:
                drain_workers()
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def drain_workers() -> None:
    """Send the logs and events still queued before the server goes (else each waits out its retries)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=5)
        except RuntimeError:  # never started
            pass


async def _health():
    from prefect import get_client

    async with get_client() as client:
        error = await client.api_healthcheck()
    return None if error is None else f"{type(error).__name__}: {error}"


@contextmanager
def _on_path(folder: str):
    """The spec's folder first on sys.path, as for the local backend (the steps' children inherit it)."""
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


async def _read(graph: PipelineGraph, flow_run_id, values) -> RunResult:
    from prefect import get_client

    from .status import read_result, settled

    async with get_client() as client:
        deadline, result = time.monotonic() + SETTLE_SECONDS, None
        while True:  # the server records task-run states from events: wait until it has every final one
            result, before = await read_result(client, graph, flow_run_id, values), result
            if settled(graph, result, before) or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.1)


class _Watcher(threading.Thread):
    """Reports step states to the progress display as Prefect records them (polls the API)."""

    def __init__(self, graph: PipelineGraph, flow_run_name: str, values, progress):
        super().__init__(daemon=True)
        self.graph, self.flow_run_name, self.values, self.progress = graph, flow_run_name, values, progress
        self.done = threading.Event()
        self.seen: dict[str, str] = {}
        self.begun = False
        self.context = contextvars.copy_context()  # Prefect's settings (the API's URL) live in context variables

    def _polls(self) -> bool:
        from orch.backends.local.progress import Quiet

        return type(self.progress) not in (type(None), Quiet)  # nobody watches (--json): no polling

    def run(self) -> None:
        if self._polls():
            self.context.run(asyncio.run, self._watch())

    async def _watch(self) -> None:
        from prefect import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

        from .status import read_result

        async with get_client() as client:
            while not self.done.is_set():
                runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[self.flow_run_name])))
                if runs:
                    self._begin(str(runs[0].id))
                    self._report(await read_result(client, self.graph, runs[0].id, self.values, final=False))
                await asyncio.sleep(0.3)

    def _begin(self, run_id: str) -> None:
        if not self.begun:
            pipeline = self.graph.pipeline
            self.progress.begin(run_id, pipeline.name, [*groups.order(pipeline), *pipeline.finally_])
            self.begun = True

    def finish(self, result: RunResult) -> None:
        """The last states, from the RunResult read back once the run ended."""
        if self._polls():
            self._begin(result.run_id)
            self._report(result)
            self.progress.end()

    def _report(self, result: RunResult) -> None:
        for name, step in result.steps.items():
            if step.status != self.seen.get(name) and step.status != "pending":
                self.seen[name] = step.status
                self.progress.step(name, step.status, attempt=step.attempts, error=step.error)

    def stop(self) -> None:
        self.done.set()
        self.join()
