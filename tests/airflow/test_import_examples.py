"""`orch import airflow` over Airflow's own example DAGs (the installed wheel's airflow/example_dags and the
providers' example_dags): every DAG imports to a spec that validates, and every attribute recorded for every task
(and the DAG) is found in its report, located in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from orch.backends.airflow.importer import imported_all, load
from orch.backends.airflow.importer.dag import document_of
from orch.backends.airflow.importer.examples import example_files
from orch.core.errors import SpecError
from orch.core.fidelity import leaves, path_text
from orch.core.load import parse_spec


CLEAN_AT_LEAST = 27  # files whose DAGs all import with nothing unsupported and their behaviour checked (bench)


@pytest.fixture(scope="module")
def examples() -> list[tuple[Path, dict, list]]:
    files = example_files()
    found = []
    for file, loaded in zip(files, load(files)):
        try:
            found.append((file, loaded, imported_all(loaded)))
        except SpecError as refused:
            found.append((file, loaded, refused))
    return found


def test_there_are_the_examples_the_bench_counts(examples):
    assert len(examples) >= 60


def test_every_example_dag_imports_to_a_spec_that_validates(examples):
    refused = {file.name: str(result) for file, _, result in examples if isinstance(result, SpecError)}
    assert not refused
    for file, _, result in examples:
        for one in result:
            parse_spec(one.text)  # raises if not


def test_every_recorded_attribute_of_every_task_is_in_the_report(examples):
    for file, loaded, result in examples:
        by_dag = {one.report.name: one for one in result}
        for dag in loaded["dags"]:
            report = by_dag[dag["dag_id"]].report
            known = {entry.path for entry in report.entries}
            for path in leaves(document_of(dag)):
                above = [path_text(path[:i]) for i in range(len(path), 0, -1)]
                assert any(text in known for text in above), f"{file.name}: {path_text(path)} is not in the report"
            for task in dag["tasks"]:
                entry = next(e for e in report.entries if e.path == f"tasks.{task['task_id']}.operator"
                             or e.path == path_text(("tasks", task["task_id"], "operator")))
                assert entry.line, f"{file.name}: {task['task_id']} is not located"


def test_every_unsupported_field_says_why(examples):
    """The importer reads every field it was given, so none reaches the ledger's catch-all ('not read')."""
    unread = [f"{file.name}: {entry.path}" for file, _, result in examples for one in result
              for entry in one.report.entries if entry.note == "not read by the importer"]
    assert not unread


def test_enough_examples_import_cleanly(examples):
    clean = [file.name for file, _, result in examples if not isinstance(result, SpecError) and result
             and all(one.report.nothing_unsupported and one.report.behaviour.checked for one in result)]
    assert len(clean) >= CLEAN_AT_LEAST, clean


MAPPED_HERE = ("example_skip_dag.py", "example_latest_only.py", "example_latest_only_with_trigger.py",
               "example_branch_datetime_operator.py", "example_branch_day_of_week_operator.py",
               "example_sensor_decorator.py")  # clean by the skip-only, LatestOnly, date-branch and sensor forms


def test_the_examples_the_new_forms_made_clean_are_clean_and_render(examples):
    """Each renders to Prefect, Airflow and Argo (a schedule's concurrency, Airflow's max_active_runs default 16,
    is Argo's Allow: approximated, unbounded)."""
    from orch.backends.registry import get
    from orch.cli.render_cmd import check_capabilities

    found = {file.name: result for file, _, result in examples}
    for name in MAPPED_HERE:
        assert not isinstance(found[name], SpecError) and found[name], name
        for one in found[name]:
            assert one.report.nothing_unsupported and one.report.behaviour.checked, (name, one.report.headline())
            graph = parse_spec(one.text)
            for backend in ("argo", "prefect", "airflow"):
                check_capabilities(graph, backend, None, warnings=False)
                assert get(backend).load(to_render=True).render(graph), (name, backend)
