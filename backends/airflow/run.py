"""`run` for Airflow: the rendered DAG file, run with `dag.test()` on a private Airflow home.

The home is $ORCH_AIRFLOW_HOME, else $ORCH_HOME/airflow (default .orch/airflow): its own
SQLite metadata database, migrated once (`airflow db migrate`) and reused, and a DAGs
folder that receives the file `orch render --backend airflow` prints. The run happens in a
child process (driver.py), because Airflow reads its configuration once, at import -- forked from a warm
Airflow where $ORCH_AIRFLOW_WARM names one (warm.py); the RunResult is built from the records it reports: task
instance states, try numbers, XComs.

A pipeline that ships code is packed and uploaded to the run's store before the DAG file is
written (it names the archive), and the spec's folder is then kept off the DAG run's import path.
The secrets its steps name, from `--secrets FILE` and $ORCH_SECRET_*, reach the tasks as Airflow
Variables in the DAG run's environment (AIRFLOW_VAR_<SECRET>, a JSON object of its keys), unless
Airflow already has that variable there.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Optional

from orch.core import groups
from orch.core.artifacts import ENV, ships_code
from orch.core.errors import BackendUnavailable, RunInterrupted, UsageError
from orch.core.graph import PipelineGraph
from orch.core.result import RunResult
from orch.core.secrets import grouped_secrets, local_secrets
from orch.core.spec import Pipeline
from orch.core.values import resolve_params

from ..children import kill_step_processes
from ..shipping import project_root
from ..stores import run_store
from .deploy import deploy, undeploy  # noqa: F401 - the faces on a running server
from .remote import list_runs, read_run, run_deployed  # noqa: F401
from .render import dag_file, dag_source, end_task, render  # noqa: F401 - render is this backend's other face
from . import warm
from .status import STATES, result_from_records


def run(graph: PipelineGraph, params: Mapping[str, Any], *, spec_path: Optional[str] = None, resume: Optional[str] = None,
        progress=None, artifacts: Optional[str] = None, secrets: Optional[Mapping[str, str]] = None,
        server: Optional[str] = None, **_: Any) -> RunResult:
    if server is not None:  # the DAG deployed on a server ("": $AIRFLOW_API_URL), not dag.test() here
        return run_deployed(graph, params, server=server, progress=progress)
    if resume:
        raise UsageError("--resume is the local backend's; on Airflow, clear the failed tasks (airflow tasks clear)")
    values = resolve_params(graph.pipeline, params)
    # with a connection named, the tasks check the store through it (its credentials are not this process's)
    store = run_store(graph.pipeline, artifacts, check=not os.environ.get("ORCH_ARTIFACTS_CONN_ID"))
    shipping = ships_code(graph.pipeline)
    code = None
    if shipping:
        from ..shipping import ship

        code = ship(graph, spec_path, store, say=lambda line: print(line, file=sys.stderr))
    home = airflow_home()
    env = airflow_env(home, None if shipping else project_root(spec_path))
    if store:
        env[ENV] = store
    env.update(secret_variables(graph.pipeline, secrets, os.environ), ORCH_AIRFLOW_RUN_SECRETS="1")
    migrate_once(home, env)
    path = home / "dags" / dag_file(graph.pipeline.name)
    path.write_text(dag_source(graph, code=code), encoding="utf-8")
    log = home / "logs" / "driver.log"
    log.parent.mkdir(exist_ok=True)
    # shipped code: the driver is started with -P, so its working folder is not on its (and the steps') path
    arguments = [str(path), graph.pipeline.name, json.dumps(values), *(["--shipped"] if shipping else [])]
    command = [sys.executable, *(["-P"] if shipping else []), "-m", "orch.backends.airflow.driver", *arguments]
    with open(log, "w", encoding="utf-8") as stderr:
        driver = warm.start(arguments, env, stderr) or \
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        watch = _Watch(graph, progress)
        try:
            records = _follow(driver, watch)
        except KeyboardInterrupt:
            kill_step_processes(driver.pid)  # Airflow's task runner only calls on_kill on SIGTERM
            driver.kill()
            driver.wait()
            raise RunInterrupted("interrupted: the Airflow DAG run stopped (clear and rerun it; --resume is local's)") from None
        driver.wait()
    if records is None:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"the Airflow run ended without a result (exit {driver.returncode}); its log {log} ends:\n{tail}")
    result = result_from_records(graph, records, values)
    watch.finish(result)
    return result


def airflow_home() -> Path:
    configured = os.environ.get("ORCH_AIRFLOW_HOME")
    home = Path(configured) if configured else Path(os.environ.get("ORCH_HOME", ".orch")) / "airflow"
    (home / "dags").mkdir(parents=True, exist_ok=True)
    return home.resolve()


def airflow_env(home: Path, spec_folder: Optional[Path]) -> dict[str, str]:
    """The environment of Airflow's processes: this home, its SQLite database, no example DAGs,
    the spec's folder first on the path (the steps' code; None: the code is shipped, never read from there)."""
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
    )
    path = os.pathsep.join(p for p in (str(spec_folder) if spec_folder else "", os.environ.get("PYTHONPATH", "")) if p)
    if path:
        env["PYTHONPATH"] = path
    else:
        env.pop("PYTHONPATH", None)
    return env


def secret_variables(pipeline: Pipeline, given: Optional[Mapping[str, str]], environ: Mapping[str, str]) -> dict[str, str]:
    """The Airflow Variables the steps' secrets are read from, as environment variables: AIRFLOW_VAR_<SECRET> (Airflow
    upper-cases the name and keeps its '-') holding a JSON object of the keys found, each from `given` (--secrets),
    else ORCH_SECRET_<SECRET>_<KEY> in `environ`. One Airflow already has in `environ` stands as it is; a key found
    nowhere is left out, and its step fails naming it."""
    found = grouped_secrets(pipeline, local_secrets(given, environ))
    variables = {f"AIRFLOW_VAR_{secret.upper()}": json.dumps(keys) for secret, keys in found.items()}
    return {name: value for name, value in variables.items() if name not in environ}


def migrate_once(home: Path, env: dict[str, str]) -> None:
    """`airflow db migrate` the first time this home is used with this Airflow version (a lock
    keeps two runs from migrating at once)."""
    try:
        version = metadata.version("apache-airflow-core")
    except metadata.PackageNotFoundError:  # pragma: no cover - the backend's load() checked the engine
        raise BackendUnavailable("the airflow backend needs apache-airflow: pip install 'orch[airflow]'") from None
    marker = home / f".migrated-{version}"
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return
        done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BackendUnavailable(f"airflow db migrate failed in {home}:\n{done.stderr[-2000:]}")
        marker.touch()


def _follow(driver: subprocess.Popen, watch: "_Watch") -> Optional[dict]:
    """Read the driver's lines: progress while the run goes, the records at its end."""
    for line in driver.stdout:
        message = json.loads(line)
        if "error" in message:
            raise RuntimeError(f"the rendered DAG did not load: {message['error']}")
        if "run" in message:
            return message["run"]
        if "states" in message:
            watch.begin(message["run_id"])
            pipeline = watch.graph.pipeline
            for name in [*groups.order(pipeline), *pipeline.finally_]:
                if groups.fan_out_groups(pipeline, name):
                    continue  # a step's items are one: the end says them
                step, task = pipeline.groups.get(name) or pipeline.all_steps[name], end_task(pipeline, name)
                state, tries = message["states"].get(f"{task}[-1]") or [None, 0]
                if state in STATES:  # a fan-out's attempts are its items', a group makes none: the end says them
                    attempt = tries if name not in pipeline.groups and step.foreach is None else 0
                    watch.step(name, STATES[state], attempt=attempt, error=message["errors"].get(task))
    return None


class _Watch:
    """Step states to the progress display, each once it changes."""

    def __init__(self, graph: PipelineGraph, progress):
        self.graph, self.progress = graph, progress
        self.seen: dict[str, str] = {}
        self.begun = False

    def begin(self, run_id: str) -> None:
        if self.progress and not self.begun:
            pipeline = self.graph.pipeline
            self.progress.begin(run_id, pipeline.name, [*groups.order(pipeline), *pipeline.finally_])
            self.begun = True

    def step(self, name: str, status: str, **details: Any) -> None:
        if self.progress and self.seen.get(name) != status:
            self.seen[name] = status
            self.progress.step(name, status, **details)

    def finish(self, result: RunResult) -> None:
        """The final states, as read back from the records (attempts and errors included)."""
        self.begin(result.run_id)
        for name, step in result.steps.items():
            if step.status != "pending":
                self.step(name, step.status, attempt=step.attempts, error=step.error)
        if self.progress:
            self.progress.end()
