"""A DAG's schedule and params as the spec's `schedule:` and `params:`.

Airflow 3 reads a cron string or preset as a CronTriggerTimetable (a run at each tick, its logical date the tick);
orch's schedule is a cron with a timezone, so those map exactly. A timedelta is a DeltaTriggerTimetable anchored
at start_date: a cron with the same period where one exists (approximated: cron ticks on the clock). `@once` and
asset-triggered schedules say only when the same tasks run: the spec has none (approximated, as is the cron of an
asset-or-time or a partitioned cron schedule). A custom timetable is read as the cron its first runs fall on
(timetable_cron.py), approximated; continuous ones, and custom ones no cron reproduces, are unsupported.
"""

from __future__ import annotations

from .fields import seconds_of
from .timetable_cron import cron_of_runs

PRESETS = {"0 0 * * *": "@daily", "0 * * * *": "@hourly", "0 0 * * 0": "@weekly", "0 0 1 * *": "@monthly",
           "0 0 1 1 *": "@yearly"}
PARAM_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
               "object": "json", "array": "json"}
SCHEMA_SHAPE = {"type", "default", "description", "title"}
_WHEN_RUN = "; the spec has no schedule, so it runs when you run it: orch emits and watches no asset events"
ASSET_TRIGGERED = {  # schedules that only say when the DAG runs, with no cron of their own
    "AssetTriggeredTimetable": "Airflow runs it whenever its assets are updated (by other DAGs' tasks or an asset "
                               "watcher)" + _WHEN_RUN,
    "PartitionedAssetTimetable": "Airflow runs it once per partition key of its assets' updates (the key reaches "
                                 "a task only through its context, said there)" + _WHEN_RUN,
    "PartitionedAtRuntime": "Airflow's runs of it are triggered with a partition key (which reaches a task only "
                            "through its context, said there); the spec has no schedule, so it runs when you run "
                            "it, with no partition key",
}
DATELESS = {"AssetTriggeredTimetable", "PartitionedAssetTimetable", "PartitionedAtRuntime", "CronPartitionTimetable"}


def schedule_of(reading, spec: dict) -> None:
    dag, ledger = reading.dag, reading.ledger
    table, attributes = dag["timetable"], dag["attributes"]
    at = ("dag", "schedule")
    kind = table["type"]
    cron = None
    if kind == "NullTimetable":
        ledger.mapped(at, note="no schedule")
    elif kind in ("CronTriggerTimetable", "CronDataIntervalTimetable") and table.get("expression"):
        cron = table["expression"]
        interval = (table.get("interval") or {}).get("seconds") if isinstance(table.get("interval"), dict) else None
        if interval or table.get("run_immediately"):
            ledger.unsupported(at, "a cron with a data interval or run_immediately: orch's runs have neither")
        elif kind == "CronDataIntervalTimetable":
            ledger.approximated(at, "a data-interval cron: Airflow runs at each interval's end with the logical date "
                                    "at its start; orch runs at each tick, run.date the tick", "schedule.cron")
        else:
            ledger.mapped(at, "schedule.cron")
    elif kind in ("DeltaTriggerTimetable", "DeltaDataIntervalTimetable"):
        cron = _cron_of_delta(seconds_of(table.get("delta")) or 0)
        if cron:
            ledger.approximated(at, f"every {table.get('delta', {}).get('seconds')} s from start_date in Airflow; the "
                                    f"cron {cron!r} ticks on the clock", "schedule.cron")
        else:
            ledger.unsupported(at, "a period no cron expression has")
    elif kind == "OnceTimetable":
        ledger.approximated(at, "@once: Airflow runs it once when the DAG is turned on; the spec has no schedule, "
                                "so it runs when you run it")
    elif kind in ASSET_TRIGGERED:  # like @once: the same tasks, only when they run differs
        ledger.approximated(at, ASSET_TRIGGERED[kind])
        reading.header.append(ASSET_TRIGGERED[kind])
    elif kind == "AssetOrTimeSchedule" and _plain_cron(table.get("timetable")):
        table = table["timetable"]
        cron = table["expression"]
        why = ("Airflow runs it at each cron tick and also whenever its assets are updated (those runs without a "
               "logical date); orch runs it at each tick only: it emits and watches no asset events")
        ledger.approximated(at, why, "schedule.cron")
        reading.header.append(why)
    elif kind == "CronPartitionTimetable" and _plain_cron(table) and not table.get("run_offset"):
        cron = table["expression"]
        ledger.approximated(at, "a cron whose Airflow runs carry a partition key (the tick, formatted "
                                f"{table.get('key_format')!r}) and no logical date; orch's runs at each tick carry "
                                "no partition key (a task reads one only through its context, said there)",
                            "schedule.cron")
    elif (read := cron_of_runs(table.get("sampled"), dag.get("timezone") or "UTC")) is not None:
        cron = read.cron
        table = {"timezone": dag.get("timezone") or "UTC"}  # the zone its runs were read in, for the schedule below
        why = (f"Airflow's {kind} is code: its first {read.runs} runs ({read.span}, asked of the timetable with "
               f"catch-up on) all fall on the cron {cron!r}")
        why += (f", which also ticks on {len(read.extra)} days it has no run ({', '.join(read.extra[:3])}"
                f"{', …' if len(read.extra) > 3 else ''})" if read.extra else ", and it on every tick")
        if not read.logical_is_tick:
            why += "; a run's logical date is its data interval's start, where orch's run.date is the tick"
        ledger.approximated(at, why, "schedule.cron")
    elif table.get("sampled"):
        ledger.unsupported(at, f"Airflow's {kind} is code, and its first {len(table['sampled'])} runs fall on no "
                               "cron (orch schedules by cron only)")
    else:
        ledger.unsupported(at, f"Airflow's {kind} ({table.get('summary')}): orch schedules by cron only")
    if cron:
        schedule = {"cron": PRESETS.get(cron, cron)}
        timezone = table.get("timezone")
        zone = timezone.get("repr", "") if isinstance(timezone, dict) else str(timezone or "UTC")
        zone = zone.removeprefix("Timezone('").removesuffix("')") or "UTC"
        if not _iana(zone):
            ledger.approximated(("dag", "timezone"), f"{zone} is not an IANA time zone: the schedule reads its cron "
                                                     "in UTC", "schedule.timezone")
            zone = "UTC"
        schedule["timezone"] = zone
        schedule["catchup"] = bool(attributes.get("catchup", False))
        schedule["concurrency"] = int(attributes.get("max_active_runs", 16))
        spec["schedule"] = schedule
    for key in ("catchup", "max_active_runs"):
        if key in attributes:
            if cron:
                ledger.mapped(("dag", key), "schedule." + ("catchup" if key == "catchup" else "concurrency"))
            else:
                ledger.mapped(("dag", key), note="no schedule: nothing to carry it")
    for key in ("start_date", "end_date"):
        if key in attributes:
            if cron and key == "start_date":
                ledger.approximated(("dag", key), "orch schedules from the deployment on, not from a start date; "
                                                  "its time zone is the schedule's", "schedule.timezone")
            elif cron:
                ledger.unsupported(("dag", key), "orch's schedules have no end date")
            else:
                ledger.mapped(("dag", key), note="no schedule: it has no effect on a run")


