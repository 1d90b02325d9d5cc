"""Airflow's own reading of DAG files, as plain data: run in a child process, it loads each path with Airflow's
DagBag and prints, as JSON, every DAG's non-default attributes and every task's (what its author wrote, through
`default_args` too), with the values turned into JSON (references to other tasks' XComs marked as such).

    python -m orch.backends.airflow.importer.load PATH...

A child process because Airflow reads its configuration once, at import, and a DAG file runs arbitrary code:
the importer's own process stays free of both. The mapping to a spec (tasks.py, dag.py) reads only this data.
"""

from __future__ import annotations

import datetime
import enum
import inspect
import json
import sys
from pathlib import Path
from typing import Any

MAPPED_DEFAULTS = {"is_setup": False, "is_teardown": False, "on_failure_fail_dagrun": False, "executor_config": {},
                   "on_execute_callback": [], "on_failure_callback": [], "on_retry_callback": [],
                   "on_skipped_callback": [], "on_success_callback": [], "inlets": [], "outlets": []}
RUNTIME = {"relative_fileloc", "last_loaded", "has_on_success_callback", "has_on_failure_callback", "timezone",
           "dag_display_name", "partial", "has_task_concurrency_limits"}  # what Airflow derives, not what was written
STRUCTURAL = {"dag", "task_group", "task_id", "default_args", "_airflow_from_mapped"}  # the DAG's shape, read apart


def main(paths: list[str]) -> None:
    channel = sys.stdout
    sys.stdout = sys.stderr  # what the DAG files print goes to stderr
    found = [load(path) for path in paths]
    channel.write(json.dumps(found) + "\n")


def load(path: str) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    folder = str(Path(path).resolve().parent if Path(path).is_file() else Path(path).resolve())
    sys.path.insert(0, folder)  # the DAG file's own modules, as Airflow's DAGs folder is on its path
    try:
        bag = DagBag(dag_folder=path, safe_mode=False)
    finally:
        sys.path.remove(folder)
    return {"path": path, "errors": {file: str(error) for file, error in bag.import_errors.items()},
            "dags": [describe_dag(dag) for _, dag in sorted(bag.dags.items())]}


def describe_dag(dag) -> dict:
    import attrs

    attributes = {}
    for field in attrs.fields(type(dag)):
        if field.name.startswith("_") or field.name in ("dag_id", "task_dict", "task_group", "fileloc", "params",
                                                        "default_args", "timetable", "schedule", "edge_info")\
                or field.name in RUNTIME:
            continue
        value = getattr(dag, field.name, None)
        default = field.default.factory() if isinstance(field.default, attrs.Factory) and not field.default.takes_self else field.default
        if default is attrs.NOTHING or not _same(value, default):
            attributes[field.name] = plain(value)
    if dag.dag_display_name != dag.dag_id:
        attributes["dag_display_name"] = dag.dag_display_name
    return {
        "dag_id": dag.dag_id, "fileloc": dag.fileloc, "attributes": attributes,
        "timezone": getattr(dag.timezone, "name", None) or str(dag.timezone),  # what a naive date in a task means
        "schedule": plain(getattr(dag, "schedule", None)), "timetable": timetable(dag.timetable, getattr(dag, "start_date", None)),
        "params": {name: {"default": plain(dag.params.get_param(name).value),
                          "schema": plain(dag.params.get_param(name).schema),
                          "description": dag.params.get_param(name).description}
                   for name in dag.params},
        "groups": groups(dag), "tasks": [describe_task(task) for task in dag.tasks],
    }


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except Exception:  # a value that cannot be compared is recorded
        return False


def timetable(table, start=None) -> dict:
    described = {"type": type(table).__name__, "module": type(table).__module__,
                 "summary": str(getattr(table, "summary", "")), "periodic": bool(getattr(table, "periodic", False))}
    import attrs

    if attrs.has(type(table)):  # the task SDK's timetables: every field
        for field in attrs.fields(type(table)):
            value = getattr(table, field.name)
            inner = "timetables" in type(value).__module__  # a timetable inside one (AssetOrTimeSchedule's)
            described[field.name.lstrip("_")] = timetable(value) if inner else plain(value)
    for name in ("_expression", "_delta", "_timezone", "_interval", "_run_immediately"):
        if hasattr(table, name):
            described.setdefault(name.lstrip("_"), plain(getattr(table, name)))
    if start is not None and not type(table).__module__.startswith(("airflow.timetables", "airflow.sdk")):
        described["sampled"] = sampled_runs(table, start)
    return described


