"""What the pages show, read from the local backend's records (backends/local/state.py) and run folders.

Reads only: the UI never writes a run's records. A unit is one execution of a step (the step, an item of
its fan-out, or the step inside one item of a fan-out group); its files are
`runs/RUN_ID/<unit>/[item-N/]attempt-K.log`, as the executor writes them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from orch.backends.local.lock import is_held
from orch.backends.local.state import Store
from orch.core.groups import written_order

PAGE_SIZE = 50
STATUSES = ("running", "succeeded", "failed", "interrupted")
MAX_PAGE = 1_000_000  # past it, OFFSET is no page a person asks for
_ITEMS = re.compile(r"\[(\d+)\]")


@dataclass
class RunsPage:
    rows: list[dict]
    page: int
    has_next: bool
    total: int
    pipelines: list[str]
    backends: list[str]


def runs_page(store: Store, pipeline: str = "", status: str = "", backend: str = "", page: int = 1,
              size: int = PAGE_SIZE) -> RunsPage:
    """One page of runs, newest first, filtered in SQL (one page read, whatever the number of runs)."""
    where, args = [], []
    if pipeline:
        where.append("pipeline = ?")
        args.append(pipeline)
    if backend:
        where.append("backend = ?")
        args.append(backend)
    if status in ("running", "interrupted"):
        dead = _dead_runs(store)  # recorded running, their process gone: they read interrupted
        marks = ",".join("?" * len(dead))
        if status == "running":
            where.append(f"status = 'running' AND run_id NOT IN ({marks})" if dead else "status = 'running'")
        else:
            where.append(f"(status = 'interrupted' OR run_id IN ({marks}))" if dead else "status = 'interrupted'")
        args += dead
    elif status:
        where.append("status = ?")
        args.append(status)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    db = store.db
    rows = db.execute(f"SELECT run_id, pipeline, backend, status, started_at, ended_at FROM runs{clause} "
                      "ORDER BY started_at DESC, run_id DESC LIMIT ? OFFSET ?", (*args, size + 1, (page - 1) * size)).fetchall()
    total = db.execute(f"SELECT COUNT(*) FROM runs{clause}", args).fetchone()[0]
    runs = []
    for run_id, pipe, back, state, started, ended in rows[:size]:
        if state == "running" and not is_held(store.run_dir(run_id)):
            state = "interrupted"
        runs.append({"run_id": run_id, "pipeline": pipe, "backend": back, "status": state, "started_at": started,
                     "ended_at": ended, "duration": duration(started, ended)})
    pipelines = [p for (p,) in db.execute("SELECT DISTINCT pipeline FROM runs ORDER BY pipeline")]
    backends = [b for (b,) in db.execute("SELECT DISTINCT backend FROM runs ORDER BY backend")]
    return RunsPage(runs, page, len(rows) > size, total, pipelines, backends)


def _dead_runs(store: Store) -> list[str]:
    return [run_id for (run_id,) in store.db.execute("SELECT run_id FROM runs WHERE status = 'running'")
            if not is_held(store.run_dir(run_id))]


@dataclass
class Attempt:
    step: str  # the spec's name of the step (`sweep.train`)
    unit: str  # the records' name of its execution (`sweep[0].train`)
    item: str  # its lane: "-1" (no fan-out), "N" (an item), "I.J" (items of the fan-outs around it, outermost first)
    attempt: int
    status: str
    error: Optional[str]
    started_at: Optional[str]
    ended_at: Optional[str]
    log: Path
    own: int = -1  # its item of the step's own fan-out (-1: none)

    @property
    def label(self) -> str:
        """The lane's name: `make`, `fan[1]`, `sweep[0].train`."""
        return self.unit + (f"[{self.own}]" if self.own >= 0 else "")

    @property
    def running(self) -> bool:
        return self.ended_at is None and self.status == "running"


@dataclass
class StepView:
    name: str
    status: str = "pending"
    attempts: int = 0
    outputs: dict = field(default_factory=dict)
    error: Optional[str] = None
    started_at: Optional[str] = None
    ended_at: Optional[str] = None
    is_group: bool = False
    is_final: bool = False

    @property
    def duration(self) -> str:
        return duration(self.started_at, self.ended_at)


@dataclass
class RunView:
    run_id: str
    pipeline: str
    backend: str
    status: str
    params: dict
    spec_path: Optional[str]
    started_at: Optional[str]
    ended_at: Optional[str]
    steps: dict[str, StepView]
    attempts: list[Attempt]
    spec: Optional[dict]
    run_dir: Path
    artifact_store: Optional[str]
    graph: Any = None  # the recorded spec as a PipelineGraph (None when it cannot be read back)
    server: Optional[str] = None  # where a server's run is held (cli/ui/servers.py); None: the local records
    engine_url: Optional[str] = None  # the run in the engine's own UI
    log_hint: Optional[str] = None  # where a server run's logs are, as the page cannot show them

    @property
    def duration(self) -> str:
        if self.ended_at is None and self.status == "running":
            return duration(self.started_at, datetime.now(timezone.utc).isoformat()) + " so far"
        return duration(self.started_at, self.ended_at)

    @property
    def failed(self) -> list[StepView]:
        return [s for s in self.steps.values() if s.status == "failed" and not s.is_group]

    @property
    def leaf_steps(self) -> list[StepView]:
        return [s for s in self.steps.values() if not s.is_group]

    def attempts_of(self, step: str) -> list[Attempt]:
        return [a for a in self.attempts if a.step == step]


