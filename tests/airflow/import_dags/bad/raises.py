"""A DAG file that fails when Airflow imports it."""

from airflow.sdk import DAG

SETTINGS = {}
with DAG("raises", schedule=None) as dag:
    missing = SETTINGS["bucket"]
