"""`run` for the local backend: a new run, or the resumption of a killed one."""

from __future__ import annotations

import json
import secrets
import signal
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

from orch.core.errors import RunInterrupted, UsageError
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult
from orch.core.values import resolve_params

from .executor import Executor, Options
from .progress import Quiet
from .state import Store


def run(graph: PipelineGraph, params: Mapping[str, Any], *, spec_path: Optional[str] = None,
        resume: Optional[str] = None, max_parallel: int = 32, progress=None, home: Optional[Path] = None,
        options: Optional[Options] = None) -> RunResult:
    """Run the pipeline here; with `resume`, rerun only what did not succeed in that run."""
    pipeline = graph.pipeline
    progress = progress or Quiet()
    store = Store(home)
    try:
        if resume:
            run_id, values, run_date = _resumable(store, resume, pipeline.name, params)
        else:
            values = resolve_params(pipeline, params)
            run_id = f"{pipeline.name}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
            run_date = datetime.now(timezone.utc).date().isoformat()
            store.create_run(run_id, pipeline.name, spec_path, values, run_date)
        spec_dir = Path(spec_path).resolve().parent if spec_path else Path.cwd()
        executor = Executor(graph, store, run_id, values, run_date, spec_dir,
                            options or Options(max_parallel=max_parallel), progress)
        progress.begin(run_id, pipeline.name, list(pipeline.steps))
        try:
            with _sigterm_as_interrupt():
                return executor.run(resume=bool(resume))
        except KeyboardInterrupt:
            spec = f"{spec_path} " if spec_path else ""
            raise RunInterrupted(f"run {run_id} interrupted; resume with: orch run {spec}--resume {run_id}") from None
        finally:
            progress.end()
    finally:
        store.close()


def _resumable(store: Store, run_id: str, pipeline: str, params: Mapping[str, Any]):
    row = store.run_row(run_id)
    if row is None:
        raise UsageError(f"no run {run_id!r} in {store.home}; see `orch runs list`")
    if row["pipeline"] != pipeline:
        raise UsageError(f"run {run_id!r} is of pipeline {row['pipeline']!r}, not {pipeline!r}")
    if params:
        raise UsageError("a resumed run keeps its own params; leave out -p")
    if row["status"] == "succeeded":
        raise UsageError(f"run {run_id!r} already succeeded; nothing to resume")
    return run_id, json.loads(row["params"]), row["run_date"]


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
