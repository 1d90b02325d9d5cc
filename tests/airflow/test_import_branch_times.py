"""BranchDateTimeOperator and BranchDayOfWeekOperator imported as python3 commands: each command's choice held to
the operator's own choose_branch (Airflow's code, in a child process) on the same DAG file, the imported spec
rendered to every backend and run here for real, its branches wired as the report says."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orch.backends.airflow.importer import imported_all, load
from orch.core.load import parse_spec

DAGS = Path(__file__).parent / "import_dags"

# argv[1]: the DAG file; argv[2]: {dag_id: {task_id: logical date or null}}; prints each task's choose_branch.
CHOOSE = r'''
import json, sys
import pendulum
from airflow.dag_processing.dagbag import DagBag
bag, asked, found = DagBag(dag_folder=sys.argv[1]), json.loads(sys.argv[2]), {}
for dag_id, tasks in asked.items():
    dag = bag.dags[dag_id]  # as loaded: no database asked
    for task_id, logical in tasks.items():
        context = {"logical_date": pendulum.parse(logical) if logical else None}
        chosen = dag.get_task(task_id).choose_branch(context)
        found[f"{dag_id}.{task_id}"] = chosen if isinstance(chosen, str) else list(chosen)
print("CHOSEN " + json.dumps(found))
'''


def _cases_file(folder: Path) -> Path:
    """Bounds around now, before it, across midnight, one-sided; naive and aware; a UTC DAG and a New York one."""
    now = dt.datetime.now(dt.timezone.utc)
    hours = lambda h: (now + dt.timedelta(hours=h)).replace(microsecond=0)  # noqa: E731
    today = now.isoweekday()
    body = []
    for zone in ("UTC", "America/New_York"):
        name = zone.split("/")[-1].lower()
        local = now.astimezone(__import__("zoneinfo").ZoneInfo(zone))
        cases = {
            "around": (f"datetime.time({hours(-2).hour})", f"datetime.time({hours(2).hour}, 59)"),
            "before": (f"datetime.time({hours(-5).hour})", f"datetime.time({hours(-3).hour})"),
            "naive_days": (f"datetime.datetime.fromisoformat('{hours(-30).replace(tzinfo=None).isoformat()}')",
                           f"datetime.datetime.fromisoformat('{hours(30).replace(tzinfo=None).isoformat()}')"),
            "aware_past": (f"datetime.datetime.fromisoformat('{hours(-30).isoformat()}')",
                           f"datetime.datetime.fromisoformat('{hours(-20).isoformat()}')"),
            "only_lower": (f"datetime.time({hours(-1).hour})", "None"),
            "only_upper": ("None", f"datetime.time({local.hour}, {local.minute})"),
        }
        body.append(f"with DAG('times_{name}', schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz='{zone}')):")
        branches = {task_id: ("BranchDateTimeOperator", f"target_lower={lower}, target_upper={upper}")
                    for task_id, (lower, upper) in cases.items()}
        branches["logical"] = ("BranchDateTimeOperator", "target_lower=datetime.time(0), "
                               "target_upper=datetime.time(1), use_task_logical_date=True")
        branches["today"] = ("BranchDayOfWeekOperator", f"week_day={{WeekDay({local.isoweekday()}), 'Sunday'}}")
        branches["not_today"] = ("BranchDayOfWeekOperator", f"week_day=[WeekDay({today % 7 + 1})]")
        branches["monday"] = ("BranchDayOfWeekOperator", "week_day='monday', use_task_logical_date=True")
        for task_id, (kind, given) in branches.items():  # each with its own pair after it, one as a list
            body.append(f"    {kind}(task_id='{task_id}', follow_task_ids_if_true=['{task_id}_yes'], "
                        f"follow_task_ids_if_false='{task_id}_no', {given}) >> "
                        f"[EmptyOperator(task_id='{task_id}_yes'), EmptyOperator(task_id='{task_id}_no')]")
    file = folder / "cases.py"
    file.write_text(textwrap.dedent("""\
        import datetime
        import pendulum
        from airflow.providers.standard.operators.datetime import BranchDateTimeOperator
        from airflow.providers.standard.operators.empty import EmptyOperator
        from airflow.providers.standard.operators.weekday import BranchDayOfWeekOperator
        from airflow.providers.standard.utils.weekday import WeekDay
        from airflow.sdk import DAG
        """) + "\n".join(body) + "\n")
    return file


LOGICAL = {"logical": "2024-01-01", "monday": "2024-01-01"}  # a Monday, at its midnight (UTC) in Airflow


def _chosen_by_command(step, logical: str | None, tmp_path: Path):
    argv = [a.replace("${{ run.date }}", logical or "") for a in step.command]
    folder = tmp_path / "outputs"
    folder.mkdir(exist_ok=True)
    subprocess.run(argv, env={**os.environ, "ORCH_OUTPUTS": str(folder)}, check=True, timeout=60)
    return json.loads((folder / "return_value").read_text())


def test_the_commands_choose_as_the_operators_own_choose_branch(tmp_path):
    from orch.backends.airflow.run import airflow_env, airflow_home

    file = _cases_file(tmp_path)
    imported = imported_all(load([file])[0])
    asked = {one.report.name: {t: LOGICAL.get(t) for t in parse_spec(one.text).pipeline.steps
                               if not t.endswith(("_yes", "_no"))} for one in imported}
    done = subprocess.run([sys.executable, "-c", CHOOSE, str(file), json.dumps(asked)], capture_output=True, text=True,
                          env=airflow_env(airflow_home(), None), timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("CHOSEN ")]
    assert lines, done.stderr[-3000:]
    airflow = json.loads(lines[-1][len("CHOSEN "):])
    ours = {}
    for one in imported:
        steps = parse_spec(one.text).pipeline.steps
        for task_id in asked[one.report.name]:
            ours[f"{one.report.name}.{task_id}"] = _chosen_by_command(steps[task_id], LOGICAL.get(task_id), tmp_path)
    assert ours == airflow
    assert {"yes", "no"} <= {(c if isinstance(c, str) else c[0]).rpartition("_")[2] for c in airflow.values()}
    for one in imported:  # exact but in New York (DST) and where the logical date's time of day is read
        approximated = {e.path for e in one.report.entries if e.status == "approximated"}
        assert ("tasks.logical.use_task_logical_date" in approximated) and \
            ("tasks.around.target_lower" in approximated) == (one.report.name == "times_new_york")
        assert one.report.nothing_unsupported and one.report.behaviour.checked


@pytest.fixture(scope="module")
def branch_times():
    (one,) = imported_all(load([DAGS / "branch_times.py"])[0])
    return one


def test_the_imported_date_branches_render_to_every_backend(branch_times):
    from orch.backends.registry import get
    from orch.cli.render_cmd import check_capabilities

    graph = parse_spec(branch_times.text)
    for backend in ("argo", "prefect", "airflow"):
        check_capabilities(graph, backend, None, warnings=False)
        assert get(backend).load(to_render=True).render(graph), backend
    fates = {e.path: e for e in branch_times.report.entries}
    assert fates["tasks.by_time.operator"].status == fates["tasks.by_day.use_task_logical_date"].status == "mapped"
    assert branch_times.report.nothing_unsupported and branch_times.report.behaviour.checked


def test_the_imported_date_branches_run_here_and_follow_what_they_chose(branch_times, tmp_path, monkeypatch):
    """A real local run: the time branch follows in_hours between 09:00 and 17:00 UTC, the week-day branch
    follows weekend on a Saturday or Sunday of the run's date, and the join runs after whichever ran."""
    from orch.backends.local.run import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(DAGS), *sys.path]))
    result = run(parse_spec(branch_times.text), {}, home=tmp_path / ".orch")
    failed = {name: step.error for name, step in result.steps.items() if step.status == "failed"}
    assert not failed, failed
    now = dt.datetime.now(dt.timezone.utc)
    states = {name: step.status for name, step in result.steps.items()}
    in_hours = dt.time(9) <= now.time() <= dt.time(17)
    assert (states["in_hours"], states["out_of_hours"]) == (("succeeded", "skipped") if in_hours else
                                                              ("skipped", "succeeded"))
    weekend = now.isoweekday() in (6, 7)
    assert (states["weekend"], states["weekday"]) == (("succeeded", "skipped") if weekend else ("skipped", "succeeded"))
    assert states["join"] == "succeeded" and result.status == "succeeded"
