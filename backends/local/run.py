"""`run` for the local backend: a new run, or the resumption of a killed one."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from secrets import token_hex
from typing import Any, Mapping, Optional

from orch.core.errors import RunInterrupted, UsageError, shorten
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult
from orch.core.secrets import local_secrets
from orch.core.values import resolve_params

from ..shipping import project_root
from ..stores import run_store
from .executor import Executor, Options
from .lock import RunLock, acquire
from .progress import Quiet
from .specdiff import canonical, refuse_changes
from .state import Store, unusable


def run(graph: PipelineGraph, params: Mapping[str, Any], *, spec_path: Optional[str] = None,
        resume: Optional[str] = None, max_parallel: int = 32, progress=None, home: Optional[Path] = None,
        options: Optional[Options] = None, artifacts: Optional[str] = None,
        secrets: Optional[Mapping[str, str]] = None) -> RunResult:
    """Run the pipeline here; with `resume`, rerun only what did not succeed in that run.

    `secrets`: the ORCH_SECRET_* variables of `--secrets FILE`, over those of the environment; each
    attempt gets only its step's, and no value is written anywhere (logs and errors are masked).
    A pipeline that ships code is packed and uploaded to the run's store before the run is recorded;
    the run folder keeps its URI and sha256, so a resumed run uses the code it began with.

    The process holds the run's lock from before its first write to its end, so one run
    has one process; the records' folder failing under it (a file in the way, a full disk)
    is exit 3, and the run stays resumable. Ctrl-C or SIGTERM at any moment is exit 130: with
    the resume command (and, for --json, the RunResult so far) once the run is recorded.
    """
    store = Store(home)
    progress = progress or Quiet()
    run_id = resume or f"{graph.pipeline.name}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{token_hex(2)}"
    lock = executor = None
    try:
        with _sigterm_as_interrupt():
            try:
                if resume and not artifacts:  # a resumed run stores where it began, unless told otherwise
                    artifacts = _read_text(store.run_dir(run_id) / STORE_FILE)
                artifact_store = run_store(graph.pipeline, artifacts, f"{graph.pipeline.name}/{run_id}")
                code = _recorded_code(store, run_id) if resume else None
                if code is None:
                    code = _ship(graph, spec_path, artifact_store, progress)
                values, run_date, lock = _begin(store, graph, params, spec_path, run_id, bool(resume))
                if artifact_store:
                    (store.run_dir(run_id) / STORE_FILE).write_text(artifact_store, encoding="utf-8")
                if code:
                    _record_code(store, run_id, code)
                spec_dir = project_root(spec_path)
                options = replace(options or Options(max_parallel=max_parallel), artifacts=artifact_store,
                                  secrets=local_secrets(secrets), code=code)
                executor = Executor(graph, store, run_id, values, run_date, spec_dir, options, progress)
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
CODE_FILE = "code.json"  # in the run's folder: the shipped code the run uses, {"uri": ..., "sha256": ...}


def _ship(graph: PipelineGraph, spec_path: Optional[str], store: Optional[str], progress) -> Optional[tuple[str, str]]:
    """The pipeline's code packed and put in the run's store once (content-addressed: unchanged code uploads
    nothing); (URI, sha256), or None when it ships no code."""
    from ..shipping import ship

    shipped = ship(graph, spec_path, store, say=progress.say)
    return (shipped.uri, shipped.sha256) if shipped and shipped.uri else None


def _record_code(store: Store, run_id: str, code: tuple[str, str]) -> None:
    path = store.run_dir(run_id) / CODE_FILE
    path.write_text(json.dumps({"uri": code[0], "sha256": code[1]}), encoding="utf-8")


def _recorded_code(store: Store, run_id: str) -> Optional[tuple[str, str]]:
    """The code a run began with (None: it shipped none, or its record is unreadable: the code is shipped again)."""
    try:
        data = json.loads(_read_text(store.run_dir(run_id) / CODE_FILE) or "null")
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("uri"), str) and isinstance(data.get("sha256"), str):
        return data["uri"], data["sha256"]
    return None


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
    progress.begin(executor.run_id, executor.pipeline.name, executor.reported())
    ignored = ignored_here(executor.pipeline)
    if ignored:
        progress.say(ignored)
    try:
        return executor.run(resume=resume)
    finally:
        progress.end()


def ignored_here(pipeline) -> Optional[str]:
    """One note for the run: the pod settings its steps have, which mean nothing to a local run, named, with the
    steps that set them. (An image is not named: running a pipeline of images here, on this machine's python,
    is what a local run is for.)"""
    settings: dict[str, list[str]] = {}
    for name, step in pipeline.all_steps.items():
        found = [f"kubernetes.{key}" for key in step.kubernetes.model_dump(exclude_defaults=True)] if step.kubernetes else []
        for setting in found:
            settings.setdefault(setting, []).append(name)
    if not settings:
        return None
    steps = list(dict.fromkeys(s for names in settings.values() for s in names))
    shown = ", ".join(steps[:5]) + (f" and {len(steps) - 5} more" if len(steps) > 5 else "")
    return (f"note: {', '.join(settings)} {'has' if len(settings) == 1 else 'have'} no meaning for a local run "
            f"and {'is' if len(settings) == 1 else 'are'} ignored (set on {shown})")


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
        result = store.result(run_id, list(graph.pipeline.all_steps))
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
