"""Airflow 3: a self-contained DAG file (TaskFlow API), run with `dag.test()` on SQLite."""

from ..base import Backend

BACKEND = Backend(name="airflow", description="an Airflow 3 DAG file, run with dag.test()", engine="apache-airflow",
                  extra="airflow", abilities=("render", "run", "deploy", "import"), renders_without_engine=True,
                  module="orch.backends.airflow.run")
