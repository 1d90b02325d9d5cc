"""The behaviour check proved through Airflow itself: DAGs (ours and Airflow's examples whose tasks run here) played
by `dag.test()` with drawn outcomes injected -- each task's callable (or `execute`) replaced on the loaded DAG by one
that fails its first N tries and returns the drawn value (a branch's choice, a short-circuit's truth; a
BaseBranchOperator's choose_branch replaced so), its retry
delay set to 0 (the delays are compared number by number in test_import.py) -- and every task instance's state and
try count compared with backends/airflow/play.py on the same draws, and with core/play.py of the imported spec
where the report says the behaviour is the same."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orch.backends.airflow.importer import imported_all, load
from orch.backends.airflow.importer.behaviour import same, same_status, source_tasks, spaces_of
from orch.backends.airflow.play import play as play_airflow
from orch.backends.airflow.run import airflow_env, airflow_home, migrate_once
from orch.core.fidelity import draws
from orch.core.load import parse_spec
from orch.core.play import Draw, Ending, play

pytestmark = pytest.mark.xdist_group("airflow-import-behaviour")  # its module fixture plays every DAG: once

DAGS = Path(__file__).parent / "import_dags"
DRAWS_PER_DAG = 1

# Runs in a child process (Airflow reads its settings at import): argv[1] a JSON list of
# {file, dag_id, draws: [{task_id: {fails, value}}]}; prints one JSON line of the task instances of every run.
DRIVER = r'''
import json, sys
from datetime import timedelta
import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import get_current_context

tries = {}

def patched(task_id, fails, value, run):
    def body(*args, **kwargs):
        ti = get_current_context()["ti"]
        key = (run, task_id, ti.map_index)
        tries[key] = tries.get(key, 0) + 1
        if tries[key] <= fails:
            raise RuntimeError(f"drawn failure {tries[key]} of {task_id}")
        return value
    return body

jobs, found = json.loads(sys.argv[1]), []
for job in jobs:
    sys.path.insert(0, str(__import__("pathlib").Path(job["file"]).parent))
    dag = DagBag(dag_folder=job["file"]).get_dag(job["dag_id"])
    for i, draw in enumerate(job["draws"]):
        run = f"{job['dag_id']}-{i}"
        for task in dag.tasks:
            one = draw.get(task.task_id, {"fails": 0, "value": None})
            body = patched(task.task_id, one["fails"], one["value"], run)
            fields = task.partial_kwargs if getattr(task, "_is_mapped", False) else None
            if fields is not None:
                fields["retry_delay"] = timedelta(0)
                fields["retry_exponential_backoff"] = 0
                if "python_callable" in fields or hasattr(task, "python_callable"):
                    fields["python_callable"] = body
                    if hasattr(task, "python_callable"):
                        object.__setattr__(task, "python_callable", body)
                continue
            task.retry_delay = timedelta(0)
            task.retry_exponential_backoff = 0
            if type(task).__name__ == "EmptyOperator" or task.task_id in job.get("keep", ()):
                continue
            if getattr(task, "python_callable", None) is not None:
                task.python_callable = body
                task.op_args, task.op_kwargs = [], {}
            elif hasattr(task, "choose_branch"):  # a BaseBranchOperator: its own execute skips what it did not choose
                task.choose_branch = lambda context, body=body: body()
            else:
                task.execute = lambda context, body=body: body()
        dr = dag.test(logical_date=pendulum.datetime(2024, 1, 1, tz="UTC").add(days=i))
        from airflow.models import TaskInstance
        from airflow.utils.session import create_session
        with create_session() as session:
            rows = session.query(TaskInstance).filter(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == dr.run_id)
            tis = [[t.task_id, t.map_index, str(t.state), t.try_number] for t in rows]
        found.append({"dag_id": dag.dag_id, "draw": i, "state": str(dr.state), "tis": tis})
print("RESULT " + json.dumps(found))
'''

SAMPLE = [  # (file, a Path or an example's name) whose tasks all run here
    ("ours", "etl.py"), ("ours", "flow.py"), ("ours", "skips.py"), ("ours", "branch_times.py"),
    ("example", "example_branch_labels.py"), ("example", "example_short_circuit_operator.py"),
    ("example", "example_nested_branch_dag.py"),
]


def _sample_files() -> list[Path]:
    from orch.backends.airflow.importer.examples import example_files

    examples = {f.name: f for f in example_files()}
    return [DAGS / name if where == "ours" else examples[name] for where, name in SAMPLE]


def _informative_draws(tasks: dict) -> list[dict[str, Draw]]:
    """DRAWS_PER_DAG draws in which something fails or a branch chooses: the plays that tell rules apart; and where
    a task is mapped over another's list, one where nothing fails and every such list is empty."""
    chosen = [d for d in draws(spaces_of(tasks), plays=64, seed=7)
              if any(one.fails for one in d.values()) or any(one.outputs for one in d.values())][:DRAWS_PER_DAG]
    listed = {source for task in tasks.values() for source in task.get("expands", ())}
    if listed and chosen:
        chosen.append({t: Draw(outputs={**d.outputs, **({"return_value": []} if t in listed else {})})
                       for t, d in chosen[0].items()})
    return chosen


