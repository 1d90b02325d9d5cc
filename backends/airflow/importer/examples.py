"""Airflow's own example DAGs, as its wheels ship them: what the bench and the tests import (the anchor's material)."""

from __future__ import annotations

from pathlib import Path


def example_files() -> list[Path]:
    """Every example DAG file of the installed Airflow core and its providers, in a stable order."""
    from importlib import metadata

    root = Path(metadata.distribution("apache-airflow-core").locate_file("airflow"))
    folders = [root / "example_dags", *sorted((root / "providers").glob("*/example_dags")),
               *sorted((root / "providers").glob("*/*/example_dags"))]
    return [f for folder in folders for f in sorted(folder.glob("*.py")) if f.name != "__init__.py"]
