"""Runs one rendered DAG file with `dag.test()` and reports Airflow's records of the run.

    python [-P] -m orch.backends.airflow.driver DAG_FILE DAG_ID CONF_JSON [--shipped]

Started by `orch run --backend airflow` with AIRFLOW_HOME and the SQLite database set in
its environment (Airflow reads its configuration once, at import). It speaks JSON lines on
its stdout -- {"states": {...}} while the run goes, then {"run": {...}} with the DAG run,
its task instances and XComs as Airflow stored them; Airflow's own output goes to stderr.
With --shipped (and -P) the pipeline's code is shipped: the working folder stays off the path.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def main() -> None:
    path, dag_id, conf = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever Airflow prints goes to stderr
    if "--shipped" not in sys.argv[4:]:
        sys.path.insert(0, os.getcwd())

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=path)
    if bag.import_errors:
        say(channel, {"error": "; ".join(str(e) for e in bag.import_errors.values())})
        sys.exit(2)
    dag = bag.get_dag(dag_id)
    watcher = threading.Thread(target=watch, args=(channel, dag_id), daemon=True)
    watcher.start()
    run = dag.test(run_conf=conf)
    say(channel, {"run": records(dag_id, run.run_id)})


def say(channel, message: dict) -> None:
    channel.write(json.dumps(message, default=str) + "\n")


def watch(channel, dag_id: str) -> None:
    """The newest run's task states (try numbers, a failed step's error), each time they change (for progress)."""
    from airflow.models import DagRun, TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    seen = None
    while True:
        time.sleep(0.3)
        with create_session() as session:
            run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
            if run is None:
                continue
            rows = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
            states = {f"{ti.task_id}[{ti.map_index}]": [ti.state, ti.try_number] for ti in rows}
            errors = {x.task_id: x.value for x in session.query(XComModel).filter(
                XComModel.dag_id == dag_id, XComModel.run_id == run.run_id, XComModel.key == "orch_error",
                XComModel.map_index == -1)}
        if states != seen:
            seen = states
            say(channel, {"states": states, "errors": errors, "run_id": run.run_id})


def records(dag_id: str, run_id: str) -> dict:
    from airflow.models import DagRun, TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one()
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        xcoms = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id)
        return {
            "run_id": run.run_id, "state": run.state, "start": run.start_date, "end": run.end_date,
            "tasks": [{"task_id": ti.task_id, "map_index": ti.map_index, "state": ti.state, "try_number": ti.try_number,
                       "start": ti.start_date, "end": ti.end_date} for ti in tis],
            "xcoms": [{"task_id": x.task_id, "map_index": x.map_index, "key": x.key, "value": x.value} for x in xcoms],
        }


if __name__ == "__main__":
    main()
