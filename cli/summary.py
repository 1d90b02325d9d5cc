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
    stored = _artifacts_prefix(result)
    for name, step in result.steps.items():
        seconds = ""
        if step.started_at and step.ended_at:
            seconds = f"{(step.ended_at - step.started_at).total_seconds():.1f}s"
        detail = step.error or ", ".join(f"{k}={_short(_relative(v, stored))}" for k, v in step.outputs.items())
        detail = escape(detail)  # a step's text is never rich markup
        color = {"succeeded": "green", "failed": "red", "upstream_failed": "magenta"}.get(step.status, "dim")
        table.add_row(name, f"[{color}]{step.status}[/]", str(step.attempts or ""), seconds, detail, style=None)
    console.print(table)
    total = ""
    if result.started_at and result.ended_at:
        total = f" in {(result.ended_at - result.started_at).total_seconds():.1f}s"
    color = "green" if result.status == "succeeded" else "red"
    console.print(f"run [bold]{result.run_id}[/bold] [{color}]{result.status}[/]{total}", highlight=False)
    if stored:
        console.print(f"artifacts (…/STEP/OUTPUT above) in {escape(stored)}", highlight=False, soft_wrap=True)
    if result.status == "interrupted":
        console.print(f"resume with: orch run --resume {result.run_id}", highlight=False)


def _artifacts_prefix(result: RunResult):
    """`<store>/<pipeline>/<run id>/`, where the run's artifacts are (their URIs are long: the table shows the rest)."""
    marker = f"/{result.pipeline}/{result.run_id}/"
    for step in result.steps.values():
        for value in step.outputs.values():
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and marker in text:
                    return text[:text.index(marker) + len(marker)]
    return None


def _relative(value, prefix):
    """An artifact's URI as `…/STEP/OUTPUT` (a fan-out's list of them alike); any other value as it is."""
    if prefix is None:
        return value
    if isinstance(value, list):
        return [_relative(v, prefix) for v in value]
    return "…/" + value[len(prefix):] if isinstance(value, str) and value.startswith(prefix) else value


def _short(value, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
