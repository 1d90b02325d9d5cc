from airflow.sdk import DAG

with DAG("broken") as dag:
    x = (1,
