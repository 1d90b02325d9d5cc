"""The local backend's records: SQLite in WAL mode under `.orch/` (or $ORCH_HOME).

Every state change is committed before it is acted on, so a run killed at any moment
can be resumed from here: what succeeded is kept, everything else runs again.
A unit is one execution of a step: the step itself, or one item of a fan-out.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from orch.core.groups import written_order
from orch.core.errors import MachineError, OrchError, machine_error
from orch.core.result import RunResult, StepResult
from orch.core.typed import text_problem

from ..steprun import printable

from .lock import is_held

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, backend TEXT NOT NULL, spec_path TEXT,
    status TEXT NOT NULL, params TEXT NOT NULL, run_date TEXT NOT NULL,
    started_at TEXT, ended_at TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    outputs TEXT, error TEXT, started_at TEXT, ended_at TEXT,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS units (
    run_id TEXT NOT NULL, step TEXT NOT NULL, item INTEGER NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, outputs TEXT, error TEXT, pid INTEGER, pid_started TEXT,
    started_at TEXT, ended_at TEXT,
    PRIMARY KEY (run_id, step, item)
);
CREATE TABLE IF NOT EXISTS run_specs (
    run_id TEXT PRIMARY KEY, spec TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_newest ON runs (started_at, run_id);  -- orch ui's pages of runs, newest first
CREATE INDEX IF NOT EXISTS runs_of_pipeline ON runs (pipeline, started_at, run_id);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, started_at, run_id);
CREATE INDEX IF NOT EXISTS runs_of_backend ON runs (backend, started_at, run_id);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL, step TEXT NOT NULL, item INTEGER NOT NULL, attempt INTEGER NOT NULL,
    status TEXT NOT NULL, error TEXT, started_at TEXT, ended_at TEXT,
    PRIMARY KEY (run_id, step, item, attempt)
);
"""


