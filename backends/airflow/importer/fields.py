"""The BaseOperator fields every task has, each read into the step or said: retries, timeout, trigger rule, and
what only Airflow's scheduler or UI uses.

A field's handler gets the reading, the task, and the value; it sets what the step gets and writes the field's fate
in the ledger (tasks.py calls it for every non-default field of a task and `close` catches any other).
"""

from __future__ import annotations

from .retries import duration
from .retries import retries_of

# Airflow's trigger rules orch's mean exactly (ti_deps/deps/trigger_rule_dep.py, judged once every upstream ended).
SAME_TRIGGER = {"all_success": "all_succeeded", "none_failed": "none_failed", "all_done": "all_done",
                "one_failed": "any_failed"}
# Rules that equal one of orch's when the task has exactly one upstream task.
SAME_WITH_ONE_UPSTREAM = {"one_success": "all_succeeded", "none_failed_min_one_success": "all_succeeded",
                          "all_failed": "any_failed", "one_done": None, "none_skipped": None,
                          "all_done_min_one_success": "all_succeeded"}
# Otherwise the nearest orch trigger and what differs.
NEAREST_TRIGGER = {
    "none_failed_min_one_success": ("none_failed", "Airflow skips the task when every upstream task was skipped; "
                                                   "orch's none_failed runs it"),
    "one_success": ("none_failed", "Airflow runs it once one upstream succeeded, even if another failed; "
                                   "orch's none_failed needs none failed and also runs it when all were skipped"),
    "all_failed": ("any_failed", "Airflow runs it only when every upstream failed; orch's any_failed when one did"),
    "one_done": ("all_done", "Airflow skips it when no upstream succeeded or failed (all skipped or upstream "
                             "failed); orch's all_done runs it"),
    "none_skipped": ("all_done", "Airflow skips it when an upstream was skipped; orch's all_done runs it"),
    "always": ("all_done", "Airflow starts it at once, not waiting for its upstream tasks; orch's all_done waits"),
    "all_skipped": ("all_done", "Airflow runs it only when every upstream was skipped; orch's all_done runs it "
                                "whatever they did"),
    "all_done_min_one_success": ("all_done", "Airflow skips it if any upstream was skipped and needs one success; "
                                             "orch's all_done runs it"),
    "all_done_setup_success": ("all_done", "Airflow also needs its setup tasks to have succeeded"),
}

JOINS = ("none_failed_min_one_success", "one_success")  # joins after branches: dag.joins reads them
DISPLAY = {"doc", "doc_md", "doc_rst", "doc_json", "doc_yaml", "ui_color", "ui_fgcolor", "task_display_name",
           "owner", "map_index_template", "show_return_value_in_logs", "log_level"}
SCHEDULING = {"priority_weight", "weight_rule", "queue", "pool", "pool_slots", "max_active_tis_per_dag",
              "executor"}
NOT_IN_ORCH = {
    "depends_on_past": "a task waiting for its previous run's instance: orch's runs are independent",
    "wait_for_downstream": "a task waiting for its previous run's downstream tasks: orch's runs are independent",
    "ignore_first_depends_on_past": "belongs to depends_on_past",
    "wait_for_past_depends_before_skipping": "belongs to depends_on_past",
    "on_failure_callback": "a callback Airflow calls: orch has none (use a finally step)",
    "on_success_callback": "a callback Airflow calls: orch has none (use a finally step)",
    "on_retry_callback": "a callback Airflow calls: orch has none",
    "on_execute_callback": "a callback Airflow calls: orch has none",
    "on_skipped_callback": "a callback Airflow calls: orch has none",
    "email": "Airflow's failure e-mails: orch sends none",
    "email_on_failure": "Airflow's failure e-mails: orch sends none",
    "email_on_retry": "Airflow's retry e-mails: orch sends none",
    "run_as_user": "orch runs a step as the user running it",
    "retry_policy": "an exception-based retry policy: orch's retries.on tells a failure from an error, not exceptions apart",
    "resources": "Airflow's per-task resources (an executor's hint)",
    "sla": "SLAs: orch has none",
    "pre_execute": "a hook Airflow calls before the task: orch has none",
    "post_execute": "a hook Airflow calls after the task: orch has none",
    "definition_name": "an @asset's name: orch has no assets",
}

# A task's assets change none of its run's task states (task_runner.py: outlets become asset events once the task
# succeeded; inlets are lineage and the events its context offers): what they do is for other DAGs and the UI.
ASSETS = {
    "outlets": "asset events: when the task succeeds Airflow records an event for each of these assets, which "
               "triggers the DAGs scheduled on them and shows as lineage; orch emits no asset events, so DAGs "
               "scheduled on these assets are not triggered by these runs",
    "inlets": "lineage: Airflow shows these assets as the task's inputs (their events reach the task only through "
              "its context, said at its parameters); orch keeps no lineage",
}
INACTIVE = ("; and Airflow fails the task before it runs when one of them is inactive (its name or URI taken by "
            "another asset of the deployment), where orch runs it")


