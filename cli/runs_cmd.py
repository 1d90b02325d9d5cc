"""`orch runs list|show` and `orch logs`: the local backend's records."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Optional

import typer

from orch.core.errors import UsageError, shorten
from orch.core.names import name_problem

from .output import say
from .summary import print_result

runs_app = typer.Typer(help="Runs recorded by the local backend (in .orch/ or $ORCH_HOME), or by a server "
                       "(--backend prefect|airflow|argo --spec SPEC).", no_args_is_help=True)

BACKEND = typer.Option("local", "--backend", "-b", help="local, or the server's: prefect, airflow, argo")
SPEC = typer.Option(None, "--spec", help="the deployed pipeline's spec (with --backend prefect|airflow|argo)")
SERVER = typer.Option(None, "--server", help="the server's URL; else PREFECT_API_URL, AIRFLOW_API_URL or ARGO_SERVER")


def _store():
    from orch.backends.local.state import Store

    return Store()


@runs_app.command("list")
def list_runs(limit: int = typer.Option(20, "--limit", "-n", min=1, help="newest runs to show"),
              backend: str = BACKEND, spec: Optional[Path] = SPEC, server: Optional[str] = SERVER) -> None:
    """The newest runs, newest first."""
    from rich.console import Console
    from rich.table import Table

    if backend != "local":
        graph, implementation = _deployed(backend, spec)
        summaries = implementation.list_runs(graph, server=server, limit=limit)
        table = Table(box=None)
        for column in ("run", "status", "started", "ended"):
            table.add_column(column, no_wrap=column == "run")
        for run in summaries:
            table.add_row(run.run_id, run.status, _when(run.started_at), _when(run.ended_at))
        Console().print(table)
        return
    store = _store()
    try:
        rows = store.runs(limit)
    finally:
        store.close()
    table = Table(box=None)
    table.add_column("run", no_wrap=True)
    for column in ("pipeline", "status", "started"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["run_id"], row["pipeline"], row["status"], (row["started_at"] or "")[:19].replace("T", " "))
    console = Console()
    console.print(table)
    stopped = [row["run_id"] for row in rows if row["status"] == "interrupted"]
    if stopped:
        console.print(f"interrupted runs resume with: orch run --resume {stopped[0]}", highlight=False)


@runs_app.command("show")
def show(run_id: str, as_json: bool = typer.Option(False, "--json", help="the RunResult as JSON"),
         backend: str = BACKEND, spec: Optional[Path] = SPEC, server: Optional[str] = SERVER,
         html: Optional[Path] = typer.Option(None, "--html", help="write the run's page as one self-contained HTML "
                                             "file (graph, timeline, logs; needs orch[ui])", show_default=False)) -> None:
    """One run's RunResult."""
    if html is not None:
        return _write_report(run_id, html, backend, as_json, spec, server)
    if backend != "local":
        graph, implementation = _deployed(backend, spec)
        result = implementation.read_run(graph, run_id, server=server)
        say(result.to_json()) if as_json else print_result(result)
        return
    store = _store()
    try:
        if store.run_row(run_id) is None:
            raise UsageError(f"no run {shorten(repr(run_id))}; see `orch runs list`")
        result = store.result(run_id)
    finally:
        store.close()
    if as_json:
        say(result.to_json())
    else:
        print_result(result)


def _write_report(run_id: str, out: Path, backend: str, as_json: bool, spec: Optional[Path], server: Optional[str]) -> None:
    """The run page as one file (cli/ui/report.py), from the local records or the server's (-b B --spec SPEC)."""
    import importlib.util

    from orch.core.errors import BackendUnavailable

    from .files import write_atomically

    if as_json:
        raise UsageError("--html writes the run's page; it does not take --json")
    if importlib.util.find_spec("jinja2") is None:
        raise BackendUnavailable("orch runs show --html needs Jinja2: pip install 'orch[ui]'")
    if backend != "local":
        from .ui.report import report_of
        from .ui.servers import ServerRuns

        _deployed(backend, spec)  # the same checks and words as without --html
        runs = ServerRuns.open(backend, spec, server)
        text = report_of(runs.view_of(runs.remote.read_run(runs.graph, run_id, server=server)))
    else:
        from .ui.report import report_html

        store = _store()
        try:
            text = report_html(store, run_id)
        finally:
            store.close()
    if text is None:
        raise UsageError(f"no run {shorten(repr(run_id))}; see `orch runs list`")
    write_atomically(out, text.encode("utf-8"))
    say(f"wrote {out}")


