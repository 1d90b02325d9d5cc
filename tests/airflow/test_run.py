"""`orch run --backend airflow`: the rendered DAG file on Airflow's own engine (`dag.test()`, SQLite),
the RunResult read back from Airflow's records."""

from __future__ import annotations

import json
import sqlite3

from orch.backends.airflow.run import airflow_home

SPEC = """
    apiVersion: orch/v1
    name: handled
    steps:
      good: {command: [sh, -c, "printf 7 > $ORCH_OUTPUTS/n"], outputs: {n: integer}}
      bad: {command: [sh, -c, "echo the last words; exit 3"], after: [good]}
      alert: {command: ["true"], after: [bad], trigger: any_failed}
"""


def dag_run_state(run_id: str) -> str:
    with sqlite3.connect(airflow_home() / "airflow.db") as db:
        return db.execute("select state from dag_run where run_id = ?", (run_id,)).fetchone()[0]


def test_a_succeeded_alert_after_a_failure_leaves_the_dag_run_failed(orch, spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = orch("run", spec_file(SPEC), "--backend", "airflow", "--json")
    result = json.loads(out)
    assert code == 1 and result["backend"] == "airflow"
    assert {name: step["status"] for name, step in result["steps"].items()} == {
        "good": "succeeded", "bad": "failed", "alert": "succeeded"}
    assert result["steps"]["good"]["outputs"] == {"n": 7}
    assert result["steps"]["bad"]["error"] == "exited with status 3: the last words"
    assert dag_run_state(result["run_id"]) == "failed"  # what Airflow's UI shows for the run


def test_progress_lines_name_each_step(orch, spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = orch("run", spec_file(SPEC), "--backend", "airflow")
    assert code == 1
    for line in ("good: succeeded", "bad: failed", "alert: succeeded"):
        assert line in err + out
    assert list(airflow_home().glob(".migrated-*")), "the home is migrated once and reused"


def test_resume_is_the_local_backends(orch, spec_file):
    code, out, err = orch("run", spec_file(SPEC), "--backend", "airflow", "--resume", "x")
    assert code == 2 and "--resume is the local backend's" in err


def test_the_retry_policy_gives_each_retry_its_own_delay(orch, spec_file, tmp_path, monkeypatch):
    """Retry k waits min(delay * factor**(k-1), max_delay): 1 s, then 3 s -- never early (dag.test() may start
    it up to a second late, hence the conformance gap on exactness)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flaky_steps.py").write_text(
        "import time\n"
        "def flaky():\n"
        "    with open('starts', 'a') as f:\n"
        "        f.write(f'{time.time()}\\n')\n"
        "    if len(open('starts').read().split()) < 3:\n"
        "        raise RuntimeError('not yet')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = spec_file("""
        apiVersion: orch/v1
        name: retried
        steps:
          flaky: {python: "flaky_steps:flaky", retries: {limit: 2, delay: 1s, factor: 3}}
    """)
    code, out, _ = orch("run", path, "--backend", "airflow", "--json")
    assert code == 0 and json.loads(out)["steps"]["flaky"]["attempts"] == 3
    starts = [float(t) for t in (tmp_path / "starts").read_text().split()]
    first, second = (later - earlier for earlier, later in zip(starts, starts[1:]))
    assert first >= 1.0 and second >= 3.0, (first, second)  # the second retry waits 3 s: the policy, not retry_delay


def test_finally_steps_never_decide_the_dag_runs_state(orch, spec_file, tmp_path, monkeypatch):
    """A failed finally step leaves a succeeded DAG run succeeded, a succeeded one leaves a failed run failed:
    the state Airflow records (and its UI shows) is the steps' alone."""
    monkeypatch.chdir(tmp_path)
    path = spec_file("""
        apiVersion: orch/v1
        name: finally-state
        params: {fail: {type: boolean, default: false}}
        steps:
          work: {command: [sh, -c, 'test "${{ params.fail }}" = false']}
        finally:
          tidy: {command: [sh, -c, 'test "${{ params.fail }}" = true']}
    """)
    for fail, code_wanted, state in (("false", 0, "success"), ("true", 1, "failed")):
        code, out, _ = orch("run", path, "--backend", "airflow", "--json", "-p", f"fail={fail}")
        result = json.loads(out)
        assert code == code_wanted and list(result["steps"]) == ["work", "tidy"], result
        assert result["steps"]["tidy"]["status"] == ("succeeded" if fail == "true" else "failed")
        assert dag_run_state(result["run_id"]) == state


def test_a_fan_out_group_over_no_items_succeeds_with_empty_lists_and_a_group_fails_with_its_step(orch, spec_file,
                                                                                                  tmp_path, monkeypatch):
    """Airflow skips a mapped task group expanded over nothing; orch's group succeeds with `[]` outputs (its steps
    too, making no attempt) and its dependents run. A plain group's failed step fails the group and the DAG run;
    a finally step reads the inner step's failure by its qualified name."""
    monkeypatch.chdir(tmp_path)
    path = spec_file("""
        apiVersion: orch/v1
        name: groups-edges
        params: {items: {type: json, default: []}}
        steps:
          none:
            foreach: ${{ params.items }}
            steps:
              make: {command: [sh, -c, 'printf "%s" "$1" > "$ORCH_OUTPUTS/n"', sh, "${{ item }}"], outputs: {n: integer}}
            outputs: {n: "${{ steps.make.outputs.n }}"}
          after-none: {command: [sh, -c, 'printf "%s" "$1" > "$ORCH_OUTPUTS/text"', sh, "${{ steps.none.outputs.n }}"], outputs: {text: string}}
          plain:
            steps:
              breaks: {command: [sh, -c, "echo broken; exit 4"]}
              never: {command: ["true"], after: [breaks]}
        finally:
          tell: {command: [sh, -c, 'printf "%s" "$1" > "$ORCH_OUTPUTS/f"', sh, "${{ run.failed_steps }}"], outputs: {f: string}}
    """)
    code, out, err = orch("run", path, "--backend", "airflow", "--json")
    result = json.loads(out)
    assert code == 1, err
    steps = result["steps"]
    assert list(steps) == ["none", "none.make", "after-none", "plain", "plain.breaks", "plain.never", "tell"]
    assert steps["none"]["status"] == "succeeded" and steps["none"]["outputs"] == {"n": []}
    assert steps["none.make"] == {**steps["none.make"], "status": "succeeded", "outputs": {"n": []}, "attempts": 0}
    assert steps["after-none"]["status"] == "succeeded" and steps["after-none"]["outputs"] == {"text": "[]"}
    assert steps["plain"]["status"] == "failed" and steps["plain"]["error"] == "step 'breaks' failed"
    assert steps["plain"]["attempts"] == 0 and steps["plain.never"]["status"] == "upstream_failed"
    assert steps["tell"]["outputs"] == {"f": '["plain.breaks"]'}
    assert dag_run_state(result["run_id"]) == "failed"
