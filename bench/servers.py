"""Benchmark: orch on running servers against the same pipeline written and deployed by hand, same servers, same run.

    python bench/servers.py [--rounds 3] [--steps 10] [--skip-prefect] [--skip-airflow]

Starts the test suite's real servers (tests/prefect/server.py: `prefect server start` + a process worker;
tests/airflow/server.py: api-server + scheduler + dag-processor, LocalExecutor, on PostgreSQL), then for each:

  native   a hand-written flow / TaskFlow DAG of the chain (one task per step, each adding one to its upstream's
           value), deployed by hand (`flow.from_source(...).deploy(...)`; the file copied into the DAGs folder, waited
           for through the REST API, unpaused) and triggered by hand (`prefect deployment run --watch`; a REST
           trigger-and-poll script)
  orch     `orch deploy SPEC -b B --server URL`, then `orch run SPEC -b B --server URL --json`

Prints, as medians: deploy seconds, trigger-to-result seconds (whole processes) with orch's ratio to native
(goal <= 1.10x), and from the server's own records: the run's span (created or queued to its end: the engine's
part, without either client's start), trigger to first step start, each step's own time, the hand-off between
steps (a step's end to the next one's start), and how late a 1 s retry starts.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from measure import NATIVE_DAG, NATIVE_FLOW, STEPS_MODULE, chain_spec, timed  # noqa: E402

from orch.backends.remote import moment  # noqa: E402

AIRFLOW_TRIGGER = '''
import json, sys, time, urllib.request
url, token, dag = sys.argv[1:4]
def call(method, path, body=None):
    request = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))
run = call("POST", f"/api/v2/dags/{dag}/dagRuns", {"logical_date": None})["dag_run_id"]
while call("GET", f"/api/v2/dags/{dag}/dagRuns/{run}")["state"] not in ("success", "failed"):
    time.sleep(0.5)
print(run)
'''

RETRY_DELAY = 1.0
FLAKY = {"apiVersion": "orch/v1", "name": "late-retry", "steps": {
    "flaky": {"python": "bench_steps:flaky", "args": {"run": "${{ run.id }}"},
              "retries": {"limit": 1, "delay": f"{RETRY_DELAY:g}s"}}}}
FLAKY_STEP = '''

def flaky(run):
    import os
    marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flaky-" + str(run).replace("/", "_"))
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("the first attempt fails")
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--skip-prefect", action="store_true")
    parser.add_argument("--skip-airflow", action="store_true")
    args = parser.parse_args()
    if not args.skip_prefect:
        prefect(args)
    if not args.skip_airflow:
        airflow(args)


def prefect(args) -> None:
    from tests.prefect.server import start, stop

    server = start(Path(tempfile.mkdtemp(prefix="orch-bench-prefect-")))
    try:
        env = {**os.environ, **server.env()}
        folder = _project(server.steps_path, args.steps)
        native = folder / "native"
        native.mkdir()
        (native / "native_flow.py").write_text(NATIVE_FLOW.format(steps=args.steps), encoding="utf-8")
        deploy_native = [sys.executable, "-c", "from prefect import flow; flow.from_source(source=%r, entrypoint="
                         "'native_flow.py:native_chain').deploy(name='native-chain', work_pool_name=%r, "
                         "print_next_steps=False, ignore_warnings=True, job_variables={'env': {'PYTHONPATH': %r}})"
                         % (str(native), server.work_pool, str(server.steps_path))]
        orch = _orch_commands(folder, "prefect", server.url, ["--work-pool", server.work_pool])
        native_run = [str(Path(sys.executable).with_name("prefect")), "deployment", "run", "native-chain/native-chain",
                      "--watch", "--watch-interval", "0.5"]
        print(f"Prefect {server.url} (server + worker up in {server.start_seconds:.1f} s)")
        _compare(args, folder, env, {"native": deploy_native, "orch": orch["deploy"]},
                 {"native": native_run, "orch": orch["run"]}, lambda: _prefect_times(server.url, env))
        run_id = _late_retry(folder, env, "prefect", server.url, ["--work-pool", server.work_pool])
        print(f"  a {RETRY_DELAY:g} s retry starts late by (server's states) {_prefect_lateness(server.url, env, run_id):.2f} s")
    finally:
        stop(server)


def airflow(args) -> None:
    from tests.airflow.server import start_airflow

    server, deployment = start_airflow()
    try:
        env = {**os.environ, **server.env()}
        folder = _project(server.steps_path, args.steps)
        native_file = folder / "native_chain_dag.py"
        native_file.write_text(NATIVE_DAG.format(steps=args.steps), encoding="utf-8")
        token = _airflow_token(server)
        deploy_native = [sys.executable, "-c", _AIRFLOW_DEPLOY, server.url, token, str(native_file), str(server.dags_folder)]
        native_run = [sys.executable, "-c", AIRFLOW_TRIGGER, server.url, token, "native-chain"]
        orch = _orch_commands(folder, "airflow", server.url, ["--dags-folder", str(server.dags_folder)])
        print(f"Airflow {server.url} (PostgreSQL + 3 components up in {server.started_in:.1f} s)")
        _compare(args, folder, env, {"native": deploy_native, "orch": orch["deploy"]},
                 {"native": native_run, "orch": orch["run"]}, lambda: _airflow_times(server.url, token))
        run_id = _late_retry(folder, env, "airflow", server.url, ["--dags-folder", str(server.dags_folder)])
        print(f"  a {RETRY_DELAY:g} s retry starts late by (server's tries) {_airflow_lateness(server.url, token, run_id):.2f} s")
    finally:
        deployment.stop()


_AIRFLOW_DEPLOY = '''
import json, shutil, sys, time, urllib.request, urllib.error
url, token, source, folder = sys.argv[1:5]
shutil.copy(source, folder)
def call(method, path, body=None):
    request = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))
while True:
    try:
        call("PATCH", "/api/v2/dags/native-chain", {"is_paused": False})
        break
    except urllib.error.HTTPError as err:
        if err.code != 404:
            raise
        time.sleep(0.2)
'''


def _project(steps_path: Path, steps: int) -> Path:
    """The chain's spec in a folder of its own; the step module where the server's tasks import it."""
    folder = Path(tempfile.mkdtemp(prefix="orch-bench-servers-"))
    (steps_path / "bench_steps.py").write_text(STEPS_MODULE + FLAKY_STEP, encoding="utf-8")
    (folder / "chain.yaml").write_text(yaml.safe_dump(chain_spec(steps), sort_keys=False), encoding="utf-8")
    (folder / "late-retry.yaml").write_text(yaml.safe_dump(FLAKY, sort_keys=False), encoding="utf-8")
    return folder


def _orch_commands(folder: Path, backend: str, url: str, where: list[str], spec: str = "chain.yaml") -> dict:
    orch = str(Path(sys.executable).with_name("orch"))
    return {"deploy": [orch, "deploy", spec, "-b", backend, "--server", url, *where],
            "run": [orch, "run", spec, "-b", backend, "--server", url, "--json"]}


def _compare(args, folder: Path, env: dict, deploys: dict, runs: dict, last_times) -> None:
    """Deploy each once per round and run it, interleaved; print the medians and orch's ratios."""
    seconds = {key: {name: [] for name in deploys} for key in ("deploy", "run", "span", "first", "step", "handoff")}
    for _ in range(args.rounds):
        for name in deploys:
            seconds["deploy"][name].append(timed(deploys[name], folder, env))
            seconds["run"][name].append(timed(runs[name], folder, env))
            span, first, steps, handoffs = last_times()
            seconds["span"][name].append(span)
            seconds["first"][name].append(first)
            seconds["step"][name] += steps
            seconds["handoff"][name] += handoffs
    for key, title in (("deploy", "deploy (whole process)"), ("run", "trigger to result (whole process)"),
                       ("span", "run's span (server)"), ("first", "trigger to first step start (server)"),
                       ("step", "a step's own time (server)"), ("handoff", "step end to next start (server)")):
        native, orch = (statistics.median(seconds[key][name]) for name in ("native", "orch"))
        goal = f"   goal <= 1.10x: {'met' if orch <= 1.10 * native else 'missed'}" if key == "run" else ""
        print(f"  {title:40s} native {native:6.3f} s   orch {orch:6.3f} s   {orch / native:5.2f}x{goal}")


