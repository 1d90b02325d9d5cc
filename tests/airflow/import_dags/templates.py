"""DAGs written for orch's import tests: a template reading a param the DAG does not declare (a run's conf gives
it), a context key Airflow 3 never passes (test_mode), and a parameter read only under `if` on it."""

import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, task


@task
def report(test_mode=None, task=None, ti=None):
    if test_mode:
        print(task.task_id, ti.try_number)  # never run: test_mode holds its default
    return 1


@task
def peek(task=None):
    return task.task_id  # read where it runs: orch's default None would raise here


with DAG("conf_reader", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False):
    report() >> BashOperator(task_id="greet", bash_command="echo hi", env={"WHO": "{{ params.who }}"})
    peek()