def _plain_cron(table) -> bool:
    """A cron trigger with no data interval and no run_immediately: what orch's cron means."""
    if not isinstance(table, dict) or not table.get("expression"):
        return False
    interval = table.get("interval")
    return table.get("type") in ("CronTriggerTimetable", "CronPartitionTimetable") and not table.get(
        "run_immediately") and not (interval.get("seconds") if isinstance(interval, dict) else interval)


def dateless_runs(reading) -> None:
    """Airflow's runs of an asset-triggered or partitioned schedule have no logical date (scheduler_job_runner.py,
    timetables/trigger.py): there `{{ ds }}` fails a task and a `ds` parameter gets nothing, where orch's
    run.date is a date -- so a spec reading run.date does not run those tasks as Airflow does."""
    import json

    if reading.dag["timetable"]["type"] in DATELESS and "run.date" in json.dumps(reading.steps):
        reading.ledger.unsupported(("dag", "schedule"), "Airflow's runs of this schedule have no logical date, so "
                                                        "a task reading ds fails or gets nothing there; in orch "
                                                        "run.date is the run's date")


def _cron_of_delta(seconds: float) -> str | None:
    minutes = seconds / 60
    if minutes.is_integer() and 0 < minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{int(minutes)} * * * *"
    hours = seconds / 3600
    if hours.is_integer() and 0 < hours < 24 and 24 % hours == 0:
        return "0 * * * *" if hours == 1 else f"0 */{int(hours)} * * *"
    if seconds == 86400:
        return "0 0 * * *"
    if seconds == 7 * 86400:
        return "0 0 * * 0"
    return None


def params_of(reading, spec: dict) -> None:
    params = {}
    for name, param in reading.dag["params"].items():
        at = ("dag", "params", name)
        schema = param.get("schema") or {}
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        default = param.get("default")
        if isinstance(default, dict) and default.get("__kind__") == "notset":
            default = None
        orch_type = PARAM_TYPES.get(kind) if kind else _type_of(default)
        key = name if not _bad(name) else None
        if key is None or orch_type is None:
            reading.ledger.unsupported(at, f"the param {name!r} " + ("is not a valid orch name" if key is None
                                                                     else f"of JSON type {kind!r}"))
            continue
        entry = {"type": orch_type}
        if default is not None or orch_type == "json":
            entry["default"] = default
        if param.get("description"):
            entry["description"] = param["description"]
        params[name] = entry
        reading.param_types[name] = orch_type
        extra = sorted(set(schema) - SCHEMA_SHAPE)
        if extra:
            reading.ledger.approximated(at, f"orch checks the type only; Airflow's schema also has {', '.join(extra)}",
                                        f"params.{name}")
        else:
            reading.ledger.mapped(at, f"params.{name}")
    for task in reading.dag["tasks"]:  # a task's own params: the pipeline's, where no DAG param has the name
        for name, value in (task["kwargs"].get("params") or {}).items():
            if name not in params and not _bad(name):
                params[name] = {"type": _type_of(value), "default": value}
                reading.param_types[name] = params[name]["type"]
    if params:
        spec["params"] = params


def _iana(zone: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        return False
    return True


def _bad(name: str) -> bool:
    from orch.core.names import name_problem

    return name_problem(name) is not None


def _type_of(value) -> str:
    """A param's type from its default, as orch's own shorthand reads one -- but a param with no default is text."""
    from orch.core.spec import type_of_value

    return "string" if value is None else type_of_value(value)
