"""A DAG written for orch's import tests: BranchDateTimeOperator on the time of day and BranchDayOfWeekOperator on
the logical date's week day, a retried task before them and a join after."""

import datetime

import pendulum

from airflow.providers.standard.operators.datetime import BranchDateTimeOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.weekday import BranchDayOfWeekOperator
from airflow.providers.standard.utils.weekday import WeekDay
from airflow.sdk import DAG, task



def before():
    """A plain function at the module's top (the task is a decorated copy): orch calls it as it is."""
    return 1


with DAG("branch_times", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    by_time = BranchDateTimeOperator(task_id="by_time", follow_task_ids_if_true=["in_hours"],
                                     follow_task_ids_if_false="out_of_hours", target_lower=datetime.time(9),
                                     target_upper=datetime.time(17))
    by_day = BranchDayOfWeekOperator(task_id="by_day", follow_task_ids_if_true="weekend",
                                     follow_task_ids_if_false=["weekday"], week_day={WeekDay.SATURDAY, "Sunday"},
                                     use_task_logical_date=True)
    in_hours, out_of_hours = EmptyOperator(task_id="in_hours"), EmptyOperator(task_id="out_of_hours")
    weekend, weekday = EmptyOperator(task_id="weekend"), EmptyOperator(task_id="weekday")
    join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
    task(retries=1, retry_delay=datetime.timedelta(seconds=1))(before)() >> by_time >> [in_hours, out_of_hours] >> join
    by_day >> [weekend, weekday]
