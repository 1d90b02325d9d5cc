"""DAGs written for orch's import tests: an operator whose execute only raises AirflowSkipException (skipped
whenever it starts), LatestOnlyOperator in a scheduled DAG (approximated) and an unscheduled one (exact), and
sensors whose function only returns done."""

import pendulum

from airflow.exceptions import AirflowSkipException
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.latest_only import LatestOnlyOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, BaseOperator, PokeReturnValue, task


class AlwaysSkip(BaseOperator):
    """Skipped on every try."""

    def execute(self, context):
        raise AirflowSkipException("nothing to do")


class AlsoSkips(AlwaysSkip):
    """Its execute is AlwaysSkip's."""


with DAG("skipping", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False,
         max_active_runs=1):
    @task(retries=1)
    def work():
        return 1

    latest = LatestOnlyOperator(task_id="latest")
    join = EmptyOperator(task_id="join", trigger_rule="none_failed")
    skip = AlwaysSkip(task_id="skip")
    AlsoSkips(task_id="also_skips") >> join
    after_skip = EmptyOperator(task_id="after_skip")
    done = work()
    latest >> done >> join
    skip >> [after_skip, join]


with DAG("latest_unscheduled", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    @task
    def report():
        return 2

    LatestOnlyOperator(task_id="latest") >> report()


def ready():
    """A sensor's poke that is done at once."""
    return True


with DAG("sensing", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    @task.sensor(poke_interval=30, timeout=600)
    def upstream_ready() -> PokeReturnValue:
        return PokeReturnValue(is_done=True, xcom_value="ok")

    @task(retries=1)
    def after_both():
        return 3

    [upstream_ready(), PythonSensor(task_id="ready", python_callable=ready, mode="reschedule")] >> after_both()

