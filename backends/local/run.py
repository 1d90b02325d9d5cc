"""`run` for the local backend: a new run, or the resumption of a killed one."""

from __future__ import annotations

import json
import secrets
import signal
import sqlite3
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

from orch.core.errors import RunInterrupted, UsageError, shorten
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult
from orch.core.values import resolve_params

from ..stores import run_store
from .executor import Executor, Options
from .lock import RunLock, acquire
from .progress import Quiet
from .specdiff import canonical, refuse_changes
from .state import Store, unusable


def run(graph: PipelineGraph, params: Mapping[str, Any], *, spec_path: Optional[str] = None,
        resume: Optional[str] = None, max_parallel: int = 32, progress=None, home: Optional[Path] = None,
        options: Optional[Options] = None, artifacts: Optional[str] = None) -> RunResult:
    """Run the pipeline here; with `resume`, rerun only what did not succeed in that run.

    The process holds the run's lock from before its first write to its end, so one run
    has one process; the records' folder failing under it (a file in the way, a full disk)
    is exit 3, and the run stays resumable. Ctrl-C or SIGTERM at any moment is exit 130: with
    the resume command (and, for --json, the RunResult so far) once the run is recorded.
    """
    store = Store(home)
    run_id = resume or f"{graph.pipeline.name}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    lock = executor = None
    try:
        with _sigterm_as_interrupt():
            try:
                if resume and not artifacts:  # a resumed run stores where it began, unless told otherwise
                    artifacts = _read_text(store.run_dir(run_id) / STORE_FILE)
                artifact_store = run_store(graph.pipeline, artifacts, f"{graph.pipeline.name}/{run_id}")
                values, run_date, lock = _begin(store, graph, params, spec_path, run_id, bool(resume))
                if artifact_store:
                    (store.run_dir(run_id) / STORE_FILE).write_text(artifact_store, encoding="utf-8")
                spec_dir = Path(spec_path).resolve().parent if spec_path else Path.cwd()
                options = replace(options or Options(max_parallel=max_parallel), artifacts=artifact_store)
                executor = Executor(graph, store, run_id, values, run_date, spec_dir, options, progress or Quiet())
                return _execute(executor, bool(resume))
            except KeyboardInterrupt:
                raise _interrupted(store, graph, run_id, spec_path) from None
    except (OSError, sqlite3.Error) as err:
        known = unusable(store.home, err)
        if known is None:
            raise
        raise known from None
    finally:
        store.close()
        if lock is not None:
            lock.release()


STORE_FILE = "artifacts-store"  # in the run's folder: the artifact store the run uses


def _read_text(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _begin(store: Store, graph: PipelineGraph, params: Mapping[str, Any], spec_path: Optional[str], run_id: str,
           resume: bool) -> tuple[dict, str, RunLock]:
    """The run's params and date, with its lock held: a new run recorded, or a killed one checked."""
    pipeline = graph.pipeline
    if resume:
        seen = store.run_row(run_id)
        if seen is None:
            raise UsageError(f"no run {shorten(run_id)!r} in {store.home}; see `orch runs list`")
        lock = acquire(store.run_dir(run_id), run_id)
        try:
            if store.run_row(run_id)["ended_at"] != seen["ended_at"]:  # another resume ran it while this one waited
                raise UsageError(f"run {run_id} was resumed by another process meanwhile; see `orch runs show {run_id}`")
            values, run_date = _resumable(store, run_id, pipeline.name, params)
            refuse_changes(graph, store.recorded_spec(run_id), run_id)
        except BaseException:
            lock.release()
            raise
        return values, run_date, lock
    values = resolve_params(pipeline, params)
    run_date = datetime.now(timezone.utc).date().isoformat()
    lock = acquire(store.run_dir(run_id), run_id)
    store.create_run(run_id, pipeline.name, spec_path, values, run_date, canonical(graph))
    return values, run_date, lock


def _execute(executor: Executor, resume: bool) -> RunResult:
    progress = executor.progress
    progress.begin(executor.run_id, executor.pipeline.name, list(executor.pipeline.steps))
    try:
        return executor.run(resume=resume)
    finally:
        progress.end()


def _interrupted(store: Store, graph: PipelineGraph, run_id: str, spec_path: Optional[str]) -> RunInterrupted:
    """What Ctrl-C or SIGTERM leaves: a resumable run (its RunResult so far), or, before one was
    recorded, nothing."""
    try:
        row = store.run_row(run_id)
    except (OSError, sqlite3.Error):
        row = None
    if row is None:
        return RunInterrupted("interrupted before the run began; nothing was recorded")
    if row["status"] == "running":
        store.set_run(run_id, "interrupted", ended=True)
    spec = f"{spec_path} " if spec_path else ""
    error = RunInterrupted(f"run {run_id} interrupted; resume with: orch run {spec}--resume {run_id}")
    error.result = _result_so_far(store, graph, run_id)
    return error


def _result_so_far(store: Store, graph: PipelineGraph, run_id: str) -> Optional[RunResult]:
    try:
        result = store.result(run_id, list(graph.pipeline.steps))
    except (OSError, sqlite3.Error):
        return None
    return result.model_copy(update={"status": "interrupted"})


def _resumable(store: Store, run_id: str, pipeline: str, params: Mapping[str, Any]) -> tuple[dict, str]:
    row = store.run_row(run_id)
    if row["pipeline"] != pipeline:
        raise UsageError(f"run {run_id!r} is of pipeline {row['pipeline']!r}, not {pipeline!r}")
    if params:
        raise UsageError("a resumed run keeps its own params; leave out -p")
    if row["status"] == "succeeded":
        raise UsageError(f"run {run_id!r} already succeeded; nothing to resume")
    return json.loads(row["params"]), row["run_date"]


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops a run as Ctrl-C does: attempts killed, the run left resumable."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
