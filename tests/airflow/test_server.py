"""`orch deploy -b airflow`, `orch run --server`, `orch runs --backend airflow` against a real Airflow 3
deployment (api-server, scheduler with LocalExecutor, dag-processor, PostgreSQL; tests/airflow/server.py):
what the server shows is read back over its REST API, never assumed."""

from __future__ import annotations

import datetime
import json
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from orch.backends.airflow.api import ApiError, Client
from orch.backends.airflow.deploy import publish
from orch.backends.airflow.remote import cancel_run, tries
from orch.core.errors import UsageError
from orch.backends.prefect.run import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow-server")]

STEPS = '''
import os
import time


def produce(word):
    return {"word": word, "size": len(word)}


def flaky(failures, times):
    with open(times, "a") as handle:
        handle.write(f"{time.time()}\\n")
    if len(open(times).read().split()) <= failures:
        raise RuntimeError("not yet")


def sleep(seconds, pidfile=None):
    if pidfile:
        with open(pidfile, "w") as handle:
            handle.write(str(os.getpid()))
    time.sleep(seconds)


def fail(wait_for=None):
    deadline = time.monotonic() + 60
    while wait_for and not os.path.exists(wait_for) and time.monotonic() < deadline:
        time.sleep(0.05)
    raise RuntimeError("boom")
'''


@pytest.fixture
def server(airflow_server, monkeypatch):
    """The session's server, named in this test's environment as a user would (AIRFLOW_API_URL and a login)."""
    for name, value in airflow_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AIRFLOW_CLI_TOKEN", raising=False)
    module = airflow_server.steps_path / "orch_server_steps.py"
    if not module.exists():
        module.write_text(STEPS)
    return airflow_server


@pytest.fixture
def api(server) -> Client:
    return Client(server.url, username=server.username, password=server.password)


def spec(spec_file, text: str) -> Path:
    return spec_file(textwrap.dedent(text))


def dag(api: Client, dag_id: str) -> dict:
    return api.get(f"/api/v2/dags/{dag_id}")


def seconds(later: str, earlier: str) -> float:
    return (datetime.datetime.fromisoformat(later) - datetime.datetime.fromisoformat(earlier)).total_seconds()


CHAIN = """
    apiVersion: orch/v1
    name: {name}
    params:
      word: {{type: string, default: plain}}
    steps:
      first: {{python: "orch_server_steps:produce", args: {{word: "${{{{ params.word }}}}"}},
              outputs: {{word: string, size: integer}}}}
      second: {{command: [sh, -c, 'printf "%s!" "${{{{ steps.first.outputs.word }}}}" > $ORCH_OUTPUTS/loud'],
               after: [first], outputs: {{loud: string}}}}
      third: {{command: ["{command}"], after: [second]}}
"""


def test_deploy_confirms_the_parse_and_a_second_deploy_is_idempotent(orch, spec_file, server, api):
    path = spec(spec_file, CHAIN.format(name="srv-deploy", command="true"))
    began = time.monotonic()
    code, out, err = orch("deploy", path, "-b", "airflow", "--dags-folder", server.dags_folder)
    created = time.monotonic() - began
    assert code == 0, err
    assert out.startswith("created Airflow DAG 'srv-deploy' (active)")
    written = server.dags_folder / "srv_deploy_dag.py"
    shown = dag(api, "srv-deploy")
    assert not shown["is_paused"] and not shown["has_import_errors"] and shown["relative_fileloc"] == written.name
    assert api.get("/api/v2/dagSources/srv-deploy")["content"] == written.read_text()  # what the server parsed

    code, out, _ = orch("deploy", path, "-b", "airflow")  # the folder from AIRFLOW__CORE__DAGS_FOLDER this time
    assert code == 0 and out.startswith("unchanged Airflow DAG 'srv-deploy'")
    assert dag(api, "srv-deploy")["last_parsed_time"] == shown["last_parsed_time"], "an unchanged file is left alone"

    changed = spec(spec_file, CHAIN.format(name="srv-deploy", command="false"))
    began = time.monotonic()
    code, out, err = orch("deploy", changed, "-b", "airflow")
    updated = time.monotonic() - began
    assert code == 0 and out.startswith("updated Airflow DAG 'srv-deploy'"), err
    assert dag(api, "srv-deploy")["last_parsed_time"] > shown["last_parsed_time"]
    assert "'false'" in api.get("/api/v2/dagSources/srv-deploy")["content"]
    print(f"\nmeasured: deploy new {created:.2f} s, update {updated:.2f} s")


