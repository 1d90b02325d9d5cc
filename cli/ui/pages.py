"""The pages as HTML text, from the templates (autoescaped: every text a run holds is escaped once, here).

Shared by the app (cli/ui/app.py) and the single-file report (cli/ui/report.py), so both show the same run.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from markupsafe import Markup

from . import data
from .artifacts import run_folder, step_artifacts
from .svg import to_svg
from .timeline import timeline

HERE = Path(__file__).resolve().parent
LOG_TAIL = 256 << 10  # bytes of a log shown in a page; the rest is a link away
REPORT_LOG_TAIL = 16 << 10


@lru_cache(maxsize=1)
def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=data.when, q=lambda text: quote(str(text), safe=""), value=shown_value)
    env.globals.update(duration=data.duration, size=size)
    return env


def size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:,} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return ""


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def static_text(name: str) -> str:
    return (HERE / "static" / name).read_text(encoding="utf-8")


def shown_value(value) -> str:
    """A param's or output's value as text: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def run_context(run: data.RunView, link) -> dict:
    """What the run page's template needs; `link(step)` is where a step's name leads."""
    states = {name: view.status for name, view in run.steps.items()}
    attempts = {name: view.attempts for name, view in run.steps.items()}
    graph = Markup(to_svg(run.graph, states, link, attempts)) if run.graph is not None else None
    return {"run": run, "graph": graph, "timeline": timeline(run), "link": link,
            "can_stop": run.status == "running" and run.backend == "local",
            "can_resume": run.status in ("interrupted", "failed") and run.backend == "local"}


def declared_outputs(run: data.RunView, step: str) -> dict:
    if run.graph is not None and step in run.graph.pipeline.all_steps:
        return dict(run.graph.pipeline.all_steps[step].outputs)
    if run.graph is not None and step in run.graph.pipeline.groups:
        return {}
    view = run.steps.get(step)
    return {k: "artifact" for k, v in (view.outputs if view else {}).items() if _looks_stored(v)}


def _looks_stored(value) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_looks_stored(v) for v in value)
    return isinstance(value, str) and "://" in value


def step_context(run: data.RunView, step: str, attempt: Optional[int], item: Optional[str],
                 tail: int = LOG_TAIL) -> Optional[dict]:
    """The step page's content; None for a step the run does not have, or an attempt it never made."""
    view = run.steps.get(step)
    if view is None or view.is_group:
        return None
    attempts = run.attempts_of(step)
    chosen = choose_attempt(attempts, attempt, item)
    if chosen is None and (attempt is not None or item is not None):
        return None
    declared = declared_outputs(run, step)
    folder = run_folder(run.artifact_store, run.pipeline, run.run_id)
    artifacts = step_artifacts(view.outputs, declared, folder, run.run_id)
    values = {k: v for k, v in view.outputs.items() if declared.get(k) != "artifact"}
    log, cut, read = read_tail(chosen.log, tail) if chosen else ("", 0, 0)
    return {"run": run, "step": view, "attempts": attempts, "chosen": chosen, "log": log, "log_cut": cut, "log_bytes": read,
            "outputs": values, "artifacts": artifacts}


def choose_attempt(attempts: list[data.Attempt], attempt: Optional[int], item: Optional[str]) -> Optional[data.Attempt]:
    """The attempt asked for, or the last one (of the item asked for, else of the step)."""
    found = [a for a in attempts if (attempt is None or a.attempt == attempt) and (item is None or a.item == item)]
    if not found:
        return None
    return max(found, key=lambda a: (a.started_at or "", a.attempt)) if attempt is None else found[-1]


def read_tail(path: Path, limit: int) -> tuple[str, int, int]:
    """The last `limit` bytes of a log as text, how many bytes came before them (0: the whole log), and how many
    were read."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, 2)
            start = max(0, size - limit)
            log.seek(start)
            text = log.read(limit)
    except OSError:
        return "", 0, 0
    return text.decode("utf-8", errors="replace"), start, len(text)
