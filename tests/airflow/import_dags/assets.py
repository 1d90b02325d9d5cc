"""DAGs written for orch's import tests: assets (outlets, inlets, asset-triggered and asset-or-time schedules),
@task.bash, functions reading Airflow's context, and a time-delta sensor -- each the way the importer grades it
(test_import.py)."""

import logging
from datetime import timedelta

import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, CronTriggerTimetable, Metadata, get_current_context, task

log = logging.getLogger(__name__)
RAW = Asset("s3://lake/raw.csv")
CLEAN = Asset("s3://lake/clean.csv")
START = pendulum.datetime(2024, 1, 1, tz="UTC")


@task
def summarize(**kwargs):
    return sorted(kwargs["params"])


@task
def stamp(value, ts=None):
    log.info("%s at %s", value, ts)


@task(outlets=[CLEAN])
def tag_clean():
    yield Metadata(CLEAN, {"rows": 3})


@task.bash
def greet():
    """A constant command."""
    return "echo {{ run_id }}"


@task.bash
def count(n: int):
    return f"seq {n}"


@task
def pull(**kwargs):
    return kwargs["ti"].xcom_pull(task_ids="extract")


@task
def watermark(asset_state_store=None):
    return asset_state_store[RAW].get("watermark")


@task
def today():
    return get_current_context()["ds"]


with DAG("asset_producer", schedule="@daily", start_date=START, catchup=False, params={"limit": 3}):
    extract = BashOperator(task_id="extract", bash_command="echo raw", outlets=[RAW], inlets=[CLEAN])
    extract >> summarize() >> stamp("done") >> tag_clean() >> greet()

with DAG("asset_consumer", schedule=[RAW], start_date=START, catchup=False):
    BashOperator(task_id="load", bash_command="echo load", inlets=[RAW])

with DAG("asset_or_time", start_date=START, catchup=False,
         schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * 3", timezone="UTC"), assets=RAW)):
    BashOperator(task_id="weekly", bash_command="echo weekly")

with DAG("dated_consumer", schedule=[RAW], start_date=START, catchup=False):
    BashOperator(task_id="dated", bash_command="echo {{ ds }}")

with DAG("context_readers", schedule=None, start_date=START):
    skipper = BashOperator(task_id="skipper", bash_command="echo hi; exit 99")
    skipper >> pull() >> watermark() >> count(3) >> today()

with DAG("waits", schedule=None, start_date=START):
    TimeDeltaSensor(task_id="pause", delta=timedelta(seconds=30), deferrable=True) >> \
        TimeDeltaSensor(task_id="forever", delta=timedelta(days=8))
