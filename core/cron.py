"""Schedules every backend can run: standard 5-field cron (or @daily-style presets) and IANA zones."""

from __future__ import annotations

import re

# What robfig/cron (Argo), croniter (Prefect, Airflow) all read the same: numbers, names, `*`, lists,
# ranges and steps. croniter alone also takes `L`, `W`, `#` and `?`, and a reversed range (`5-1`).
_FIELD = re.compile(r"^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*\Z")
_RANGE = re.compile(r"([0-9]+)-([0-9]+)")
PRESETS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a schedule Argo, Prefect and Airflow all accept, or None."""
    from croniter import croniter

    text = expression.strip()
    if text in PRESETS:
        return None
    fields = text.split()
    if len(fields) != 5:
        return f"cron {expression!r} has {len(fields)} fields; use 5 (minute hour day month weekday) or a preset such as @daily"
    if not croniter.is_valid(text):
        return f"cron {expression!r} is not a valid cron expression"
    for field in fields:
        upper = field.upper()  # L and W appear in no name but JUL and WED
        if not _FIELD.match(field) or "L" in upper.replace("JUL", "") or "W" in upper.replace("WED", ""):
            return (f"cron {expression!r}: the field {field!r} uses what not every backend reads (`L`, `W`, `#`, `?`); "
                    "use numbers, names, '*', lists, ranges and steps")
        if any(int(low) > int(high) for low, high in _RANGE.findall(field)):
            return f"cron {expression!r}: the range in {field!r} runs backwards, which Argo refuses; write it low-high"
    return None



def never_fires(expression: str) -> str | None:
    """Why a valid cron never fires (`0 0 30 2 *`: there is no 30 February), or None.

    Asked from a fixed start, so the answer never depends on today: a 5-field cron repeats
    within CRON_HORIZON_YEARS (every leap-day cycle fits).
    """
    from datetime import datetime, timezone

    from croniter import CroniterBadDateError, croniter

    from .limits import CRON_HORIZON_YEARS

    text = expression.strip()
    if text in PRESETS:
        return None
    start = datetime(2000, 1, 1, tzinfo=timezone.utc)
    try:
        croniter(text, start, max_years_between_matches=CRON_HORIZON_YEARS).get_next(datetime)
    except CroniterBadDateError:
        return f"cron {expression!r} never fires: no date matches it within {CRON_HORIZON_YEARS} years"
    return None


def timezone_problem(name: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
    return None