@pytest.fixture(scope="module")
def played(tmp_path_factory) -> list[dict]:
    """Each sampled DAG imported, its draws played by dag.test() in one Airflow process, and by both plays."""
    files = _sample_files()
    folder = tmp_path_factory.mktemp("dags")
    jobs, cases = [], []
    for file, loaded in zip(files, load(files)):
        copy = folder / file.name
        shutil.copy(file, copy)
        for one, dag in zip(imported_all(loaded), loaded["dags"]):
            tasks = source_tasks(dag)
            chosen = _informative_draws(tasks)
            listed = _mapped_over(dag)
            keep = [t for t, task in tasks.items() if task["kind"] in ("latest_only", "skip", "done_sensor")]  # their own execute
            jobs.append({"file": str(copy), "dag_id": dag["dag_id"], "keep": keep,
                         "draws": [{t: {"fails": d.fails, "value": d.outputs.get("return_value", [1, 2]) if t in listed else d.outputs.get("return_value")}
                                    for t, d in draw.items()} for draw in chosen]})
            cases.append((one, dag, tasks, chosen))
    home = airflow_home()
    env = airflow_env(home, folder)
    migrate_once(home, env)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(folder)
    driver = folder.parent / "driver.py"  # a file: Airflow serializes a mapped task's callable by its source
    driver.write_text(DRIVER)
    done = subprocess.run([sys.executable, str(driver), json.dumps(jobs)], env=env, capture_output=True, text=True,
                          timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr[-3000:]
    runs = {(r["dag_id"], r["draw"]): r for r in json.loads(lines[-1][len("RESULT "):])}
    found = []
    for one, dag, tasks, chosen in cases:
        graph = parse_spec(one.text)
        for i, draw in enumerate(chosen):
            found.append({"imported": one, "tasks": tasks, "draw": draw, "airflow": runs[(dag["dag_id"], i)],
                          "graph": graph})
    return found


def test_the_draws_fail_tasks_retry_them_and_choose_branches(played):
    """The sample is worth its seconds: some task fails for good, some succeeds on a retry, some branch chooses."""
    ends = [state for case in played for _, _, state, _ in case["airflow"]["tis"]]
    retried = [tries for case in played for _, _, state, tries in case["airflow"]["tis"] if state.endswith("success")
               and tries > 1]
    assert any(s.endswith("failed") for s in ends) and any(s.endswith("skipped") for s in ends) and retried


def test_a_task_mapped_over_an_empty_list_was_played_and_airflow_skipped_it(played):
    skipped = [case for case in played for task_id, task in case["tasks"].items() if task.get("expands")
               and all(case["draw"][u].outputs.get("return_value") == [] and not case["draw"][u].fails
                       for u in task["expands"]) and _real(case["airflow"], case["tasks"])[task_id][0] == "skipped"]
    assert skipped


def test_latest_only_a_task_that_only_skips_and_sensors_done_at_once_ran_their_own_code(played):
    """dag.test()'s run is manual: LatestOnlyOperator follows its downstream tasks; AlwaysSkip raises its skip."""
    runs = [case["airflow"] for case in played if case["airflow"]["dag_id"] == "skipping"]
    assert runs
    for run in runs:
        real = _real(run, next(c["tasks"] for c in played if c["airflow"]["dag_id"] == "skipping"))
        assert real["latest"] == ("success", 1) and real["skip"] == ("skipped", 0) and real["after_skip"][0] == "skipped"
    sensed = [(c["airflow"], c["tasks"]) for c in played if c["airflow"]["dag_id"] == "sensing"]
    assert sensed  # and the sensors that only return done, poked once by their own code
    for run, tasks in sensed:
        assert _real(run, tasks)["upstream_ready"] == _real(run, tasks)["ready"] == ("success", 1)


def _mapped_over(dag: dict) -> set[str]:
    """The tasks a mapped task expands over: their bodies return a list, the drawn one (some items or none: an
    empty one skips the mapped task), never anything else (Airflow fails a task whose mapped-over XCom is not one)."""
    return {value["task_id"] for task in dag["tasks"] if task["mapped"]
            for value in (task["expand"]["value"] or {}).values() if isinstance(value, dict) and "task_id" in value}


def _real(run: dict, tasks: dict) -> dict[str, tuple[str, int]]:
    """Each task's state and tries as dag.test() left them (a mapped task's instances agree, as the plays assume)."""
    ends = {}
    for task_id, _, state, tries in run["tis"]:
        state = state.removeprefix("TaskInstanceState.").lower() if state != "None" else "none"
        if tasks[task_id]["kind"] == "empty" and state == "success":
            tries = 1  # an EmptyOperator is marked success without a try; the plays count the one `true` makes
        ends.setdefault(task_id, set()).add((state, tries if state in ("success", "failed") else 0))
    assert all(len(v) == 1 for v in ends.values()), ends
    return {t: v.pop() for t, v in ends.items()}


def test_airflows_rules_as_played_match_dag_test(played):
    for case in played:
        expected = play_airflow(case["tasks"], case["draw"])
        real = _real(case["airflow"], case["tasks"])
        assert {t: (e.state, e.attempts) for t, e in expected.ends.items()} == real, case["airflow"]["dag_id"]
        assert case["airflow"]["state"].removeprefix("DagRunState.").lower() == expected.status


def test_the_spec_ends_as_airflow_did_where_the_report_says_the_behaviour_is_the_same(played):
    compared = 0
    for case in played:
        one = case["imported"]
        if not one.report.behaviour.checked:
            continue
        qualified = _qualified(one)
        spec = play(case["graph"], {qualified[t]: d for t, d in _settled(case).items()})
        real = _real(case["airflow"], case["tasks"])
        for task_id, (state, tries) in real.items():
            assert same(Ending(state, tries), spec.ends[qualified[task_id]]), (one.report.name, task_id)
        assert same_status(case["airflow"]["state"].removeprefix("DagRunState.").lower(), spec.status)
        compared += 1
    assert compared >= 4


def _settled(case) -> dict:
    from orch.backends.airflow.importer.dag import RAN

    return {**case["draw"], **{t: Draw(outputs={RAN: ""}) for t, task in case["tasks"].items() if task["kind"] == "empty"}}


def _qualified(one) -> dict[str, str]:
    """task_id -> the qualified step name, from the report's entries for each task's operator."""
    found = {}
    for entry in one.report.entries:
        if entry.path.startswith("tasks.") and entry.path.endswith(".operator") and entry.target:
            task_id = entry.path[len("tasks."):-len(".operator")]
            parts = entry.target.split(".")
            found[task_id] = ".".join(parts[i + 1] for i in range(0, len(parts) - 1, 2) if parts[i] == "steps")
    return found
