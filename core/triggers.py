"""Whether a step runs, from its trigger and its upstream steps' final states (DESIGN §3)."""

from __future__ import annotations

from typing import Iterable

from .result import FAILED

RUN = "run"


def decide(trigger: str | None, upstream: Iterable[str]) -> str:
    """'run', 'skipped' or 'upstream_failed' for a step whose upstream steps all finished."""
    states = list(upstream)
    any_failed = any(s in FAILED for s in states)
    trigger = trigger or "all_succeeded"
    if trigger == "all_succeeded":
        if all(s == "succeeded" for s in states):
            return RUN
        return "upstream_failed" if any_failed else "skipped"
    if trigger == "none_failed":
        return "upstream_failed" if any_failed else RUN
    if trigger == "all_done":
        return RUN
    if trigger == "any_failed":
        return RUN if any_failed else "skipped"
    raise ValueError(f"unknown trigger {trigger!r}")
