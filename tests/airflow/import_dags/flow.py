"""A TaskFlow DAG written for orch's import tests: @task functions, mapping, a branch with its join, a
short-circuit, and an unscheduled DAG's params."""

import pendulum

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), params={"mode": "fast"})
def flow():
    @task
    def numbers():
        return [1, 2, 3]

    @task
    def double(x):
        return x * 2

    @task
    def total(values):
        return sum(values)

    @task.branch
    def choose(value):
        return "big" if value > 5 else "small"

    @task.short_circuit
    def worth_it(value):
        return value > 0

    big = EmptyOperator(task_id="big")
    small = EmptyOperator(task_id="small")
    join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
    publish = EmptyOperator(task_id="publish")

    summed = total(double.expand(x=numbers()))
    choose(summed) >> [big, small] >> join
    worth_it(summed) >> publish


flow()