SAMPLED_RUNS = 400  # a custom timetable's runs read, from its start date on: over a year of daily runs


def sampled_runs(table, start) -> list | None:
    """A custom timetable's first runs from `start`, as its own next_dagrun_info gives them with catch-up on:
    (run_after, logical_date) ISO texts; None where it cannot be asked. What timetable_cron.py compares a cron to."""
    from airflow.timetables.base import TimeRestriction

    runs, last = [], None
    try:
        for _ in range(SAMPLED_RUNS):
            info = table.next_dagrun_info(last_automated_data_interval=last,
                                          restriction=TimeRestriction(earliest=start, latest=None, catchup=True))
            if info is None:
                break
            runs.append([info.run_after.isoformat(), info.logical_date.isoformat() if info.logical_date else None])
            last = info.data_interval
    except Exception:  # a user's timetable may fail outside a scheduler: then nothing is sampled
        return None
    return runs


def groups(dag) -> dict:
    """Every task group but the root: its parent, whether it is mapped (and over what), its own settings."""
    found = {}

    def walk(group, parent):
        for child in group.children.values():
            if hasattr(child, "children"):
                mapped = type(child).__name__ == "MappedTaskGroup"
                found[child.group_id] = {
                    "parent": parent, "label": child._group_id, "prefix": child.prefix_group_id,
                    "mapped": mapped,
                    "expand": plain(getattr(getattr(child, "_expand_input", None), "value", None)) if mapped else None,
                    "default_args": plain(child.default_args or {}), "tooltip": child.tooltip,
                    "upstream": sorted(child.upstream_task_ids | child.upstream_group_ids),
                }
                walk(child, child.group_id)

    walk(dag.task_group, None)
    return found


def describe_task(task) -> dict:
    mapped = bool(getattr(task, "_is_mapped", False))
    kind = task.operator_class if mapped else type(task)
    kind = kind if isinstance(kind, type) else None
    described = {
        "task_id": task.task_id, "class": getattr(task, "task_type", None) or (kind.__name__ if kind else "?"),
        "module": getattr(task, "_task_module", None) or (kind.__module__ if kind else "?"),
        "operator_name": getattr(task, "operator_name", None) or getattr(task, "_operator_name", None),
        "custom_operator_name": getattr(kind, "custom_operator_name", None) if kind else None,
        "group": task.task_group.group_id if task.task_group else None,
        "upstream": sorted(task.upstream_task_ids), "downstream": sorted(task.downstream_task_ids),
        "is_setup": bool(task.is_setup), "is_teardown": bool(task.is_teardown),
        "template_fields": list(getattr(task, "template_fields", ())),
        "mapped": mapped, "bases": [c.__name__ for c in (kind.__mro__ if kind else ())],
    }
    if mapped:
        defaults = init_defaults(task.operator_class) if isinstance(task.operator_class, type) else {}
        described["kwargs"] = {k: plain(v) for k, v in task.partial_kwargs.items()
                               if k not in STRUCTURAL and not (k in defaults and _same(v, defaults[k]))
                               and not (k in MAPPED_DEFAULTS and _same(v, MAPPED_DEFAULTS[k]))}
        expand = task._get_specified_expand_input() if hasattr(task, "_get_specified_expand_input") else task.expand_input
        described["expand"] = {"kind": type(expand).__name__, "value": plain(expand.value)}
        function = task.partial_kwargs.get("python_callable") or getattr(task, "python_callable", None)
        if function is not None:
            described["callable"] = callable_of(function)
    else:
        given = dict(getattr(task, "_BaseOperator__init_kwargs", {}))
        defaults = init_defaults(type(task))
        described["kwargs"] = {k: plain(v) for k, v in given.items()
                               if k not in STRUCTURAL and not (k in defaults and _same(v, defaults[k]))}
        if "params" in given and _same(given["params"], task.dag.params):
            described["kwargs"].pop("params")  # the DAG's params, which every task gets
        if getattr(task, "python_callable", None) is not None:
            described["callable"] = callable_of(task.python_callable)
    execute = next((k.__dict__["execute"] for k in kind.__mro__ if "execute" in k.__dict__), None) if kind else None
    execute = inspect.unwrap(execute) if callable(execute) else None  # past the safeguard Airflow wraps it in
    if execute is not None and not (getattr(execute, "__module__", None) or "airflow.").startswith("airflow."):
        described["execute"] = callable_of(execute)  # a user's operator's (its nearest class's): what it runs
    for internal in ("python_callable", "kwargs_to_upstream"):  # the callable, and a copy of its arguments
        described["kwargs"].pop(internal, None)
    return described


