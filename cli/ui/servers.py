"""`orch ui --backend prefect|airflow|argo --spec SPEC`: the runs a server holds, beside the local records.

Read through the backend's own remote.py (list_runs, read_run: the engine's records as a RunResult), so the
pages show what `orch runs list|show -b B` shows, no more: one timeline bar per step (a RunResult has a step's
first start and last end, and its attempts as a count, not each attempt's times), no log (none of the remotes
reads one: the page says where the engine keeps it), no stop or resume (the engine's own controls do that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from orch.core.errors import OrchError, shorten
from orch.core.result import RunResult

from . import data

LIST_LIMIT = 100  # the newest runs a runs page asks the server for (Airflow's API gives at most 100 a request)
NAMES = {"prefect": "Prefect", "airflow": "Airflow", "argo": "Argo"}
NO_PATH = Path("/nonexistent/orch-ui-server-run")  # a server run's log and folder: none here


@dataclass
class ServerRuns:
    """One deployed pipeline on one server: its graph (the spec given), the backend's reader, the server's URL."""

    backend: str
    spec_path: Path
    server: Optional[str]
    graph: object = field(repr=False)
    remote: object = field(repr=False)

    @classmethod
    def open(cls, backend: str, spec_path: Path, server: Optional[str]) -> "ServerRuns":
        """UsageError (exit 2) for a backend with no server or a spec that does not load."""
        from orch.cli.deploy_cmd import served
        from orch.core.load import load_spec

        implementation = served(backend)
        return cls(backend, spec_path, server, load_spec(spec_path), implementation)

    @property
    def pipeline(self) -> str:
        return self.graph.pipeline.name

    def rows(self, pipeline: str = "", status: str = "", backend: str = "") -> tuple[list[dict], Optional[str]]:
        """The server's newest runs as runs-page rows (filtered), and the problem reading them (None: none)."""
        if (pipeline and pipeline != self.pipeline) or (backend and backend != self.backend):
            return [], None
        try:
            found = self.remote.list_runs(self.graph, server=self.server, limit=LIST_LIMIT)
        except OrchError as err:
            return [], f"{NAMES[self.backend]} runs of {self.pipeline!r} not shown: {shorten(str(err), 400)}"
        rows = []
        for run in found:
            started, ended = _text(run.started_at), _text(run.ended_at)
            if status and run.status != status:
                continue
            rows.append({"run_id": run.run_id, "pipeline": self.pipeline, "backend": self.backend, "status": run.status,
                         "started_at": started, "ended_at": ended, "duration": data.duration(started, ended)})
        return rows, None

    def result(self, run_id: str) -> Optional[RunResult]:
        """The run as the server records it; None when the server has no such run of this pipeline (a UsageError
        there). An unreachable server raises BackendUnavailable: the app's 502 page."""
        from orch.core.errors import UsageError

        try:
            return self.remote.read_run(self.graph, run_id, server=self.server)
        except UsageError:
            return None

    def view(self, run_id: str) -> Optional[data.RunView]:
        found = self.result(run_id)
        return None if found is None else self.view_of(found)

    def view_of(self, result: RunResult) -> data.RunView:
        """The run page's view of a RunResult: steps in the result's order, one attempt per started step."""
        pipeline = self.graph.pipeline
        final = set(pipeline.finally_)
        steps, attempts = {}, []
        for name, step in result.steps.items():
            view = data.StepView(name, step.status, step.attempts, dict(step.outputs), step.error, _text(step.started_at),
                                 _text(step.ended_at), is_group=name in pipeline.groups, is_final=name in final)
            steps[name] = view
            if step.started_at is not None and not view.is_group:
                attempts.append(data.Attempt(name, name, "-1", max(step.attempts, 1), step.status, step.error,
                                             view.started_at, view.ended_at, NO_PATH))
        return data.RunView(result.run_id, result.pipeline, self.backend, result.status, dict(result.params),
                            str(self.spec_path), _text(result.started_at), _text(result.ended_at), steps, attempts,
                            None, NO_PATH, None, self.graph, server=self.where(), engine_url=self.engine_url(result.run_id),
                            log_hint=self.log_hint(result.run_id))

    def live_state(self, run_id: str) -> Optional[dict]:
        found = self.result(run_id)
        if found is None:
            return None
        return {"run": found.status, "steps": {name: step.status for name, step in found.steps.items()}}

    def where(self) -> str:
        try:
            return f"the {NAMES[self.backend]} server at {self._base()}"
        except OrchError:
            return f"the {NAMES[self.backend]} server"

    def engine_url(self, run_id: str) -> Optional[str]:
        """The run in the engine's own UI, where its URL is known from the API's."""
        try:
            base = self._base()
        except OrchError:
            return None
        run = quote(run_id, safe="")
        if self.backend == "prefect":
            return f"{base.removesuffix('/api')}/runs/flow-run/{run}"
        if self.backend == "airflow":
            return f"{base}/dags/{quote(self.pipeline, safe='')}/runs/{run}"
        return f"{base}/workflows/{quote(self._namespace(), safe='')}/{run}"

    def log_hint(self, run_id: str) -> str:
        if self.backend == "prefect":
            return f"Prefect keeps the steps' logs: its UI's flow run page (the run page links it), or `prefect flow-run logs {run_id}`"
        if self.backend == "airflow":
            return "Airflow keeps each task try's log: its UI's run page (the run page links it), the task's Logs tab"
        return f"the pods' logs: `argo logs {run_id} -n {self._namespace()}`, or the Argo UI's run page (the run page links it)"

    def _base(self) -> str:
        from orch.backends.remote import shown

        if self.backend == "prefect":
            from orch.backends.prefect.remote import api_url

            return shown(api_url(self.server))
        if self.backend == "airflow":
            from orch.backends.airflow.api import Client

            return shown(Client.from_env(self.server).url)
        from orch.backends.argo.remote import Server

        return Server(self.server).url

    def _namespace(self) -> str:
        import os

        return os.environ.get("ARGO_NAMESPACE") or "argo"  # as backends/argo/run.py's _service reads it


def _text(moment) -> Optional[str]:
    return moment.isoformat() if moment is not None else None