def test_the_dags_folder_is_found_through_the_api(orch, spec_file, server, api, monkeypatch):
    monkeypatch.delenv("AIRFLOW__CORE__DAGS_FOLDER")
    code, out, err = orch("deploy", spec(spec_file, CHAIN.format(name="srv-folder", command="true")), "-b", "airflow")
    assert code == 0, err
    assert (server.dags_folder / "srv_folder_dag.py").exists() and dag(api, "srv-folder")["fileloc"].startswith(
        str(server.dags_folder))


def test_an_import_error_on_the_server_is_exit_2_with_its_location_and_a_fix_recovers(orch, spec_file, server, api):
    """What imports here may not on the server (a package the workers lack): the server's own traceback,
    with the file and line, is the message."""
    from orch.backends.airflow.render import dag_source
    from orch.core.load import load_spec

    path = spec(spec_file, CHAIN.format(name="srv-broken", command="true"))
    text = dag_source(load_spec(path)) + "\nimport orch_no_such_module_on_the_server\n"
    target = server.dags_folder / "srv_broken_dag.py"
    with pytest.raises(UsageError) as failure:
        publish(api, "srv-broken", target, text, paused=False, say=print, wait=60)
    message = str(failure.value)
    assert f"the DAG file {target} does not import on the Airflow server" in message
    assert f'File "{target}", line {text.count(chr(10))}' in message
    assert "No module named 'orch_no_such_module_on_the_server'" in message
    assert failure.value.exit_code == 2
    code, out, err = orch("run", path, "-b", "airflow", "--deployed")
    assert code == 2 and "import error" in err  # refused at once: a run could not start

    code, out, err = orch("deploy", path, "-b", "airflow")
    assert code == 0 and out.startswith("created Airflow DAG 'srv-broken'"), err  # no DAG stood before
    assert not dag(api, "srv-broken")["has_import_errors"]
    assert not [e for e in api.get("/api/v2/importErrors")["import_errors"] if e["filename"] == target.name]


def test_a_paused_deploy_refuses_a_run_at_once_saying_how_to_unpause(orch, spec_file, server, api):
    path = spec(spec_file, CHAIN.format(name="srv-paused", command="true"))
    code, out, _ = orch("deploy", path, "-b", "airflow", "--paused")
    assert code == 0 and "(paused)" in out and dag(api, "srv-paused")["is_paused"]
    began = time.monotonic()
    code, out, err = orch("run", path, "-b", "airflow", "--server", server.url)
    assert code == 2 and time.monotonic() - began < 10
    assert "is paused" in err and "airflow dags unpause srv-paused" in err
    assert api.get("/api/v2/dags/srv-paused/dagRuns")["total_entries"] == 0, "no run left waiting in the queue"
    code, out, _ = orch("deploy", path, "-b", "airflow")
    assert code == 0 and "(active)" in out and not dag(api, "srv-paused")["is_paused"]


def test_delete_removes_the_file_and_the_dag(orch, spec_file, server, api):
    path = spec(spec_file, CHAIN.format(name="srv-delete", command="true"))
    assert orch("deploy", path, "-b", "airflow")[0] == 0
    code, out, err = orch("deploy", path, "-b", "airflow", "--delete")
    assert code == 0, err
    assert "removed" in out and "deleted Airflow DAG 'srv-delete'" in out
    assert not (server.dags_folder / "srv_delete_dag.py").exists()
    with pytest.raises(ApiError) as gone:
        dag(api, "srv-delete")
    assert gone.value.status == 404
    code, out, _ = orch("deploy", path, "-b", "airflow", "--delete")
    assert code == 0 and out.startswith("nothing of srv-delete")