def orch_home() -> Path:
    return Path(os.environ.get("ORCH_HOME") or ".orch")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class Store:
    def __init__(self, home: Path | None = None):
        self.home = Path(home or orch_home())
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.home / "orch.db", isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a killed process
            self.db.executescript(SCHEMA)
            self._inode = (self.home / "orch.db").stat().st_ino
        except (OSError, sqlite3.Error) as err:
            raise (unusable(self.home, err) or err) from None

    def close(self) -> None:
        self.db.close()

    def still_in_place(self) -> None:
        """MachineError if the records' file was removed or replaced under the run (SQLite would go on
        writing to the unlinked file, and the run would vanish)."""
        try:
            same = (self.home / "orch.db").stat().st_ino == self._inode
        except OSError:
            same = False
        if not same:
            raise MachineError(f"the local backend's records in {self.home} were removed while the run went on\n"
                               f"  hint: keep ORCH_HOME in place during a run; this run's records are lost")

    def run_dir(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    # --- writing (each call is one committed transaction)

    def create_run(self, run_id: str, pipeline: str, spec_path: str | None, params: dict, run_date: str,
                   spec: dict) -> None:
        """The run and the meaning of its spec (to refuse resuming it with another), in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO runs VALUES (?, ?, 'local', ?, 'running', ?, ?, ?, NULL)",
                (run_id, pipeline, safe_text(spec_path), json.dumps(params), run_date, now()),
            )
            self.db.execute("INSERT INTO run_specs VALUES (?, ?)", (run_id, json.dumps(spec)))  # steps in spec order

    def recorded_spec(self, run_id: str) -> Optional[dict]:
        row = self.db.execute("SELECT spec FROM run_specs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_run(self, run_id: str, status: str, ended: bool = False) -> None:
        if ended:
            self.still_in_place()
        self.db.execute("UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ?", (status, now() if ended else None, run_id))

    def set_step(self, run_id: str, step: str, status: str, *, attempts: int = 0, outputs: dict | None = None,
                 error: str | None = None, started_at: str | None = None, ended_at: str | None = None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, step, status, attempts, _dump(outputs), safe_text(error), started_at, ended_at),
        )

    def start_attempt(self, run_id: str, step: str, item: int, attempt: int, started_at: str) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT OR REPLACE INTO units VALUES (?, ?, ?, 'running', ?, NULL, NULL, NULL, NULL, "
                "COALESCE((SELECT started_at FROM units WHERE run_id = ? AND step = ? AND item = ?), ?), NULL)",
                (run_id, step, item, attempt, run_id, step, item, started_at),
            )
            self.db.execute("INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, 'running', NULL, ?, NULL)",
                            (run_id, step, item, attempt, started_at))

    def attempt_pid(self, run_id: str, step: str, item: int, pid: int, pid_started: str | None) -> None:
        self.db.execute("UPDATE units SET pid = ?, pid_started = ? WHERE run_id = ? AND step = ? AND item = ?",
                        (pid, pid_started, run_id, step, item))

    def end_attempt(self, run_id: str, step: str, item: int, attempt: int, status: str, error: str | None,
                    outputs: dict | None, final: bool) -> None:
        """Record an attempt's end; `final` when the unit will not be retried."""
        self.still_in_place()
        ended = now()
        unit_status = status if final else "retrying"
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("UPDATE attempts SET status = ?, error = ?, ended_at = ? WHERE run_id = ? AND step = ? AND item = ? AND attempt = ?",
                            (status, safe_text(error), ended, run_id, step, item, attempt))
            self.db.execute("UPDATE units SET status = ?, error = ?, outputs = ?, pid = NULL, ended_at = ? "
                            "WHERE run_id = ? AND step = ? AND item = ?",
                            (unit_status, safe_text(error), _dump(outputs), ended if final else None, run_id, step, item))

    def forget_unfinished(self, run_id: str) -> list[tuple[int, Optional[str]]]:
        """Before a resume: drop every unit and step that did not succeed; return their recorded pids."""
        pids = self.db.execute("SELECT pid, pid_started FROM units WHERE run_id = ? AND pid IS NOT NULL", (run_id,)).fetchall()
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM units WHERE run_id = ? AND status != 'succeeded'", (run_id,))
            self.db.execute("DELETE FROM steps WHERE run_id = ? AND status != 'succeeded'", (run_id,))
            self.db.execute("UPDATE runs SET status = 'running', ended_at = NULL WHERE run_id = ?", (run_id,))
        return pids

    # --- reading

    def run_row(self, run_id: str) -> Optional[dict]:
        if text_problem(run_id):
            return None  # bytes that were not UTF-8 on the command line name no run
        row = self.db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else self._live_status(_row(self.db, row, "runs"))

    def runs(self, limit: int = 50) -> list[dict]:
        rows = self.db.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
        return [self._live_status(_row(self.db, row, "runs")) for row in rows]

    def _live_status(self, row: dict) -> dict:
        """A run recorded `running` whose lock no live process holds was killed: it reads `interrupted`."""
        if row["status"] == "running" and not is_held(self.run_dir(row["run_id"])):
            row["status"] = "interrupted"
        return row

    def last_attempts(self, run_id: str) -> dict[tuple[str, int], int]:
        """Each unit's highest attempt number so far, so a resumed attempt gets a number (and files) of its own."""
        rows = self.db.execute("SELECT step, item, MAX(attempt) FROM attempts WHERE run_id = ? GROUP BY step, item", (run_id,))
        return {(step, item): attempt for step, item, attempt in rows}

    def succeeded_units(self, run_id: str) -> dict[tuple[str, int], dict]:
        rows = self.db.execute("SELECT step, item, outputs, attempts FROM units WHERE run_id = ? AND status = 'succeeded'", (run_id,))
        return {(step, item): {"outputs": json.loads(outputs or "{}"), "attempts": attempts} for step, item, outputs, attempts in rows}

    def result(self, run_id: str, step_order: Optional[list[str]] = None) -> RunResult:
        run = self.run_row(run_id)
        if run is None:
            raise KeyError(run_id)
        steps = {}
        for step, status, attempts, outputs, error, started, ended in self.db.execute(
            "SELECT step, status, attempts, outputs, error, started_at, ended_at FROM steps WHERE run_id = ?", (run_id,)
        ):
            steps[step] = StepResult(status=status, attempts=attempts, outputs=json.loads(outputs or "{}"), error=error,
                                     started_at=started, ended_at=ended)
        spec = self.recorded_spec(run_id) if step_order is None else None  # `orch runs show`: as the spec ordered them
        written = written_order((spec or {}).get("steps", {})) + list((spec or {}).get("finally", {}))
        step_order = step_order or [name for name in written if name in steps]
        if step_order:
            steps = {name: steps.get(name, StepResult()) for name in step_order} | steps
        return RunResult(pipeline=run["pipeline"], backend="local", run_id=run_id, status=run["status"],
                         params=json.loads(run["params"]), started_at=run["started_at"], ended_at=run["ended_at"], steps=steps)


def _dump(value: Any) -> Optional[str]:
    return None if value is None else json.dumps(value)  # ensure_ascii: always storable


def safe_text(text: Optional[str]) -> Optional[str]:
    """Text as SQLite, JSON and a terminal can take it: a lone surrogate becomes `\\udcff`, never an error."""
    return None if text is None else printable(text)


def unusable(home: Path, err: Exception) -> OrchError | None:
    """The local backend cannot keep its records in `home` (a file in the way, read-only, a full disk):
    exit 3 with what to do; None for an error that is not about its records (let that one out)."""
    where = getattr(err, "filename", None)
    if isinstance(err, OSError) and not (isinstance(where, (str, bytes)) and _under(Path(os.fsdecode(where)), home)):
        return None
    return machine_error(err, f"keep the local backend's records in {home}")


def _under(path: Path, home: Path) -> bool:
    try:
        return path.resolve().is_relative_to(home.resolve())
    except OSError:
        return False


def _row(db: sqlite3.Connection, row: tuple, table: str) -> dict:
    names = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
    return dict(zip(names, row))
