"""A classic-operator DAG written for orch's import tests: Python and Bash tasks, XComs, Jinja, retries with a
backoff, a timeout, params, a cron schedule in a time zone, a task group, and trigger rules."""

from datetime import timedelta

import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param, TaskGroup


def extract(bucket):
    return {"rows": 3, "bucket": bucket}


def transform(data, threshold):
    return data["rows"] * threshold


def report(total, day):
    print(f"{day}: {total}")


with DAG(
    "etl",
    description="Nightly extract, transform and report",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="Europe/Berlin"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    params={"bucket": Param("raw-data", type="string"), "threshold": Param(0.5, type="number")},
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
) as dag:
    start = EmptyOperator(task_id="start")
    pull = PythonOperator(task_id="extract", python_callable=extract, op_kwargs={"bucket": "{{ params.bucket }}"},
                          execution_timeout=timedelta(minutes=10))
    with TaskGroup("shape") as shape:
        scale = PythonOperator(task_id="transform", python_callable=transform,
                               op_kwargs={"data": pull.output, "threshold": 2},
                               retry_exponential_backoff=2.0, max_retry_delay=timedelta(minutes=5))
        stamp = BashOperator(task_id="stamp", bash_command="echo {{ ds }} {{ run_id }}")
        scale >> stamp
    publish = PythonOperator(task_id="report", python_callable=report,
                             op_kwargs={"total": "{{ ti.xcom_pull(task_ids='shape.transform') }}", "day": "{{ ds }}"})
    alert = BashOperator(task_id="alert", bash_command="echo failed", trigger_rule="one_failed", retries=0)
    cleanup = BashOperator(task_id="cleanup", bash_command="echo done", trigger_rule="all_done", retries=0)
    start >> pull >> shape >> publish >> [alert, cleanup]
