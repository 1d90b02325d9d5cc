"""`orch run --server` and `orch runs list|show` for Airflow: runs of a deployed DAG, read from the server's
own records over the REST API v2 -- the DAG run, its task instances (states, try numbers, times) and the
XComs orch's tasks push -- in the same `records` shape the local driver reports, so status.py builds the
RunResult the same way.

A triggered run carries the params as its conf. A paused DAG queues a triggered run that never starts, so
a run on a paused DAG is refused, saying how to unpause it; Ctrl-C can cancel the run (marked failed).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Optional
from urllib.parse import quote

from orch.core.errors import UsageError
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult
from orch.core.values import resolve_params

from ..remote import RunSummary, follow, moment
from .api import ApiError, Client
from .deploy import import_error
from .render import GROUP_TASK, dag_file
from .status import result_from_records

RUN_STATES = {"queued": "running", "running": "running", "success": "succeeded", "failed": "failed"}
VALUE_KEYS = ("return_value", "orch_error", "orch_status", "orch_inner")  # what status.py reads of a step's XComs
# (orch_inner: a fan-out group's end's record of its steps' items)
POLL_SECONDS = 0.3
READERS = 8  # XCom values read at once at a run's end


def run_deployed(graph: PipelineGraph, params: Mapping[str, Any], *, server: Optional[str], progress=None,
                 **_: Any) -> RunResult:
    """Trigger a run of the deployed DAG with `params` as its conf, follow it, return the server's record."""
    client = Client.from_env(server or None)
    dag_id = graph.pipeline.name
    values = resolve_params(graph.pipeline, params)
    _runnable(client, dag_id)
    try:
        run = client.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": values})
    except ApiError as err:
        raise UsageError(f"Airflow refused to run DAG '{dag_id}': {err.detail}") from None
    run_id = run["dag_run_id"]
    where = f"{client.url} (DAG '{dag_id}', run {run_id})"

    return follow(lambda final: result_from_records(graph, records(client, dag_id, run_id, values=final), values),
                  progress=progress, cancel=lambda: cancel_run(client, dag_id, run_id), where=where, poll_seconds=POLL_SECONDS,
                  how_to_cancel=f"mark run {run_id} failed in Airflow's UI, or PATCH /api/v2/dags/{dag_id}/dagRuns/"
                                f"{run_id} with {{\"state\": \"failed\"}}")


def run_path(dag_id: str, run_id: str) -> str:
    """A DAG run's path: its id quoted whole (a run id is free text: '+', ':', even '/')."""
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"


def cancel_run(client: Client, dag_id: str, run_id: str) -> None:
    """The run marked failed: Airflow fails its running tasks (their processes are stopped) and skips the rest."""
    client.request("PATCH", run_path(dag_id, run_id), {"state": "failed"},
                   query={"update_mask": "state"})


def list_runs(graph: PipelineGraph, *, server: Optional[str], limit: int) -> list[RunSummary]:
    """The DAG's newest runs first."""
    client = Client.from_env(server or None)
    dag_id = graph.pipeline.name
    _deployed(client, dag_id)
    runs = client.get(f"/api/v2/dags/{dag_id}/dagRuns", order_by="-id", limit=max(1, min(limit, 100)))["dag_runs"]
    return [RunSummary(run["dag_run_id"], RUN_STATES.get(run["state"], run["state"]), moment(run.get("start_date")),
                       moment(run.get("end_date"))) for run in runs]


def read_run(graph: PipelineGraph, run_id: str, *, server: Optional[str]) -> RunResult:
    client = Client.from_env(server or None)
    dag_id = graph.pipeline.name
    _deployed(client, dag_id)
    found = records(client, dag_id, run_id, values=True)
    return result_from_records(graph, found, found.get("conf") or {})