def read_run(store: Store, run_id: str, with_graph: bool = True) -> Optional[RunView]:
    """Everything the run page shows; None for an unknown run. `with_graph`: the spec read back as a graph too
    (a log or a file needs only the records)."""
    row = store.run_row(run_id)
    if row is None:
        return None
    text = _spec_text(store, run_id)
    spec = json.loads(text) if text else None
    graph = pipeline_graph(text) if with_graph else None
    steps = _steps(store, run_id, spec, graph)
    run_dir = store.run_dir(run_id)
    attempts = []
    for unit, item, number, status, error, started, ended in store.db.execute(
            "SELECT step, item, attempt, status, error, started_at, ended_at FROM attempts WHERE run_id = ?", (run_id,)):
        name = _ITEMS.sub("", unit)
        indexes = _ITEMS.findall(unit) + ([str(item)] if item >= 0 else [])
        folder = run_dir / unit / (f"item-{item}" if item >= 0 else "")
        attempts.append(Attempt(name, unit, ".".join(indexes) or "-1", number, status, error, started, ended,
                                folder / f"attempt-{number}.log", item))
    if row["status"] != "running":  # a step or attempt whose run's process is gone ended with it
        for attempt in attempts:
            if attempt.status == "running":
                attempt.status, attempt.ended_at = "interrupted", attempt.ended_at or row["ended_at"]
        for view in steps.values():
            view.status = _ended_with_run(view.status)
    for attempt in attempts:  # a step still running has no count recorded yet
        view = steps.get(attempt.step)
        if view is not None and view.status == "running":
            view.attempts = max(view.attempts, attempt.attempt)
    order = {name: i for i, name in enumerate(steps)}
    attempts.sort(key=lambda a: (order.get(a.step, len(order)), _item_key(a.item), a.attempt))
    return RunView(run_id, row["pipeline"], row["backend"], row["status"], json.loads(row["params"] or "{}"),
                   row["spec_path"], row["started_at"], row["ended_at"], steps, attempts, spec, run_dir,
                   _read_text(run_dir / "artifacts-store"), graph)


def _steps(store: Store, run_id: str, spec: Optional[dict], graph) -> dict[str, StepView]:
    """Every step and group in the spec's order (those not started yet pending), then any the spec lacks."""
    recorded = {}
    for name, status, attempts, outputs, error, started, ended in store.db.execute(
            "SELECT step, status, attempts, outputs, error, started_at, ended_at FROM steps WHERE run_id = ?", (run_id,)):
        recorded[name] = StepView(name, status, attempts, json.loads(outputs or "{}"), error, started, ended)
    groups = set(graph.pipeline.groups) if graph is not None else _groups_of((spec or {}).get("steps") or {})
    final = list((spec or {}).get("pipeline", {}).get("finally") or {})
    names = written_order((spec or {}).get("steps") or {}) + final
    steps = {name: recorded.pop(name, None) or StepView(name) for name in names}
    steps.update(recorded)
    for name, view in steps.items():
        view.is_group, view.is_final = name in groups, name in final
    return steps


def _spec_text(store: Store, run_id: str) -> Optional[str]:
    row = store.db.execute("SELECT spec FROM run_specs WHERE run_id = ?", (run_id,)).fetchone()
    return row[0] if row else None


@lru_cache(maxsize=32)
def pipeline_graph(text: Optional[str]):
    """The run's recorded spec (its JSON text) as a graph, for the picture; None when it does not validate any more.
    Kept for the next request: a run's spec never changes."""
    if not text:
        return None
    from orch.core.errors import OrchError
    from orch.core.load import parse_spec

    try:
        spec = json.loads(text)
        return parse_spec(json.dumps({**spec["pipeline"], "steps": spec["steps"]}))
    except (OrchError, KeyError, TypeError, ValueError):
        return None


def _groups_of(steps: dict, scope: str = "") -> set[str]:
    """The groups of a recorded spec's nested steps (a step with `steps` of its own)."""
    found = set()
    for name, raw in steps.items():
        if isinstance(raw, dict) and isinstance(raw.get("steps"), dict):
            qualified = f"{scope}.{name}" if scope else name
            found |= {qualified} | _groups_of(raw["steps"], qualified)
    return found


def live_state(store: Store, run_id: str, names: list[str]) -> Optional[dict]:
    """The run's status and each step's state: what the run page's live part applies."""
    row = store.run_row(run_id)
    if row is None:
        return None
    states = dict.fromkeys(names, "pending")
    states.update(store.db.execute("SELECT step, status FROM steps WHERE run_id = ?", (run_id,)).fetchall())
    if row["status"] != "running":
        states = {name: _ended_with_run(state) for name, state in states.items()}
    attempts, ended = store.db.execute("SELECT COUNT(*), COUNT(ended_at) FROM attempts WHERE run_id = ?", (run_id,)).fetchone()
    return {"run": row["status"], "steps": states, "attempts": [attempts, ended]}


def _ended_with_run(state: str) -> str:
    """A step recorded running in a run that is no longer: it was stopped with the run (and reruns on resume)."""
    return "interrupted" if state == "running" else state


def _item_key(item: str) -> tuple:
    return tuple(int(i) for i in item.split(".")) if item != "-1" else (-1,)


def _read_text(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def parse_time(text: Optional[str]) -> Optional[datetime]:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def duration(started: Optional[str], ended: Optional[str]) -> str:
    begin, end = parse_time(started), parse_time(ended)
    if begin is None or end is None:
        return ""
    seconds = (end - begin).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def when(text: Optional[str]) -> str:
    """A recorded moment as a person reads it (UTC, to the second)."""
    moment = parse_time(text)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if moment else ""
