"""What several Airflow import test modules read: their hand-written DAGs imported in one Airflow start."""

from pathlib import Path

import pytest

DAGS = Path(__file__).parent / "import_dags"


@pytest.fixture(scope="session")
def readings() -> dict:
    """tests/airflow/import_dags/{timetables,templates,choices,context}.py imported: dag_id -> Imported."""
    from orch.backends.airflow.importer import imported_all, load

    return {one.report.name: one for loaded in load([DAGS / "timetables.py", DAGS / "templates.py", DAGS / "choices.py", DAGS / "context.py"])
            for one in imported_all(loaded)}
