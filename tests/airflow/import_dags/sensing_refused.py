"""A DAG written for orch's import tests: sensors orch refuses -- one whose poke may not be done at once, and one
done at once whose XCom another task reads."""

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
