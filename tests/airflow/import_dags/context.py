"""DAGs written for orch's import tests: task functions using Airflow's context objects -- XComs pushed and pulled
through `ti` (the whole context in **kwargs, a parameter, a local), asset events -- and one using `ti` beyond them."""

import pendulum

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetAlias, task


def push(**context):
    ti = context["ti"]
    ti.xcom_push("numbers", [1, 2])
    ti.xcom_push(key="label", value="5")  # a text that reads as JSON: it must arrive as the text
    return "done"


def pull(ti=None):
    numbers, label = ti.xcom_pull(task_ids="push", key="numbers"), ti.xcom_pull(task_ids="push", key="label")
    returned = ti.xcom_pull(task_ids="push")
    assert (numbers, label, returned) == ([1, 2], "5", "done"), (numbers, label, returned)  # each exactly


def retried(**kwargs):
    return kwargs["ti"].try_number  # no stand-in answers this


with DAG("xcoms", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    PythonOperator(task_id="push", python_callable=push) >> PythonOperator(task_id="pull", python_callable=pull)

with DAG("ti_beyond", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    PythonOperator(task_id="retried", python_callable=retried)


@task(outlets=[AssetAlias("alias")])
def emit(*, outlet_events=None):
    outlet_events[AssetAlias("alias")].add(Asset("s3://bucket/key"))


@task
def listen(*, inlet_events=None):
    for event in inlet_events[AssetAlias("alias")]:
        print(event)


with DAG("events", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    emit() >> listen()