def records(client: Client, dag_id: str, run_id: str, *, values: bool) -> dict:
    """The run as the server stores it. Without `values` (while it goes) only failed steps' XComs are read."""
    try:
        run = client.get(run_path(dag_id, run_id))
    except ApiError as err:
        if err.status == 404:
            raise UsageError(f"Airflow has no run {run_id!r} of DAG '{dag_id}' ({client.url})") from None
        raise
    base = f"{run_path(dag_id, run_id)}/taskInstances"
    tasks = [{"task_id": ti["task_id"], "map_index": ti["map_index"], "state": ti["state"],
              "try_number": ti["try_number"], "start": ti["start_date"], "end": ti["end_date"]}
             for ti in client.pages(base, "task_instances")]
    wanted = {t["task_id"] for t in tasks if t["map_index"] == -1 and  # a group's end: its steps' items, for progress
              (values or t["state"] == "failed" or t["task_id"].endswith(GROUP_TASK.format("")))}
    xcoms = []
    if wanted:
        found = [(entry["task_id"], entry["key"]) for entry in client.pages(f"{base}/~/xcomEntries", "xcom_entries", map_index=-1)
                 if entry["task_id"] in wanted and entry["key"] in VALUE_KEYS]
        with ThreadPoolExecutor(max_workers=READERS) as pool:  # a value a request: all at once, not one after another
            values = pool.map(lambda entry: client.get(f"{base}/{entry[0]}/xcomEntries/{entry[1]}", map_index=-1)["value"], found)
            xcoms = [{"task_id": task_id, "map_index": -1, "key": key, "value": value}
                     for (task_id, key), value in zip(found, values)]
    return {"run_id": run["dag_run_id"], "state": run["state"], "start": run.get("start_date"),
            "end": run.get("end_date"), "conf": run.get("conf"), "tasks": tasks, "xcoms": xcoms}


def tries(client: Client, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
    """Each attempt of one task as Airflow records it (`/tries`): try_number, state, start_date, end_date."""
    path = f"{run_path(dag_id, run_id)}/taskInstances/{task_id}/tries"
    answer = client.get(path, map_index=map_index)
    return sorted(answer["task_instances"], key=lambda t: t["try_number"])


def _runnable(client: Client, dag_id: str) -> None:
    dag = _deployed(client, dag_id)
    if dag["is_stale"] and not dag["has_import_errors"]:
        raise UsageError(f"Airflow DAG '{dag_id}' is stale on {client.url}: its file is gone from the DAGs folder"
                         "\n  hint: orch deploy SPEC -b airflow")
    if dag["has_import_errors"]:
        broken = import_error(client, dag_file(dag_id)) or {"stack_trace": "(see the server's Import Errors)"}
        raise UsageError(f"Airflow DAG '{dag_id}' has an import error on {client.url}:\n"
                         f"{_tail(broken['stack_trace'])}\n  hint: fix the file and orch deploy it again")
    if dag["is_paused"]:
        raise UsageError(f"Airflow DAG '{dag_id}' is paused on {client.url}: a triggered run would wait in the "
                         "queue until it is unpaused\n  hint: orch deploy SPEC -b airflow (without --paused), "
                         f"or airflow dags unpause {dag_id}, or the toggle in Airflow's UI")


def _deployed(client: Client, dag_id: str) -> dict:
    try:
        dag = client.get(f"/api/v2/dags/{dag_id}")
    except ApiError as err:
        if err.status != 404:
            raise
        broken = import_error(client, dag_file(dag_id))
        if broken is not None:
            raise UsageError(f"Airflow has no DAG '{dag_id}' on {client.url}: its file {dag_file(dag_id)} has an "
                             f"import error there:\n{_tail(broken['stack_trace'])}") from None
        raise UsageError(f"Airflow has no DAG '{dag_id}' on {client.url}\n  hint: orch deploy SPEC -b airflow "
                         "first") from None
    return dag


def _tail(trace: str, lines: int = 6) -> str:
    return "\n".join("  " + line for line in trace.rstrip().splitlines()[-lines:])

