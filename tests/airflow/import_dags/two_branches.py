"""A DAG written for orch's import tests: a task right after two branches, which either one can skip."""

import pendulum

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task

with DAG("two_branches", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    @task.branch
    def first():
        return "both"

    @task.branch
    def second():
        return "both"

    both, other = EmptyOperator(task_id="both"), EmptyOperator(task_id="other")
    first() >> [both, other]
    second() >> both
