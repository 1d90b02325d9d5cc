"""A custom timetable as a cron, where its runs fall on one: orch schedules by cron only, and a timetable is code.

load.py asks the timetable itself for its first runs (next_dagrun_info, catch-up on, from the DAG's start date);
here the cron is read off those runs' times (the minutes, hours, days and months they fall on, each only where
the runs span long enough to show every value it could take: no month is left out from half a year) and checked
the other way: every run is a tick of it, and the ticks between the first run and the last that are no run are
named. A cron that misses a run, or that ticks where the timetable has no run more than rarely (a holiday
calendar's few skipped days), is no reading of it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))
SEEN_IN = {"minute": 1 / 24, "hour": 1, "day": 62, "month": 366, "weekday": 14}  # days a field needs to show all
MIN_RUNS = 20  # fewer runs than this say too little of a timetable to read a cron from them
RARE = 0.05  # at most this share of extra ticks (days a calendar skips) is an approximation, not another schedule


@dataclass
class Reading:
    cron: str
    extra: list[str]  # the cron's ticks where the timetable has no run, in the sampled span
    runs: int
    span: str
    logical_is_tick: bool  # whether each run's logical date is its run time, as a cron trigger's is


def cron_of_runs(runs: list | None, zone: str) -> Reading | None:
    """The cron whose ticks are the sampled `runs` ([run_after, logical_date] ISO texts), read in `zone`."""
    from croniter import croniter

    if not runs or len(runs) < MIN_RUNS:
        return None
    tz = ZoneInfo(zone)
    times = [datetime.datetime.fromisoformat(after).astimezone(tz) for after, _ in runs]
    seen = {name: set() for name, _, _ in FIELDS}
    for t in times:
        for name, value in zip(seen, (t.minute, t.hour, t.day, t.month, (t.weekday() + 1) % 7)):
            seen[name].add(value)
    if any(t.second or t.microsecond for t in times):
        return None
    days = (times[-1] - times[0]).total_seconds() / 86400
    texts = {name: _field(seen[name], low, high) if days >= SEEN_IN[name] else "*" for name, low, high in FIELDS}
    if texts["day"] != "*" and texts["weekday"] != "*":  # cron ORs the two: it cannot say both
        return None
    cron = " ".join(texts[name] for name, _, _ in FIELDS)
    wanted, ticks = set(times), set()
    ticking = croniter(cron, times[0] - datetime.timedelta(seconds=1))
    while True:
        tick = ticking.get_next(datetime.datetime)
        if tick > times[-1]:
            break
        ticks.add(tick)
    if wanted - ticks:
        return None
    extra = sorted(ticks - wanted)
    if len(extra) > RARE * len(times):
        return None
    logical = all(given is None or datetime.datetime.fromisoformat(given) == datetime.datetime.fromisoformat(after)
                  for after, given in runs)
    return Reading(cron, [t.isoformat() for t in extra], len(times),
                   f"{times[0]:%Y-%m-%d} to {times[-1]:%Y-%m-%d}", logical)


def _field(values: set, low: int, high: int) -> str:
    """A cron field naming exactly `values`: `*` when it is every one, else its ranges."""
    if values == set(range(low, high + 1)):
        return "*"
    ordered, parts, start = sorted(values), [], None
    for i, value in enumerate(ordered):
        start = value if start is None else start
        if i + 1 == len(ordered) or ordered[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)
