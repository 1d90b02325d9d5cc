"""Every attempt of a run on one time axis: a lane per step (per fan-out item), a bar per attempt.

Bars are placed in percent of the run's span, so a retry's delay shows as the gap between two bars
of a lane. A bar still running reaches `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from .data import Attempt, RunView, parse_time

MIN_WIDTH = 0.4  # percent: an attempt of a millisecond is still a mark
MAX_LANES = 500  # a fan-out of thousands of items: the first lanes drawn, the rest counted


@dataclass
class Bar:
    attempt: Attempt
    left: float
    width: float
    seconds: Optional[float]


@dataclass
class Lane:
    step: str
    item: str
    label: str
    bars: list[Bar]


@dataclass
class Timeline:
    lanes: list[Lane]
    span: float  # seconds from the run's start to its end (or now)
    ticks: list[tuple[float, str]]  # (percent, label)
    hidden: int = 0  # lanes past MAX_LANES, not drawn


def timeline(run: RunView, now: Optional[datetime] = None) -> Timeline:
    now = now or datetime.now(timezone.utc)
    moments = [parse_time(t) for a in run.attempts for t in (a.started_at, a.ended_at)]
    begin = parse_time(run.started_at) or min((m for m in moments if m), default=now)
    end = parse_time(run.ended_at)
    if end is None:
        end = now if run.status == "running" else max((m for m in moments if m), default=now)
    span = max((end - begin).total_seconds(), 0.001)
    lanes: dict[tuple[str, str], Lane] = {}
    for attempt in run.attempts:
        start = parse_time(attempt.started_at) or begin
        stop = parse_time(attempt.ended_at) or (now if attempt.running else end)
        left = _percent((start - begin).total_seconds(), span)
        width = max(_percent((stop - start).total_seconds(), span), MIN_WIDTH)
        seconds = (stop - start).total_seconds() if attempt.ended_at else None
        lane = lanes.setdefault((attempt.step, attempt.item), Lane(attempt.step, attempt.item, attempt.label, []))
        lane.bars.append(Bar(attempt, left, min(width, 100 - left) if left < 100 else MIN_WIDTH, seconds))
    drawn = list(lanes.values())
    return Timeline(drawn[:MAX_LANES], span, _ticks(span), max(0, len(drawn) - MAX_LANES))


def _percent(seconds: float, span: float) -> float:
    return max(0.0, min(100.0, 100 * seconds / span))


def _ticks(span: float) -> list[tuple[float, str]]:
    step = next((s for s in (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
                             7200, 21600, 43200, 86400) if span / s <= 8), 86400 * max(1, round(span / 86400 / 8)))
    ticks, at = [], 0.0
    while at <= span + 1e-9:
        ticks.append((100 * at / span, _label(at)))
        at += step
    return ticks


def _label(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"
