"""DAGs written for orch's import tests: branches and short-circuits whose callables are lambdas -- constant ones
(a command writing the constant) and one that computes (no module:function names it)."""

import pendulum

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import BranchPythonOperator, ShortCircuitOperator
from airflow.sdk import DAG

with DAG("lambdas", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: 0)
    pick = BranchPythonOperator(task_id="pick", python_callable=lambda: "left")
    left, right, after = (EmptyOperator(task_id=name) for name in ("left", "right", "after"))
    gate >> pick >> [left, right]
    counted = ShortCircuitOperator(task_id="counted", python_callable=lambda: len("x") > 0)
    counted >> after
