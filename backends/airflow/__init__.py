"""Apache Airflow 3: a self-contained DAG file, run with dag.test()."""

from ..base import Backend

BACKEND = Backend(name="airflow", description="an Airflow 3 DAG file, run with dag.test()", engine="apache-airflow", extra="airflow")
