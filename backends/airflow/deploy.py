"""`orch deploy -b airflow`: the rendered DAG file written into the deployment's DAGs folder, then confirmed
through the REST API v2 -- parsed by the dag-processor, without an import error, paused or not as asked.

The folder: --dags-folder, else $AIRFLOW__CORE__DAGS_FOLDER, else the server's own [core] dags_folder when
its API exposes its configuration. The file is written whole (a temporary name, then a rename), so the
dag-processor never reads half of it. A new file is seen at the dag-processor's next folder listing
([dag_processor] refresh_interval); an updated one is parsed at once on request (PUT parseDagFile). The
wait is bounded: when it runs out, the message says the dag-processor has not parsed the file yet.
`orch deploy --delete` removes the file and the DAG's record (its runs with it).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from orch.core.artifacts import needs_store, ships_code, spec_store
from orch.core.errors import BackendUnavailable, UsageError
from orch.core.graph import PipelineGraph
from orch.core.spec import Artifacts

from ..remote import Deployed
from ..stores import chosen_store
from .api import ApiError, Client
from .render import dag_file, dag_source, task_ids

PARSE_WAIT = float(os.environ.get("ORCH_AIRFLOW_PARSE_WAIT", "120"))  # seconds to wait for the dag-processor
FOLDER_VAR = "AIRFLOW__CORE__DAGS_FOLDER"
REPARSE_SECONDS = 2.0  # while the server's DAG lacks the file's tasks, a parse is asked for this often


def deploy(graph: PipelineGraph, *, spec_path: Optional[str], server: Optional[str], options: Mapping[str, Any],
           say: Callable[[str], None]) -> Deployed:
    client = Client.from_env(server)
    folder = dags_folder(options.get("dags_folder"), client)
    graph = _with_store(graph)
    code = _ship(graph, spec_path, say)
    text = dag_source(graph, options.get("target") or "python", code)
    name = graph.pipeline.name
    line = publish(client, name, folder / dag_file(name), text, paused=bool(options.get("paused")), say=say,
                   tasks=task_ids(graph.pipeline))
    return Deployed("airflow", name, client.url, (line,))


def undeploy(graph: PipelineGraph, *, spec_path: Optional[str], server: Optional[str], options: Mapping[str, Any],
             say: Callable[[str], None]) -> Deployed:
    """The DAG file first (else the dag-processor brings the DAG back), then the DAG's record and its runs."""
    client = Client.from_env(server)
    name = graph.pipeline.name
    path = dags_folder(options.get("dags_folder"), client) / dag_file(name)
    made = []
    if path.exists():
        path.unlink()
        made.append(f"removed {path}")
    try:
        client.request("DELETE", f"/api/v2/dags/{name}")
        made.append(f"deleted Airflow DAG '{name}' and its runs")
    except ApiError as err:
        if err.status == 409:
            raise UsageError(f"Airflow DAG '{name}' has tasks still running: wait for them (or mark its runs "
                             "failed) and delete again") from None
        if err.status != 404:
            raise UsageError(f"Airflow refused to delete DAG '{name}': {err.detail}") from None
    return Deployed("airflow", name, client.url, tuple(made))


def dags_folder(given: Optional[str], client: Client) -> Path:
    """Where the DAG file goes: --dags-folder, $AIRFLOW__CORE__DAGS_FOLDER, else the server's configuration."""
    folder, origin = given, "--dags-folder"
    if not folder and os.environ.get(FOLDER_VAR):
        folder, origin = os.environ[FOLDER_VAR], FOLDER_VAR
    if not folder:
        folder, origin = _configured_folder(client), f"the server's [core] dags_folder ({client.url})"
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise UsageError(f"the DAGs folder {path} ({origin}) is not a folder on this machine\n"
                         "  hint: give --dags-folder: where the dag-processor's DAGs folder is mounted here")
    return path


def _configured_folder(client: Client) -> str:
    try:
        answer = client.get("/api/v2/config/section/core/option/dags_folder")
        return answer["sections"][0]["options"][0]["value"]
    except (ApiError, BackendUnavailable, KeyError, IndexError) as err:
        if not isinstance(err, ApiError) and isinstance(err, BackendUnavailable) and "refused access" not in str(err):
            raise
        raise UsageError("no DAGs folder named, and the server does not show its configuration\n"
                         f"  hint: give --dags-folder, or set {FOLDER_VAR} (the folder the dag-processor reads, "
                         "as it is mounted here)") from None


def _with_store(graph: PipelineGraph) -> PipelineGraph:
    """The pipeline with the store its runs use written in ($ORCH_ARTIFACTS, which `orch deploy --artifacts` sets,
    else the spec's; a folder made absolute, as the server's processes work elsewhere). The default store stays
    unnamed: the workers' own $ORCH_ARTIFACTS (or default) is theirs. The workers' $ORCH_ARTIFACTS still wins."""
    if not needs_store(graph.pipeline):
        return graph
    store, origin = chosen_store(graph.pipeline)
    if origin == "the default":
        return graph
    return replace(graph, pipeline=graph.pipeline.model_copy(update={"artifacts": Artifacts(store=store)}))


def _ship(graph: PipelineGraph, spec_path: Optional[str], say: Callable[[str], None]):
    """A pipeline that ships its code: packed and uploaded to the store its runs use, before the DAG file names it."""
    if not ships_code(graph.pipeline):
        return None
    from ..shipping import ship
    from ..stores import run_store

    return ship(graph, spec_path, run_store(graph.pipeline, spec_store(graph.pipeline)), say=say)


