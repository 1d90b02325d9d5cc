"""The end of a run as a person reads it: one line per step, then the verdict."""

from __future__ import annotations

import json

from orch.core.result import RunResult


def print_result(result: RunResult) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(box=None, padding=(0, 1))
    for column in ("step", "state", "attempts", "time", "outputs / error"):
        table.add_column(column)
    for name, step in result.steps.items():
        seconds = ""
        if step.started_at and step.ended_at:
            seconds = f"{(step.ended_at - step.started_at).total_seconds():.1f}s"
        detail = step.error or ", ".join(f"{k}={_short(v)}" for k, v in step.outputs.items())
        detail = escape(detail)  # a step's text is never rich markup
        color = {"succeeded": "green", "failed": "red", "upstream_failed": "magenta"}.get(step.status, "dim")
        table.add_row(name, f"[{color}]{step.status}[/]", str(step.attempts or ""), seconds, detail, style=None)
    console.print(table)
    total = ""
    if result.started_at and result.ended_at:
        total = f" in {(result.ended_at - result.started_at).total_seconds():.1f}s"
    color = "green" if result.status == "succeeded" else "red"
    console.print(f"run [bold]{result.run_id}[/bold] [{color}]{result.status}[/]{total}", highlight=False)
    if result.status == "interrupted":
        console.print(f"resume with: orch run --resume {result.run_id}", highlight=False)


def _short(value, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
