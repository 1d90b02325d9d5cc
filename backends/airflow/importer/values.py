"""An operator argument's value as an orch value: an XCom reference becomes a step output reference, a templated
text goes through jinja.py, plain data stays as it is; what has no orch form (a Python object) is reported.

Airflow also fills a python callable's parameters named after its context (`ds`, `ti`, `params`, …): those orch
has (`ds`, `run_id`, `params`) become args holding the same values; the others are reported.
"""

from __future__ import annotations

from typing import Any

CONTEXT = {"conf", "dag", "dag_run", "data_interval_end", "data_interval_start", "ds", "ds_nodash", "inlets",
           "inlet_events", "logical_date", "macros", "map_index_template", "outlets", "outlet_events", "params",
           "prev_data_interval_start_success", "prev_data_interval_end_success", "prev_start_date_success",
           "prev_end_date_success", "run_id", "task", "task_instance", "task_instance_key_str", "test_mode", "ti",
           "triggering_asset_events", "ts", "ts_nodash", "ts_nodash_with_tz", "var", "conn", "start_date",
           "expanded_ti_count", "try_number", "next_ds", "prev_ds", "next_ds_nodash", "prev_ds_nodash"}


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


def context_argument(reading, task: dict, name: str, has_default: bool, args: dict) -> None:
    """A callable's parameter Airflow fills from its context, as the arg orch passes, or reported."""
    at = ("tasks", task["task_id"], "python_callable", name)
    if name == "ds":
        args[name] = "${{ run.date }}"
        reading.ledger.mapped(at, reading.target(task, "args"), "Airflow's context ds: the run's date")
    elif name == "run_id":
        args[name] = "${{ run.id }}"
        reading.ledger.mapped(at, reading.target(task, "args"), "Airflow's context run_id: the run's id")
    elif name == "params":
        args[name] = {p: f"${{{{ params.{p} }}}}" for p in reading.param_types}
        reading.ledger.mapped(at, reading.target(task, "args"), "Airflow's context params: the pipeline's params")
    elif name in CONTEXT:
        reading.ledger.unsupported(at, f"Airflow passes its context's {name!r} to this parameter: orch has no such "
                                       "value" + (" (the function gets its default)" if has_default else ""))
    elif not has_default:
        reading.ledger.unsupported(at, f"the parameter {name!r} gets no value")
