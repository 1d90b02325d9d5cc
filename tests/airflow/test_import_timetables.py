"""A custom timetable is code: the importer asks it for its first runs and reads the cron they fall on, checked
both ways (every run a tick; the ticks that are no run named, and only rare ones allowed)."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from orch.backends.airflow.importer.timetable_cron import cron_of_runs
from orch.core.load import parse_spec


def _schedule(one):
    return next(entry for entry in one.report.entries if entry.path == "dag.schedule")


def test_a_timetable_whose_runs_fall_on_a_cron_is_that_cron(readings):
    one = readings["weekday_mornings"]
    assert parse_spec(one.text).pipeline.schedule.cron == "30 6 * * 1-5"
    entry = _schedule(one)
    assert entry.status == "approximated" and "400 runs" in entry.note and "on every tick" in entry.note
    assert "logical date" not in entry.note  # its runs' logical dates are their times, as a cron trigger's
    assert one.report.nothing_unsupported and one.report.behaviour.checked


def test_a_timetable_no_cron_reproduces_is_refused(readings):
    one = readings["every_fifth_day"]
    assert _schedule(one).status == "unsupported" and "fall on no cron" in _schedule(one).note
    assert parse_spec(one.text).pipeline.schedule is None


def _days(start: str, count: int, skip=(), logical_before=False, zone="UTC") -> list:
    day, runs = datetime.datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(zone)), []
    while len(runs) < count:
        if day.weekday() < 5 and day.date().isoformat() not in skip:
            logical = day - datetime.timedelta(days=1) if logical_before else day
            runs.append([day.isoformat(), logical.isoformat()])
        day = (day + datetime.timedelta(days=1)).replace(tzinfo=ZoneInfo(zone))  # the same wall time
    return runs


def test_a_few_skipped_days_are_named_and_many_are_another_schedule():
    holidays = ("2024-01-15", "2024-02-19", "2024-05-27")
    read = cron_of_runs(_days("2024-01-01T00:00", 300, holidays, logical_before=True), "UTC")
    assert read.cron == "0 0 * * 1-5" and [t[:10] for t in read.extra] == list(holidays)
    assert not read.logical_is_tick
    every_other = [run for i, run in enumerate(_days("2024-01-01T00:00", 400)) if i % 2]
    assert cron_of_runs(every_other, "UTC") is None  # half the weekdays: not a calendar's few skipped days


def test_runs_read_in_the_dags_time_zone_and_too_few_runs_say_nothing():
    runs = _days("2024-01-01T09:00", 300, zone="Europe/Paris")  # 08:00 UTC in winter, 07:00 in summer
    assert cron_of_runs(runs, "Europe/Paris").cron == "0 9 * * 1-5"
    assert cron_of_runs(runs, "UTC") is None  # read in UTC its hour moves with the clocks
    assert cron_of_runs(runs[:60], "UTC").cron == "0 8 * * 1-5"  # January to March: months not read from it
    assert cron_of_runs(runs[:5], "UTC") is None
    assert cron_of_runs(None, "UTC") is None