def _late_retry(folder: Path, env: dict, backend: str, url: str, where: list[str]) -> str:
    """Deploy and run the pipeline whose one step fails once; its run id."""
    commands = _orch_commands(folder, backend, url, where, "late-retry.yaml")
    timed(commands["deploy"], folder, env)
    done = subprocess.run(commands["run"], cwd=folder, env=env, capture_output=True, text=True)
    result = json.loads(done.stdout or "{}")
    if result.get("status") != "succeeded" or result["steps"]["flaky"]["attempts"] != 2:
        sys.exit(f"the retried step did not succeed on its second attempt: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    return result["run_id"]


def _gaps(tasks: list[tuple[datetime, datetime]], created: datetime, ended: datetime) -> tuple:
    """The run's span, trigger to first step start, each step's time and each hand-off (a chain's steps in order)."""
    tasks.sort()
    return ((ended - created).total_seconds(), (tasks[0][0] - created).total_seconds(),
            [(end - start).total_seconds() for start, end in tasks],
            [(later[0] - earlier[1]).total_seconds() for earlier, later in zip(tasks, tasks[1:])])


def _prefect_headers(env: dict) -> dict:
    auth = env.get("PREFECT_API_AUTH_STRING")
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return headers


def _prefect_times(url: str, env: dict) -> tuple:
    """The newest flow run's creation, and its task runs' start and end, from Prefect's REST API."""
    headers = _prefect_headers(env)
    flow_run = _post(f"{url}/flow_runs/filter", {"sort": "START_TIME_DESC", "limit": 1}, headers)[0]
    task_runs = _post(f"{url}/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run["id"]]}}}, headers)
    return _gaps([(moment(t["start_time"]), moment(t["end_time"])) for t in task_runs], moment(flow_run["created"]),
                 moment(flow_run["end_time"]))


def _airflow_times(url: str, token: str) -> tuple:
    headers = {"Authorization": f"Bearer {token}"}
    runs = _get(f"{url}/api/v2/dags/~/dagRuns?order_by=-start_date&limit=1", headers)["dag_runs"]
    run = runs[0]
    tasks = _get(f"{url}/api/v2/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances?limit=100", headers)
    return _gaps([(moment(t["start_date"]), moment(t["end_date"])) for t in tasks["task_instances"]
                  if t["start_date"] and t["end_date"]], moment(run["queued_at"]), moment(run["end_date"]))


def _prefect_lateness(url: str, env: dict, flow_run_id: str) -> float:
    """The second Running state's time less the failure's, less the delay (the task run's state history)."""
    headers = _prefect_headers(env)
    task_run = _post(f"{url}/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}}, headers)[0]
    states = sorted(_get(f"{url}/task_run_states/?task_run_id={task_run['id']}", headers), key=lambda s: s["timestamp"])
    running = [i for i, state in enumerate(states) if state["type"] == "RUNNING"]
    failed_at = moment(states[running[1] - 1]["timestamp"])
    return (moment(states[running[1]]["timestamp"]) - failed_at).total_seconds() - RETRY_DELAY


def _airflow_lateness(url: str, token: str, run_id: str) -> float:
    """The second try's start less the first's end, less the delay (Airflow's /tries)."""
    tries = _get(f"{url}/api/v2/dags/late-retry/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/flaky/tries",
                 {"Authorization": f"Bearer {token}"})["task_instances"]
    tries.sort(key=lambda t: t["try_number"])
    return (moment(tries[1]["start_date"]) - moment(tries[0]["end_date"])).total_seconds() - RETRY_DELAY


def _airflow_token(server) -> str:
    body = json.dumps({"username": server.username, "password": server.password}).encode()
    request = urllib.request.Request(f"{server.url}/auth/token", data=body, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))["access_token"]


def _post(url: str, body: dict, headers: dict):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    return json.load(urllib.request.urlopen(request))


def _get(url: str, headers: dict):
    headers = {key: value for key, value in headers.items() if key != "Content-Type"}
    return json.load(urllib.request.urlopen(urllib.request.Request(url, headers=headers)))


if __name__ == "__main__":
    main()