def publish(client: Client, dag_id: str, path: Path, text: str, *, paused: bool, say: Callable[[str], None],
            wait: float = PARSE_WAIT, tasks: Optional[set[str]] = None) -> str:
    """Write `text` to `path` and wait until the server has parsed it (and holds the DAG with `tasks`, its task
    ids, when given); one line saying what was done."""
    before = _dag(client, dag_id)
    if before is not None and before["relative_fileloc"] not in (path.name, None) and not before["is_stale"]:
        raise UsageError(f"Airflow already has a DAG '{dag_id}', from {before['fileloc']}: remove it there, or "
                         "rename the pipeline")
    unchanged = path.exists() and path.read_text(encoding="utf-8", errors="replace") == text
    healthy = before is not None and not before["is_stale"] and not before["has_import_errors"]
    if not (unchanged and healthy):
        error_before = import_error(client, path.name)
        _write(path, text)
        if before is not None:
            _ask_parse(client, before["file_token"])
        _parsed(client, dag_id, path, before, error_before, wait, tasks)
    _set_paused(client, dag_id, paused)
    state = "paused" if paused else "active"
    doing = "unchanged" if unchanged and healthy else "updated" if before is not None else "created"
    return f"{doing} Airflow DAG '{dag_id}' ({state}) from {path}"


def _parsed(client: Client, dag_id: str, path: Path, before: Optional[dict], error_before: Optional[dict],
            wait: float, tasks: Optional[set[str]] = None) -> None:
    """Until the dag-processor has parsed the file since it was written: its DAG, or its import error (exit 2).

    A parse already running when the file was written may end after it and still hold the old DAG: a new
    `last_parsed_time` proves nothing alone. The second one does: the dag-processor parses a file one parse at
    a time, so the parse after that one began after the write (asked for at once through parseDagFile). A new
    file needs no second: no parse of it can have begun before it was there. And the DAG the server holds must
    have the file's tasks, the ones a triggered run gets: the dag-processor writes a parsed DAG only once
    [core] min_serialized_dag_update_interval (30 s by default) has passed since its last write, so a parse is
    asked for again every REPARSE_SECONDS until it has."""
    deadline = time.monotonic() + wait
    seen, changes, asked = (before or {}).get("last_parsed_time"), 0, time.monotonic()
    while True:
        error = import_error(client, path.name)
        if error is not None and error != error_before:
            raise UsageError(f"the DAG file {path} does not import on the Airflow server ({client.url}):\n"
                             f"{_trace_tail(error['stack_trace'])}\n  hint: it stays there, as Airflow's Import Errors "
                             "show; fix and deploy again, or remove it with orch deploy --delete")
        dag = _dag(client, dag_id)
        if dag is not None and dag["last_parsed_time"] != seen:
            seen, changes = dag["last_parsed_time"], changes + 1
        if dag is not None and not dag["is_stale"] and not dag["has_import_errors"] and \
                changes >= (1 if before is None else 2):
            if tasks is None or _tasks(client, dag_id) == tasks:
                return
        if dag is not None and changes and time.monotonic() - asked > (0 if changes == 1 else REPARSE_SECONDS):
            _ask_parse(client, dag["file_token"])  # the next parse, at once
            asked = time.monotonic()
        if time.monotonic() > deadline:
            seen_at = "a new file is only seen at the next folder listing ([dag_processor] refresh_interval, 300 s " \
                      "by default)" if before is None else "the parse request is still queued"
            raise BackendUnavailable(f"the Airflow dag-processor has not parsed {path} after {wait:g} s ({seen_at})\n"
                                     "  hint: check that a dag-processor reads that folder; `airflow dags reserialize` "
                                     "parses it at once; deploy again to check")
        time.sleep(0.2)


def _ask_parse(client: Client, file_token: str) -> None:
    try:
        client.request("PUT", f"/api/v2/parseDagFile/{file_token}")
    except ApiError as err:
        if err.status != 409:  # 409: a parse of the file is asked for already
            raise


def _tasks(client: Client, dag_id: str) -> set[str]:
    return {task["task_id"] for task in client.get(f"/api/v2/dags/{dag_id}/tasks")["tasks"]}


def _dag(client: Client, dag_id: str) -> Optional[dict]:
    try:
        return client.get(f"/api/v2/dags/{dag_id}")
    except ApiError as err:
        if err.status == 404:
            return None
        raise


def import_error(client: Client, filename: str) -> Optional[dict]:
    """The server's import error for this file (its name relative to the DAGs folder), if it has one."""
    for error in client.pages("/api/v2/importErrors", "import_errors", filename_pattern=filename):
        if error["filename"] == filename or error["filename"].endswith("/" + filename):
            return {key: error[key] for key in ("import_error_id", "timestamp", "stack_trace")}
    return None


def _set_paused(client: Client, dag_id: str, paused: bool) -> None:
    client.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused}, query={"update_mask": "is_paused"})


def _write(path: Path, text: str) -> None:
    """Whole or not at all: the dag-processor lists *.py files only, so the temporary name is never parsed."""
    temporary = path.with_name(f".{path.name}.orch-tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(0o644)  # a dag-processor running as another user reads it
    os.replace(temporary, path)


def _trace_tail(trace: str, lines: int = 12) -> str:
    return "\n".join("  " + line for line in trace.rstrip().splitlines()[-lines:])
