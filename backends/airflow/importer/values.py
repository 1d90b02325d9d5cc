"""An operator argument's value as an orch value: an XCom reference becomes a step output reference, a templated
text goes through jinja.py, plain data stays as it is; what has no orch form (a Python object) is reported.

Airflow also fills a python callable's parameters named after its context (`ds`, `ti`, `params`, …), and its
`**kwargs` with the whole context: those orch has (`ds`, `run_id`, `params`) become args holding the same values;
for the others body.py reads what the function does with them (nothing, a log line, or more: reported).
"""

from __future__ import annotations

from typing import Any

CONTEXT = {"conf", "dag", "dag_run", "data_interval_end", "data_interval_start", "ds", "ds_nodash", "exception",
           "inlets", "inlet_events", "logical_date", "macros", "map_index_template", "outlets", "outlet_events",
           "params", "partition_key", "partition_date", "prev_data_interval_start_success",
           "prev_data_interval_end_success", "prev_start_date_success", "prev_end_date_success", "reason", "run_id",
           "task", "task_instance", "task_instance_key_str", "task_reschedule_count", "task_state_store",
           "asset_state_store", "templates_dict", "test_mode", "ti", "triggering_asset_events", "ts", "ts_nodash",
           "ts_nodash_with_tz", "var", "conn", "start_date", "expanded_ti_count", "try_number", "next_ds", "prev_ds",
           "next_ds_nodash", "prev_ds_nodash"}  # the sdk's definitions/context.py Context, and Airflow 2's extras
NEVER_GIVEN = {"test_mode": "Airflow 3's task runner puts no test_mode in the context (task_runner.py)"}
SUPPLIED = {"ds": ("${{ run.date }}", "Airflow's context ds: the run's date"),
            "run_id": ("${{ run.id }}", "Airflow's context run_id: the run's id"),
            "params": (None, "Airflow's context params: the pipeline's params")}  # what orch has of the context


def value_of(reading, task: dict, value: Any, at: tuple) -> Any:
    """`value` (from load.plain) in the spec, recorded at `at` where it is not plain data."""
    from .tasks import OUTPUT, templated

    if isinstance(value, dict) and value.get("__kind__") == "xcom":
        source, key = value["task_id"], value["key"]
        reference = reading.reference(task, source, key if key != OUTPUT else OUTPUT)
        if reference is None:
            reading.ledger.unsupported(at, f"an XCom of {source!r} that no orch output can carry (key {key!r})")
            return None
        reading.ledger.mapped(at, reading.target(task, "args"), f"{source}'s XCom {key!r}: its step's output")
        return reference
    if isinstance(value, dict) and value.get("__kind__") == "item":
        reading.ledger.mapped(at, reading.target(task, "args"), "the mapped task group's item")
        return "${{ item }}"
    if isinstance(value, dict) and "__kind__" in value:
        reading.ledger.unsupported(at, f"a Python {value.get('type', value['__kind__'])} value: a spec holds data")
        return None
    if isinstance(value, str):
        if "{{" in value or "{%" in value or "${{" in value:
            return templated(reading, task, value, at)
        reading.ledger.mapped(at)
        return value
    if isinstance(value, list):
        if not value:
            reading.ledger.mapped(at)
        return [value_of(reading, task, v, (*at, i)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not value:
            reading.ledger.mapped(at)
        return {k: value_of(reading, task, v, (*at, k)) for k, v in value.items()}
    reading.ledger.mapped(at)
    return value


def supplied(reading, name: str):
    """The arg value orch gives for the context key `name`, or None where orch has no such value."""
    if name not in SUPPLIED:
        return None
    value = SUPPLIED[name][0]
    return value if value is not None else {p: f"${{{{ params.{p} }}}}" for p in reading.param_types}


def context_argument(reading, task: dict, name: str, has_default: bool, args: dict) -> None:
    """A callable's parameter Airflow fills from its context, as the arg orch passes, or said: where orch has no
    such value and the parameter has a default, the function gets that default -- the same run where its body
    never reads the parameter or only logs it (body.py), and reported unsupported where it reads it otherwise."""
    from .body import function_node, uses_of

    at = ("tasks", task["task_id"], "python_callable", name)
    value = supplied(reading, name)
    if value is not None:
        args[name] = value
        reading.ledger.mapped(at, reading.target(task, "args"), SUPPLIED[name][1])
        return
    if name in NEVER_GIVEN and has_default:
        reading.ledger.mapped(at, note=f"{NEVER_GIVEN[name]}: the function gets its default there too, as in orch")
        return
    if name not in CONTEXT:
        if not has_default:
            reading.ledger.unsupported(at, f"the parameter {name!r} gets no value")
        return
    node = function_node(task.get("callable") or {}) if has_default else None
    uses = uses_of(node, name, _dead(node)) if node is not None else None
    if uses is not None and not uses.other and not uses.keys:
        why = (f"Airflow passes its context's {name!r} to this parameter; orch has no such value, so the function "
               "gets its default, which it " + ("only logs: the log line shows the default, not Airflow's value"
                                                  if uses.logged else "never reads"))
        if not uses_of(node, name).unused and uses.unused:
            why += " (but under `if` on a parameter that holds its falsy default in Airflow too: a branch never run)"
        reading.ledger.approximated(at, why, reading.target(task, "python"))
        reading.note(task, "python", why)
        return
    reading.ledger.unsupported(at, f"Airflow passes its context's {name!r} to this parameter: orch has no such "
                                   "value" + (" (the function gets its default)" if has_default else ""))


def context_mapping(reading, task: dict, name: str, args: dict) -> None:
    """A callable's `**name`, where Airflow passes its whole context: the keys its body reads that orch has become
    args; a key orch has not, or a use of the mapping beyond reading constant keys and logging, is reported."""
    from .body import function_node, uses_of

    at = ("tasks", task["task_id"], "python_callable", f"**{name}")
    node = function_node(task.get("callable") or {})
    if node is None:
        reading.ledger.unsupported(at, f"Airflow passes its context in **{name}: the function's source could not be "
                                       "read to see what it takes from it")
        return
    uses = uses_of(node, name)
    missing = sorted(key for key in uses.keys if key in CONTEXT and supplied(reading, key) is None)
    if uses.other or missing:
        what = (f"reads Airflow's context {', '.join(map(repr, missing))} from it" if missing else
                f"uses it beyond reading constant keys (line {uses.other[0]})")
        reading.ledger.unsupported(at, f"Airflow passes its context in **{name} and the function {what}: orch "
                                       "passes only the step's args")
        return
    taken = sorted(key for key in uses.keys if supplied(reading, key) is not None and key not in args)
    for key in taken:
        args[key] = supplied(reading, key)
    if uses.logged:
        why = (f"the function logs **{name}: Airflow's whole context there, only the step's args in orch (the log "
               "differs)")
        reading.ledger.approximated(at, why, reading.target(task, "python"))
        reading.note(task, "python", why)
    else:
        reading.ledger.mapped(at, reading.target(task, "args"),
                              f"of Airflow's context in **{name} the function reads " +
                              (", ".join(f"{key!r} ({SUPPLIED[key][1]})" for key in taken) if taken else "nothing"))


def _dead(node) -> frozenset:
    """The parameters that always hold a falsy default in Airflow and in orch alike: `if` on one never runs."""
    from .body import falsy_defaults

    return frozenset(falsy_defaults(node) & set(NEVER_GIVEN))