def test_a_run_with_params_is_read_back_from_the_servers_records(orch, spec_file, server, api):
    path = spec(spec_file, CHAIN.format(name="srv-chain", command="true"))
    assert orch("deploy", path, "-b", "airflow")[0] == 0
    began = time.monotonic()
    code, out, err = orch("run", path, "-b", "airflow", "--deployed", "-p", "word=hello", "--json")
    wall = time.monotonic() - began
    assert code == 0, err
    result = json.loads(out)
    run = api.get(f"/api/v2/dags/srv-chain/dagRuns/{result['run_id']}")
    assert run["state"] == "success" and run["conf"] == {"word": "hello"} and result["params"] == {"word": "hello"}
    steps = result["steps"]
    assert {n: (s["status"], s["attempts"]) for n, s in steps.items()} == {
        "first": ("succeeded", 1), "second": ("succeeded", 1), "third": ("succeeded", 1)}
    assert steps["first"]["outputs"] == {"word": "hello", "size": 5}
    assert steps["second"]["outputs"] == {"loud": "hello!"}
    tis = {t["task_id"]: t for t in api.get(f"/api/v2/dags/srv-chain/dagRuns/{result['run_id']}/taskInstances")[
        "task_instances"]}
    for name, step in steps.items():  # the times are the server's
        assert datetime.datetime.fromisoformat(step["started_at"]) == datetime.datetime.fromisoformat(
            tis[name]["start_date"])
    assert steps["first"]["ended_at"] <= steps["second"]["started_at"] <= steps["second"]["ended_at"] <= \
        steps["third"]["started_at"] <= result["ended_at"]
    code, out, err = orch("runs", "list", "-b", "airflow", "--spec", path)
    assert code == 0 and result["run_id"] in out and "succeeded" in out
    code, out, err = orch("runs", "show", result["run_id"], "-b", "airflow", "--spec", path, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["run_id"] == result["run_id"] and shown["steps"] == result["steps"]
    print(f"\nmeasured: 3-step chain run {wall:.2f} s wall (CLI in-process), trigger->first start "
          f"{seconds(tis['first']['start_date'], run['queued_at']):.2f} s, hand-offs "
          f"{seconds(tis['second']['start_date'], tis['first']['end_date']):.2f} / "
          f"{seconds(tis['third']['start_date'], tis['second']['end_date']):.2f} s, run "
          f"{seconds(run['end_date'], run['queued_at']):.2f} s queued->end")


def test_shipped_code_is_uploaded_at_deploy_and_fetched_by_the_workers(orch, spec_file, server, tmp_path):
    """Code beside the spec, on no path of the server's: `code: {ship: true}` packs it into the spec's store,
    the DAG file names the archive, each task fetches and imports it."""
    store = tmp_path / "store"
    (tmp_path / "here_only.py").write_text("import os\n\ndef where():\n    return {'module': __file__, 'cwd': os.getcwd()}\n")
    path = spec(spec_file, f"""
        apiVersion: orch/v1
        name: srv-shipped
        code: {{ship: true}}
        artifacts: {{store: "file://{store}"}}
        steps:
          where: {{python: "here_only:where", outputs: {{module: string, cwd: string}}}}
    """)
    code, out, err = orch("deploy", path, "-b", "airflow")
    assert code == 0 and "code: uploaded to file://" in err, err
    code, out, err = orch("run", path, "-b", "airflow", "--deployed", "--json")
    assert code == 0, err
    outputs = json.loads(out)["steps"]["where"]["outputs"]
    assert not outputs["module"].startswith(str(tmp_path)), "imported from the shipped copy, not the spec's folder"
    assert outputs["cwd"] == str(Path(outputs["module"]).parent), "a shipped step works in its fresh copy"


def test_a_failed_step_has_its_error_and_the_run_fails(orch, spec_file, server):
    path = spec(spec_file, """
        apiVersion: orch/v1
        name: srv-handled
        steps:
          good: {command: [sh, -c, 'printf 7 > $ORCH_OUTPUTS/n; printf "%s" "$PWD" > $ORCH_OUTPUTS/cwd'],
                 outputs: {n: integer, cwd: string}}
          bad: {command: [sh, -c, "echo the last words; exit 3"], after: [good]}
          alert: {command: ["true"], after: [bad], trigger: any_failed}
          later: {command: ["true"], after: [bad]}
    """)
    assert orch("deploy", path, "-b", "airflow")[0] == 0
    code, out, err = orch("run", path, "-b", "airflow", "--deployed", "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "failed"
    assert {n: s["status"] for n, s in result["steps"].items()} == {
        "good": "succeeded", "bad": "failed", "alert": "succeeded", "later": "upstream_failed"}
    assert result["steps"]["bad"]["error"] == "exited with status 3: the last words"
    assert result["steps"]["good"]["outputs"] == {"n": 7, "cwd": str(server.workdir)}  # the task process's folder


def test_retries_wait_their_exact_delays_on_the_scheduler(orch, spec_file, server, api, tmp_path):
    """Retry k waits min(delay * factor**(k-1), max_delay) after try k ends (Airflow's /tries): never early,
    late by the scheduler's loop and the task process's start only."""
    times = tmp_path / "flaky.times"
    path = spec(spec_file, f"""
        apiVersion: orch/v1
        name: srv-retries
        steps:
          flaky: {{python: "orch_server_steps:flaky", args: {{failures: 3, times: "{times}"}},
                  retries: {{limit: 3, delay: 300ms, factor: 2, max_delay: 800ms}}}}
    """)
    assert orch("deploy", path, "-b", "airflow")[0] == 0
    code, out, err = orch("run", path, "-b", "airflow", "--deployed", "--json")
    result = json.loads(out)
    assert code == 0 and result["steps"]["flaky"]["attempts"] == 4, err
    attempts = tries(api, "srv-retries", result["run_id"], "flaky")
    assert [t["state"] for t in attempts] == ["failed", "failed", "failed", "success"]
    waits = [seconds(later["start_date"], earlier["end_date"]) for earlier, later in zip(attempts, attempts[1:])]
    starts = [float(t) for t in times.read_text().split()]
    step_gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    print(f"\nmeasured: retry waits end->start {[round(w, 2) for w in waits]} for [0.3, 0.6, 0.8]; step start to "
          f"start {[round(g, 2) for g in step_gaps]}")
    for wait, wanted in zip(waits, [0.3, 0.6, 0.8]):
        assert wanted <= wait <= wanted + 0.6, waits  # never early; late by one scheduler loop and a task start


def test_finally_steps_run_after_the_pipeline_timeout(orch, spec_file, server):
    """A scheduler's dagrun_timeout would skip them: their DAG has none, and each step's task keeps the deadline."""
    path = spec(spec_file, """
        apiVersion: orch/v1
        name: srv-timeout-finally
        timeout: 1s
        steps:
          slow: {python: "orch_server_steps:sleep", args: {seconds: 30}, retries: {limit: 3}}
          after-slow: {command: ["true"], after: [slow]}
        finally:
          report: {command: [sh, -c, 'printf "%s" "$FAILED" > $ORCH_OUTPUTS/failed'], env: {FAILED: "${{ run.failed_steps }}"},
                   outputs: {failed: json}}
    """)
    assert orch("deploy", path, "-b", "airflow")[0] == 0
    began = time.monotonic()
    code, out, err = orch("run", path, "-b", "airflow", "--deployed", "--json")
    result = json.loads(out)
    assert code == 1 and time.monotonic() - began < 20, result
    assert {n: (s["status"], s["attempts"]) for n, s in result["steps"].items()} == {
        "slow": ("failed", 1), "after-slow": ("upstream_failed", 0), "report": ("succeeded", 1)}
    assert result["steps"]["slow"]["error"] == "the pipeline's timeout of 1s ran out"
    assert result["steps"]["report"]["outputs"] == {"failed": ["slow"]}


def test_a_run_the_scheduler_timed_out_reads_as_orchs_deadline():
    """Whichever comes first -- orch's deadline in the task, or the scheduler's dagrun_timeout, which marks what
    runs or waits skipped -- the result is the same. Records as the REST API gave them in a measured race."""
    from orch.backends.airflow.status import result_from_records
    from orch.core import parse_spec

    graph = parse_spec(json.dumps({"apiVersion": "orch/v1", "name": "t", "timeout": 1, "steps": {
        "quick": {"command": ["true"]}, "slow": {"command": ["sleep", "30"]},
        "after-slow": {"command": ["true"], "after": ["slow"]},
        "cleanup": {"command": ["true"], "after": ["slow"], "trigger": "all_done"},
        "maybe": {"command": ["true"], "when": "false"}, "after-maybe": {"command": ["true"], "after": ["maybe"]}}}))
    at = "2026-12-01T21:39:{}Z".format

    def task(name, state, start=None, end=None, tries=0):
        return {"task_id": name, "map_index": -1, "state": state, "try_number": tries, "start": start, "end": end}

    records = {"run_id": "r", "state": "failed", "start": at("38.59"), "end": at("39.65"), "xcoms": [], "tasks": [
        task("quick", "success", at("38.75"), at("39.05"), 1), task("slow", "skipped", at("38.73"), None, 1),
        task("after-slow", "skipped"), task("cleanup", "skipped"),
        task("maybe", "skipped", at("38.70"), at("38.90"), 1), task("after-maybe", "skipped")]}
    steps = result_from_records(graph, records, {}).steps
    assert {n: (s.status, s.attempts) for n, s in steps.items()} == {
        "quick": ("succeeded", 1), "slow": ("failed", 1), "after-slow": ("upstream_failed", 0),
        "cleanup": ("upstream_failed", 0), "maybe": ("skipped", 0), "after-maybe": ("skipped", 0)}
    assert steps["slow"].error == "the pipeline's timeout of 1s ran out"


def test_fail_fast_starts_nothing_new_after_a_failure_while_what_runs_finishes(orch, spec_file, server, tmp_path):
    """'breaks' fails once 'slow' has started (it waits for slow's pidfile): a loaded scheduler may start them seconds
    apart, and a step not started when the failure lands is rightly never started."""
    started = tmp_path / "slow.pid"
    path = spec(spec_file, f"""
        apiVersion: orch/v1
        name: srv-fail-fast
        fail_fast: true
        steps:
          breaks: {{python: "orch_server_steps:fail", args: {{wait_for: "{started}"}}}}
          slow: {{python: "orch_server_steps:sleep", args: {{seconds: 2, pidfile: "{started}"}}}}
          after-slow: {{command: ["true"], after: [slow]}}
          after-breaks: {{command: ["true"], after: [breaks], trigger: all_done}}
    """)
    assert orch("deploy", path, "-b", "airflow")[0] == 0
    code, out, err = orch("run", path, "-b", "airflow", "--deployed", "--json")
    result = json.loads(out)
    assert code == 1, err
    assert {n: (s["status"], s["attempts"]) for n, s in result["steps"].items()} == {
        "breaks": ("failed", 1), "slow": ("succeeded", 1), "after-slow": ("upstream_failed", 0),
        "after-breaks": ("upstream_failed", 0)}


def test_a_cancelled_run_is_failed_on_the_server_and_its_step_stopped(orch, spec_file, server, api, tmp_path):
    """orch's cancel (Ctrl-C, answered yes): the run marked failed, its running task failed with it, and the step's
    own process (a session of its own, out of the supervisor's reach) killed as the task is stopped."""
    run_id, base, pid = _start_long_run(orch, spec_file, api, tmp_path, "srv-cancel")
    began = time.monotonic()
    cancel_run(api, "srv-cancel", run_id)
    assert api.get(base)["state"] == "failed"
    assert api.get(f"{base}/taskInstances/long")["state"] == "failed"
    still = _alive(pid, 10)
    if still:
        os.kill(pid, signal.SIGKILL)  # this test's own step: not left behind
    assert not still, "the cancelled step's process still runs 10 s later"
    print(f"\nmeasured: the cancelled step's process ended {time.monotonic() - began:.2f} s after the cancel")


def test_a_cancelled_run_does_not_run_its_finally_steps(orch, spec_file, server, api, tmp_path):
    """Marked failed on the server, the run skips what has not started, its finally step too: a finally step is a
    plain task (a teardown task would run after the cancel)."""
    run_id, base, pid = _start_long_run(orch, spec_file, api, tmp_path, "srv-cancel-finally",
                                        "finally: {tidy: {command: ['true']}}")
    cancel_run(api, "srv-cancel-finally", run_id)
    assert api.get(base)["state"] == "failed"
    _alive(pid, 10)
    time.sleep(2)  # a scheduler loop or two: what it would start, it has
    assert api.get(f"{base}/taskInstances/tidy")["state"] == "skipped"
    assert api.get(f"{base}/taskInstances/Orch__verdict")["state"] == "skipped"


def _start_long_run(orch, spec_file, api, tmp_path, name: str, more: str = ""):
    """A deployed one-step run sleeping 60 s (and `more` of the spec), triggered and running: its run id, REST
    path, the step's pid."""
    pidfile = tmp_path / "long.pid"
    path = spec(spec_file, f"""
        apiVersion: orch/v1
        name: {name}
        steps:
          long: {{python: "orch_server_steps:sleep", args: {{seconds: 60, pidfile: "{pidfile}"}}}}
        {more}
    """)
    assert orch("deploy", path, "-b", "airflow")[0] == 0
    run_id = api.request("POST", f"/api/v2/dags/{name}/dagRuns", {"logical_date": None})["dag_run_id"]
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()):
        assert time.monotonic() < deadline, "the step did not start"
        time.sleep(0.1)
    return run_id, f"/api/v2/dags/{name}/dagRuns/{run_id}", int(pidfile.read_text())


def _alive(pid: int, within: float) -> bool:
    """Whether `pid` still runs (not a zombie) after up to `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        except OSError:
            return False
        time.sleep(0.2)
    return True


def test_a_wrong_password_is_exit_3_naming_the_url_never_the_password(orch, spec_file, server, monkeypatch):
    path = spec(spec_file, CHAIN.format(name="srv-auth", command="true"))
    monkeypatch.setenv("AIRFLOW_PASSWORD", "not-the-password-Qx81")
    for command in (("run", path, "-b", "airflow", "--deployed"), ("deploy", path, "-b", "airflow"),
                    ("runs", "list", "-b", "airflow", "--spec", path)):
        code, out, err = orch(*command)
        assert code == 3 and server.url in err and "refused the credentials" in err, (command, err)
        assert "not-the-password-Qx81" not in out + err
    monkeypatch.setenv("AIRFLOW_CLI_TOKEN", "not-a-token-Zr55")
    code, out, err = orch("run", path, "-b", "airflow", "--deployed")
    assert code == 3 and server.url in err and "not-a-token-Zr55" not in out + err


def test_an_unreachable_server_is_exit_3_naming_its_url(orch, spec_file, monkeypatch):
    path = spec(spec_file, CHAIN.format(name="srv-nowhere", command="true"))
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AIRFLOW_PASSWORD", "secret-pass-Jk3")
    monkeypatch.setenv("AIRFLOW_USERNAME", "someone")
    for command in (("run", path, "-b", "airflow", "--server", url), ("deploy", path, "-b", "airflow", "--server", url,
                                                                        "--dags-folder", path.parent)):
        code, out, err = orch(*command)
        assert code == 3 and f"cannot reach the Airflow server at {url}" in err, err
        assert "secret-pass-Jk3" not in out + err
    monkeypatch.delenv("AIRFLOW_API_URL", raising=False)
    code, out, err = orch("run", path, "-b", "airflow", "--deployed")
    assert code == 3 and "AIRFLOW_API_URL" in err
