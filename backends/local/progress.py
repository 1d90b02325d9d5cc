"""Showing a run as it goes: a live table on a terminal, plain lines otherwise, nothing for --json."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Optional

STYLE = {"pending": "dim", "running": "cyan", "retrying": "yellow", "succeeded": "green", "failed": "red",
         "skipped": "dim", "upstream_failed": "magenta"}


@dataclass
class _Row:
    status: str = "pending"
    attempt: int = 0
    started: Optional[float] = None
    ended: Optional[float] = None
    detail: str = ""
    items: set = field(default_factory=set)


class Quiet:
    """Reports nothing (for --json and for library use)."""

    def begin(self, run_id: str, pipeline: str, steps: list[str]) -> None: ...

    def step(self, name: str, status: str, *, attempt: int = 0, item: int = -1, error: Optional[str] = None,
             resumed: bool = False) -> None: ...

    def note(self, name: str, text: str) -> None: ...

    def say(self, text: str) -> None:
        """A line about the run, not one step (what shipped code went in, settings a local run ignores)."""

    def end(self) -> None: ...


class Lines(Quiet):
    """One line per change, for logs and pipes."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr

    def begin(self, run_id, pipeline, steps):
        self._say(f"run {run_id} of {pipeline}: {len(steps)} steps")

    def step(self, name, status, *, attempt=0, item=-1, error=None, resumed=False):
        if status == "running" and attempt == 0:
            return  # the first attempt's line says it
        text = f"{name}{f'[{item}]' if item >= 0 else ''}: {status}"
        if attempt:
            text += f" (attempt {attempt})"
        if resumed:
            text += " (kept from before the resume)"
        if error:
            text += f": {error}"
        self._say(text)

    def note(self, name, text):
        self._say(f"{name}: note: {text}")

    def say(self, text):
        self._say(text)

    def _say(self, text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {text}", file=self.stream, flush=True)


class Live(Quiet):
    """A table with a line per step (state, attempt, duration), redrawn in place."""

    def __init__(self, console=None):
        from rich.console import Console
        from rich.live import Live as RichLive

        self.console = console or Console(stderr=True)
        self.rows: dict[str, _Row] = {}
        self.title = ""
        self.live = RichLive(console=self.console, refresh_per_second=8, get_renderable=self._table, transient=False)

    def begin(self, run_id, pipeline, steps):
        self.title = f"run {run_id} of {pipeline}"
        self.rows = {name: _Row() for name in steps}
        self.live.start()

    def step(self, name, status, *, attempt=0, item=-1, error=None, resumed=False):
        row = self.rows[name]
        moment = time.monotonic()
        if status in ("running", "retrying") and item >= 0:
            row.items.add(item)
        if status == "running" and row.started is None:
            row.started = moment
        if status not in ("running", "retrying"):
            row.ended = moment
        row.status = status
        row.attempt = max(row.attempt, attempt)
        row.detail = "kept from before the resume" if resumed else (error or row.detail)

    def note(self, name, text):
        self.rows[name].detail = text

    def say(self, text):
        from rich.markup import escape

        self.console.print(escape(text), highlight=False)  # above the table while it is live

    def end(self):
        self.live.stop()

    def _table(self):
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=self.title, title_justify="left", box=None, padding=(0, 1))
        for column in ("step", "state", "attempt", "time", ""):
            table.add_column(column)
        moment = time.monotonic()
        for name, row in self.rows.items():
            elapsed = "" if row.started is None else f"{(row.ended or moment) - row.started:.1f}s"
            items = f" {len(row.items)} items" if row.items else ""
            state = f"[{STYLE.get(row.status, '')}]{row.status}[/]"
            table.add_row(name, state, str(row.attempt or ""), elapsed, escape((row.detail + items).strip()[:80]))
        return table


def choose(json_output: bool) -> Quiet:
    if json_output:
        return Quiet()
    return Live() if sys.stderr.isatty() else Lines()