def read_common(reading, task: dict, step: dict) -> None:
    """The BaseOperator fields of `task` into `step`, each recorded."""
    kwargs = task["kwargs"]
    path = ("tasks", task["task_id"])
    ledger, note = reading.ledger, reading.note
    retry_keys = ("retries", "retry_delay", "retry_exponential_backoff", "max_retry_delay")
    if any(k in kwargs for k in retry_keys):
        read_retries(reading, task, step)
    if "execution_timeout" in kwargs:
        seconds = seconds_of(kwargs["execution_timeout"])
        if seconds:
            step["timeout"] = duration(seconds)
        ledger.mapped((*path, "execution_timeout"), reading.target(task, "timeout"),
                      "bounds one try in Airflow, one attempt in orch")
    trigger_of(reading, task, step)
    for key, value in kwargs.items():
        at = (*path, key)
        if key in DISPLAY:
            ledger.approximated(at, "display only: Airflow shows it, orch does not keep it")
        elif key in SCHEDULING:
            ledger.approximated(at, "scheduling order or capacity in Airflow's scheduler: orch runs a step when its "
                                    "upstream steps end, within its backend's own capacity")
        elif key in ASSETS and value:
            ledger.approximated(at, ASSETS[key] + INACTIVE)
            reading.note(task, "", f"Airflow {key}: " + ASSETS[key])
        elif key in ASSETS:
            ledger.mapped(at, note="none")
        elif key in NOT_IN_ORCH and value not in (None, False, [], {}):
            ledger.unsupported(at, NOT_IN_ORCH[key])
        elif key in NOT_IN_ORCH:
            ledger.mapped(at, note="off: nothing to carry")
        elif key in ("start_date", "end_date"):
            same = value == reading.dag["attributes"].get(key)
            ledger.mapped(at, note="the DAG's own" if same else "a task's dates only bound which runs it is in")
        elif key == "do_xcom_push":
            ledger.mapped(at, note="no XCom: the step declares no output" if value is False else "")
        elif key == "max_active_tis_per_dagrun" and not task["mapped"]:
            ledger.mapped(at, note="bounds a mapped task's instances only: this task is not mapped")
        elif key == "executor_config" and value:
            from .pod import read_pod_override

            read_pod_override(reading, task, step)
        elif key == "executor_config":
            ledger.mapped(at, note="none")
        elif key == "params":
            ledger.approximated(at, "a task's own params: orch's params are the pipeline's")
        elif key == "multiple_outputs" and not value:
            ledger.mapped(at)


def trigger_of(reading, task: dict, step: dict) -> None:
    rule = task["kwargs"].get("trigger_rule", "all_success")
    at = ("tasks", task["task_id"], "trigger_rule")
    if rule == "all_success":
        if "trigger_rule" in task["kwargs"]:
            reading.ledger.mapped(at, reading.target(task, "trigger"))
        return
    if rule in SAME_TRIGGER:
        step["trigger"] = SAME_TRIGGER[rule]
        reading.ledger.mapped(at, reading.target(task, "trigger"))
        return
    if len(task["upstream"]) == 1 and SAME_WITH_ONE_UPSTREAM.get(rule):
        trigger = SAME_WITH_ONE_UPSTREAM[rule]
        if trigger != "all_succeeded":
            step["trigger"] = trigger
        reading.ledger.mapped(at, reading.target(task, "trigger"),
                              f"{rule} over one upstream task is orch's {trigger}")
        return
    if not task["upstream"] and rule != "always":
        reading.ledger.mapped(at, note="no upstream task: the rule has nothing to judge")
        return
    trigger, why = NEAREST_TRIGGER.get(rule, ("all_done", f"{rule}: not one of orch's triggers"))
    step["trigger"] = trigger
    if rule in JOINS:  # dag.joins may find the exact form; it records the rule either way
        reading.pending_joins[task["task_id"]] = why
        return
    reading.ledger.approximated(at, why, reading.target(task, "trigger"))
    reading.note(task, "trigger", f"Airflow trigger_rule {rule}: {why}")


def read_retries(reading, task: dict, step: dict) -> None:
    kwargs = task["kwargs"]
    limit = int(kwargs.get("retries") or 0)
    delay = seconds_of(kwargs.get("retry_delay", {"__kind__": "timedelta", "seconds": 300}))
    multiplier = kwargs.get("retry_exponential_backoff") or 0
    cap = seconds_of(kwargs["max_retry_delay"]) if kwargs.get("max_retry_delay") is not None else None
    spec, difference = retries_of(limit, delay or 0, float(multiplier), cap)
    step["retries"] = spec
    path = ("tasks", task["task_id"])
    target = reading.target(task, "retries")
    reading.ledger.mapped((*path, "retries"), target)
    for key in ("retry_delay", "retry_exponential_backoff", "max_retry_delay"):
        if key not in kwargs:
            continue
        if limit == 0:
            reading.ledger.mapped((*path, key), note="no retries: nothing to delay")
        elif difference:
            reading.ledger.approximated((*path, key), difference, target)
        elif key == "max_retry_delay":
            reading.ledger.mapped((*path, key), note="Airflow applies it to a backoff only: none here")
        else:
            reading.ledger.mapped((*path, key), target)
    if difference:
        reading.note(task, "retries", difference)


def seconds_of(value) -> float | None:
    if isinstance(value, dict) and value.get("__kind__") == "timedelta":
        return value["seconds"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
