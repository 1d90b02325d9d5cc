"""DAGs written for orch's import tests: sensors orch refuses -- one whose poke may not be done at once, and one
done at once whose XCom another task reads -- and a week-day branch following a task group's id."""

import pendulum

from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, task


def ready():
    return True


def not_yet():
    return False


with DAG("sensing_refused", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):

    @task
    def reads(value):
        return value

    PythonSensor(task_id="waits", python_callable=not_yet, timeout=5)
    reads(PythonSensor(task_id="read", python_callable=ready).output)


with DAG("date_branch_refused", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.weekday import BranchDayOfWeekOperator
    from airflow.sdk import TaskGroup

    with TaskGroup("later") as later:
        EmptyOperator(task_id="inside")
    BranchDayOfWeekOperator(task_id="by_day", follow_task_ids_if_true="later", follow_task_ids_if_false="other",
                            week_day="Monday") >> [later, EmptyOperator(task_id="other")]
