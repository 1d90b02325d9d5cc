"""Loads every DAG file in a folder with Airflow's DagBag and prints what Airflow made of them (JSON).

Run in a child process by the tests: Airflow reads its configuration once, at import.
"""

import json
import sys

from airflow.dag_processing.dagbag import DagBag


def describe(dag) -> dict:
    timetable = dag.timetable
    return {
        "params": {name: dag.params.get_param(name).schema for name in dag.params},
        "schedule": repr(timetable),
        "catchup": dag.catchup, "max_active_runs": dag.max_active_runs,
        "dagrun_timeout": dag.dagrun_timeout.total_seconds() if dag.dagrun_timeout else None,
        "tasks": {task.task_id: {
            "type": type(task).__name__, "trigger_rule": getattr(task.trigger_rule, "value", task.trigger_rule), "retries": task.retries,
            "execution_timeout": task.execution_timeout.total_seconds() if task.execution_timeout else None,
            "retry_policy": getattr(getattr(task, "retry_policy", None), "delays", None),
            "upstream": sorted(task.upstream_task_ids),
            "group": task.task_group.group_id, "mapped_group": getattr(task.get_closest_mapped_task_group(), "group_id", None),
            "max_active_tis_per_dagrun": task.max_active_tis_per_dagrun,
            "resources": str(getattr(task, "container_resources", "")),
            "env": {getattr(e, "name", e): getattr(e, "value", None) for e in getattr(task, "env_vars", None) or []} if not isinstance(getattr(task, "env_vars", None), dict) else task.env_vars,
        } for task in dag.tasks},
    }


bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "dags": {dag_id: describe(dag) for dag_id, dag in bag.dags.items()}}, default=str))
