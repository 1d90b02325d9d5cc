"""`orch runs show RUN_ID --html FILE`: the run page as one self-contained file, to attach to a ticket or a PR.

The same templates as `orch ui`'s run page, with the CSS inline, no script, no live part and no buttons;
the links to step pages become sections of the file (`#step-NAME`: attempts, the log's tail, outputs).
A small image artifact is inlined as a data: URI; nothing in the file makes a request (its own CSP says so).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Optional
from urllib.parse import unquote

from . import data, pages
from .artifacts import IMAGE_LIMIT, content_type, inside, run_folder

INLINE_IMAGE_LIMIT = 512 << 10  # an image larger than this stays a URI in the report
MAX_LOGS = 20  # the lanes of a step whose log tails the report holds (a fan-out of thousands: the first 20)


def report_html(store, run_id: str) -> Optional[str]:
    """The report's text; None for an unknown run."""
    run = data.read_run(store, run_id)
    return None if run is None else report_of(run)


def report_of(run: data.RunView) -> str:
    """The report of a run read already: the local records' or a server's (cli/ui/servers.py)."""
    context = pages.run_context(run, lambda step: f"#step-{step}")
    sections = []
    for step in run.leaf_steps:
        section = pages.step_context(run, step.name, None, None, tail=pages.REPORT_LOG_TAIL)
        if section is not None:
            _inline_images(section["artifacts"], run)
            section["logs"] = _last_logs(section["attempts"])
            section["logs_left_out"] = max(0, len({a.item for a in section["attempts"]}) - MAX_LOGS)
            sections.append(section)
    return pages.render("run.html", report=True, css=pages.static_text("orch.css"), sections=sections, **context)


def _last_logs(attempts: list[data.Attempt]) -> list[tuple[data.Attempt, str, int]]:
    """The tail of each lane's last attempt (a fan-out's items each have theirs)."""
    last: dict[str, data.Attempt] = {}
    for attempt in attempts:
        last[attempt.item] = attempt
    logs = []
    for attempt in list(last.values())[:MAX_LOGS]:
        text, cut, _ = pages.read_tail(attempt.log, pages.REPORT_LOG_TAIL)
        logs.append((attempt, text, cut))
    return logs


def _inline_images(artifacts: list, run: data.RunView) -> None:
    folder = run_folder(run.artifact_store, run.pipeline, run.run_id)
    for artifact in artifacts:
        if artifact.kind != "image" or not artifact.href or (artifact.size or 0) > min(INLINE_IMAGE_LIMIT, IMAGE_LIMIT):
            continue
        relative = artifact.href.split("/files/", 1)[1]
        path = inside(folder, unquote(relative))
        if path is None:
            continue
        raw = Path(path).read_bytes()
        artifact.data_uri = f"data:{content_type(raw[:64])};base64,{base64.b64encode(raw).decode('ascii')}"
