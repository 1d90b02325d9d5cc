"""DAGs written for orch's import tests: custom timetables (code, not a cron) -- one whose runs are the weekdays
at 06:30, one every five days, which no cron makes."""

from datetime import timedelta

import pendulum

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from airflow.timetables.base import DagRunInfo, DataInterval, Timetable


class WeekdayMornings(Timetable):
    """Monday to Friday at 06:30 UTC, each run's logical date its own time."""

    def infer_manual_data_interval(self, run_after):
        return DataInterval.exact(run_after)

    def next_dagrun_info(self, *, last_automated_data_interval, restriction):
        start = last_automated_data_interval.start + timedelta(minutes=1) if last_automated_data_interval else \
            restriction.earliest
        if start is None:
            return None
        day = start.replace(hour=6, minute=30, second=0, microsecond=0)
        if day < start:
            day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return DagRunInfo.exact(day)


class EveryFifthDay(Timetable):
    """Midnight every five days from the start: a period no cron has."""

    def infer_manual_data_interval(self, run_after):
        return DataInterval.exact(run_after)

    def next_dagrun_info(self, *, last_automated_data_interval, restriction):
        if last_automated_data_interval:
            return DagRunInfo.exact(last_automated_data_interval.start + timedelta(days=5))
        return DagRunInfo.exact(restriction.earliest) if restriction.earliest else None


for dag_id, table in (("weekday_mornings", WeekdayMornings()), ("every_fifth_day", EveryFifthDay())):
    with DAG(dag_id, schedule=table, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False):
        EmptyOperator(task_id="work")