def _deployed(backend: str, spec: Optional[Path]):
    """The spec's graph and the backend that reads its runs from a server."""
    from orch.core.load import load_spec

    from .deploy_cmd import served

    if spec is None:
        raise UsageError(f"--backend {backend}: give the deployed pipeline's spec (--spec SPEC)")
    implementation = served(backend)
    return load_spec(spec), implementation


def _when(moment) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")[:19] if moment else ""


def logs(
    run_id: str,
    step: str,
    attempt: Optional[int] = typer.Option(None, "--attempt", "-a", min=1, help="this attempt only (default: the last)"),
    item: Optional[int] = typer.Option(None, "--item", "-i", min=0, help="this fan-out item only"),
) -> None:
    """Print a step's log (stdout and stderr) from the last attempt, or the one asked for."""
    store = _store()
    try:
        known = store.run_row(run_id) is not None
        run_dir = store.run_dir(run_id)
    finally:
        store.close()
    if not known:
        raise UsageError(f"no run {shorten(repr(run_id))}; see `orch runs list`")
    # a step's name (`sweep.train` inside a group), never a path: `..` reads no other run's logs
    folders = [] if any(name_problem(part) for part in step.split(".")) else _folders(run_dir, step)
    if not folders:
        raise UsageError(f"no logs for step {shorten(repr(step))} of run {run_id!r}")
    places = sorted({p.parent for folder in folders for p in folder.rglob("attempt-*.log")}, key=_order)
    if item is not None:
        places = [p for p in places if _item(p) == item]
    chosen = []
    for place in places:
        files = sorted(place.glob("attempt-*.log"), key=lambda p: int(p.stem.split("-")[1]))
        chosen += [f for f in files if f.stem == f"attempt-{attempt}"] if attempt is not None else files[-1:]
    if not chosen:
        raise UsageError(f"no such log for step {step!r} of run {run_id!r}")
    for path in chosen:
        if len(chosen) > 1:
            say(f"==> {path} <==")
        _stream(path)


def _stream(path: Path) -> None:
    """The log's bytes as written, in chunks: memory stays flat whatever the log's size."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    try:
        log = open(path, "rb")
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None
    try:
        with log:
            shutil.copyfileobj(log, out, 1 << 20)
            if log.tell():
                log.seek(-1, os.SEEK_END)
                if log.read(1) != b"\n":
                    out.write(b"\n")  # the next header, or the prompt, starts on a line of its own
            out.flush()
    except BrokenPipeError:  # `orch logs ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
        raise SystemExit(0) from None


def _folders(run_dir: Path, step: str) -> list[Path]:
    """The step's folders: its own, or one per item of the fan-out groups around it (`sweep[2].train`)."""
    if not run_dir.is_dir():
        return []
    return [d for d in run_dir.iterdir() if d.is_dir() and _ITEMS.sub("", d.name) == step]


_ITEMS = re.compile(r"\[\d+\]")


def _order(path: Path) -> tuple:
    """Logs in item order: of the fan-out groups around the step, outermost first, then its own."""
    folder = path if not path.name.startswith("item-") else path.parent
    return tuple(int(i[1:-1]) for i in _ITEMS.findall(folder.name)), _item(path) if path.name.startswith("item-") else -1


def _item(path: Path) -> int:
    """A log's item: of its own fan-out (`item-N`), else of the outermost fan-out group around it (`sweep[N].train`)."""
    if path.name.startswith("item-"):
        return int(path.name.split("-")[1])
    found = _ITEMS.search(path.name) or _ITEMS.search(path.parent.name)
    return int(found.group()[1:-1]) if found else -1
