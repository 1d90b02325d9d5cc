"""BranchDateTimeOperator and BranchDayOfWeekOperator (providers standard operators/datetime.py, weekday.py) as a
command step: python3 making the operator's own comparison when the step starts, as Airflow makes it when the task
starts, and writing the task_ids it follows as the step's `return_value`, which the steps after it test in `when`
as after any branch (dag.conditions).

Each program below is the operator's choose_branch with Airflow's helpers written out (target_times_as_dates,
coerce_datetime, make_naive); argv[1] is the operator's arguments as JSON, argv[2] the run's date where the operator
uses the logical date (`use_task_logical_date`).
"""

from __future__ import annotations

import json
import zoneinfo

DATETIME = r'''import datetime as d, json, os, sys, zoneinfo
a = json.loads(sys.argv[1])
zone = zoneinfo.ZoneInfo(a["timezone"])
now = d.datetime.fromisoformat(sys.argv[2]).replace(tzinfo=d.timezone.utc) if len(sys.argv) > 2 else d.datetime.now(d.timezone.utc)
def read(v):
    return None if v is None else d.datetime.fromisoformat(v["iso"]) if v["kind"] == "datetime" else d.time.fromisoformat(v["iso"])
lower, upper = read(a["lower"]), read(a["upper"])
if not (isinstance(lower, d.datetime) and isinstance(upper, d.datetime)):
    lower = d.datetime.combine(now, lower) if isinstance(lower, d.time) else lower
    upper = d.datetime.combine(now, upper) if isinstance(upper, d.time) else upper
    if lower is not None and upper is not None and upper < lower:
        upper += d.timedelta(days=1)
lower, upper = [x if x is None or x.tzinfo else x.replace(tzinfo=zone) for x in (lower, upper)]
chosen = a["false"] if (upper is not None and upper < now) or (lower is not None and lower > now) else a["true"]
open(os.path.join(os.environ["ORCH_OUTPUTS"], "return_value"), "w").write(json.dumps(chosen))
'''

WEEKDAY = r'''import datetime as d, json, os, sys, zoneinfo
a = json.loads(sys.argv[1])
day = d.date.fromisoformat(sys.argv[2]) if len(sys.argv) > 2 else d.datetime.now(zoneinfo.ZoneInfo(a["timezone"]))
chosen = a["true"] if day.isoweekday() in a["days"] else a["false"]
open(os.path.join(os.environ["ORCH_OUTPUTS"], "return_value"), "w").write(json.dumps(chosen))
'''

DAYS = {name: i for i, name in enumerate(("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY",
                                          "SUNDAY"), start=1)}  # utils/weekday.py's WeekDay


def branch_time_step(reading, task: dict, step: dict) -> None:
    kwargs, path = task["kwargs"], ("tasks", task["task_id"])
    weekday = "BranchDayOfWeekOperator" in task["bases"]
    zone = reading.dag.get("timezone") or "UTC"
    arguments = {"timezone": zone, "true": _plain_ids(kwargs.get("follow_task_ids_if_true")),
                 "false": _plain_ids(kwargs.get("follow_task_ids_if_false"))}
    for key, ids in (("follow_task_ids_if_true", arguments["true"]), ("follow_task_ids_if_false", arguments["false"])):
        stray = [one for one in ([ids] if isinstance(ids, str) else ids) if one not in task["downstream"]]
        if stray:  # a task group's id, or a task not right after it: Airflow's skip_all_except expands or refuses it
            reading.ledger.unsupported((*path, key), f"{', '.join(stray)}: not a task directly downstream, which is "
                                                     "all the `when`s after the step test")
        else:
            reading.ledger.mapped((*path, key), reading.target(task, "command"), "the task_ids the step writes as "
                                                                                "its return_value")
    if not _known_zone(zone):
        reading.ledger.unsupported((*path, "operator"), f"the DAG's time zone {zone!r} is not an IANA name python's "
                                                        "zoneinfo knows")
    if weekday:
        arguments["days"] = _days(reading, task)
    else:
        for key in ("target_lower", "target_upper"):
            arguments[key.removeprefix("target_")] = _bound(reading, task, key)
        if zone != "UTC" and any(v and not v["aware"] for v in (arguments["lower"], arguments["upper"])):
            why = (f"a bound without a time zone is a wall time in {zone}: the same instant in python's zoneinfo as "
                   "in pendulum except at a daylight-saving change (a time that is skipped or repeated)")
            reading.ledger.approximated((*path, "target_lower"), why, reading.target(task, "command"))
            reading.note(task, "command", why)
    command = ["python3", "-c", WEEKDAY if weekday else DATETIME, json.dumps(arguments, sort_keys=True)]
    if kwargs.get("use_task_logical_date"):
        command.append("${{ run.date }}")
        at = (*path, "use_task_logical_date")
        if weekday:
            reading.ledger.mapped(at, reading.target(task, "command"), "run.date: the logical date's day, whose "
                                                                       "week day Airflow tests")
        else:
            why = ("Airflow compares the run's logical date with its time of day; orch's run.date is a day, read as "
                   "its midnight in UTC (a daily schedule's runs are then; a manual run's logical date is when it "
                   "was triggered)")
            reading.ledger.approximated(at, why, reading.target(task, "command"))
            reading.note(task, "command", why)
    elif "use_task_logical_date" in kwargs:
        reading.ledger.mapped((*path, "use_task_logical_date"), note="off: the time when the step starts")
    step["command"] = command
    reading.branches[task["task_id"]] = "branch"


def _plain_ids(value) -> list[str] | str:
    return value if isinstance(value, str) else [str(v) for v in value or ()]


def _known_zone(zone: str) -> bool:
    try:
        zoneinfo.ZoneInfo(zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


def _bound(reading, task: dict, key: str) -> dict | None:
    value, at = task["kwargs"].get(key), ("tasks", task["task_id"], key)
    if value is None:
        if key in task["kwargs"]:
            reading.ledger.mapped(at, note="none")
        return None
    if isinstance(value, dict) and value.get("__kind__") in ("datetime", "time") and \
            (value["__kind__"] == "datetime" or not value.get("tz")):
        reading.ledger.mapped(at, reading.target(task, "command"), "as ISO text the step reads")
        return {"kind": value["__kind__"], "iso": value["iso"], "aware": bool(value.get("tz"))}
    reading.ledger.unsupported(at, "a bound orch cannot write as ISO text (a time with a time zone, or no date "
                                   "or time)")
    return None


def _days(reading, task: dict) -> list[int]:
    value, at = task["kwargs"].get("week_day"), ("tasks", task["task_id"], "week_day")
    values = [value] if isinstance(value, (str, int)) else list(value or ())
    days = []
    for one in values:
        number = DAYS.get(one.upper()) if isinstance(one, str) else one if isinstance(one, int) and 1 <= one <= 7 \
            else None
        if number is None:
            reading.ledger.unsupported(at, f"{one!r} is not a week day")
            continue
        days.append(number)
    if days:
        reading.ledger.mapped(at, reading.target(task, "command"), "ISO week day numbers, Monday 1")
    return sorted(set(days))