def init_defaults(kind: type) -> dict:
    """Each keyword's default in the `__init__`s of `kind` and its bases (the nearest class's wins)."""
    import inspect

    found: dict = {}
    for klass in reversed(kind.__mro__):
        init = klass.__dict__.get("__init__")
        try:
            parameters = inspect.signature(init).parameters.values() if init else ()
        except (TypeError, ValueError):
            continue
        for parameter in parameters:
            if parameter.default is not inspect.Parameter.empty:
                found[parameter.name] = parameter.default
    return found


def callable_of(function) -> dict | None:
    """Where a task's Python function lives: its module and name, and whether importing the module gives it."""
    if function is None:
        return None
    module = sys.modules.get(getattr(function, "__module__", ""), None)
    code = getattr(function, "__code__", None)
    return {"module": getattr(function, "__module__", None), "name": getattr(function, "__name__", None),
            "qualname": getattr(function, "__qualname__", None),
            "file": code.co_filename if code else None, "line": code.co_firstlineno if code else None,
            "module_file": getattr(module, "__file__", None),
            "at_top": getattr(module, getattr(function, "__name__", ""), None) is function,
            "parameters": _parameters(function),
            "decorated_at_top": getattr(getattr(module, getattr(function, "__name__", ""), None), "function", None) is function}


def _no_nulls(value: Any) -> Any:
    """A Kubernetes model's dict without its unset (None) fields: what was written."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def _parameters(function) -> list:
    """The function's parameters: name, kind and whether it has a default."""
    import inspect

    try:
        return [[p.name, p.kind.name, p.default is not inspect.Parameter.empty]
                for p in inspect.signature(function).parameters.values()]
    except (TypeError, ValueError):
        return []


def plain(value: Any, depth: int = 0) -> Any:
    """`value` as JSON data: XCom references, durations, dates and other objects marked by a `__kind__` key."""
    if depth > 20:
        return {"__kind__": "object", "type": type(value).__name__, "repr": "…"}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value, depth + 1)
    if isinstance(value, datetime.timedelta):
        return {"__kind__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, datetime.datetime):
        return {"__kind__": "datetime", "iso": value.isoformat(), "tz": str(value.tzinfo) if value.tzinfo else None}
    if isinstance(value, datetime.time):
        return {"__kind__": "time", "iso": value.isoformat(), "tz": str(value.tzinfo) if value.tzinfo else None}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    kind = type(value).__name__
    if kind == "PlainXComArg":
        return {"__kind__": "xcom", "task_id": value.operator.task_id, "key": value.key}
    if kind in ("MapXComArg", "ZipXComArg", "ConcatXComArg", "FilterXComArg"):
        return {"__kind__": "object", "type": kind, "repr": repr(value)[:200]}
    if hasattr(value, "to_dict") and type(value).__module__.startswith("kubernetes"):
        from kubernetes.client import ApiClient

        return {"__kind__": "kubernetes", "type": kind, "value": _no_nulls(plain(value.to_dict(), depth + 1)),
                "api": ApiClient().sanitize_for_serialization(value)}  # as Kubernetes writes it (camelCase)
    if kind == "ParamsDict":
        return {k: plain(value.get_param(k).value, depth + 1) for k in value}
    if kind == "Param":
        return {"__kind__": "param", "value": plain(value.value, depth + 1)}
    if kind == "MappedArgument":
        return {"__kind__": "item", "key": getattr(value, "_key", None)}
    if kind == "ArgNotSet":
        return {"__kind__": "notset"}
    if callable(value):
        return {"__kind__": "callable", "name": getattr(value, "__qualname__", kind),
                "module": getattr(value, "__module__", None)}
    return {"__kind__": "object", "type": kind, "module": type(value).__module__, "repr": repr(value)[:200]}


if __name__ == "__main__":
    main(sys.argv[1:])
