"""A real Airflow 3 deployment for the tests: api-server, scheduler (LocalExecutor) and dag-processor on a
private PostgreSQL cluster, once per test session.

Everything lives in one temporary folder: the cluster (initdb/pg_ctl as user postgres, on a free loopback
port), AIRFLOW_HOME, the DAGs folder, a `steps_path` folder on the components' PYTHONPATH (the scheduler
cannot be given a per-run path, so tests put step modules there) and `workdir`, the scheduler's working
folder (a relative step path lands there). Auth is real: SimpleAuthManager with one user and a password file.
Each component runs in its own process group; all are stopped by group on every exit path (finally and
atexit), then the cluster. A warm-up DAG run pays the first task's 5-7 s before any test does.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orch.backends.prefect.run import free_port
from tests.server_groups import exit_on_sigterm, signal_group

PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit()
                 else 0)
PG_BIN = PG_BINS[-1].parent if PG_BINS else Path("/usr/lib/postgresql/15/bin")  # the newest installed
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
USER, PASSWORD = "orch", "orch-pass-" + secrets.token_hex(4)  # distinctive: tests look for it where it must not be
COMPONENTS = (("api-server", "--workers", "1"), ("scheduler",), ("dag-processor",))
WARMUP = '''from airflow.sdk import dag, task


@dag(dag_id="orch_warmup", schedule=None, catchup=False, is_paused_upon_creation=False)
def orch_warmup():
    @task
    def first():
        return 1

    first()


orch_warmup()
'''


@dataclass
class AirflowServer:
    """What a test needs to reach the deployment."""

    url: str
    username: str
    password: str
    dags_folder: Path
    steps_path: Path
    workdir: Path
    home: Path
    started_in: float = 0.0  # seconds from nothing to the warm-up run's end
    logs: dict = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The variables orch reads to deploy to and run on this server."""
        return {"AIRFLOW_API_URL": self.url, "AIRFLOW_USERNAME": self.username, "AIRFLOW_PASSWORD": self.password,
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder)}

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return Path(self.logs[name]).read_text(errors="replace")[-chars:]


class _Deployment:
    """Starts and stops the cluster and the three components; stop() is safe to call twice."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="orch-airflow-server-"))
        self.processes: list[subprocess.Popen] = []
        self.pg_data: Path | None = None
        self.stopped = False

    def start(self) -> AirflowServer:
        began = time.monotonic()
        pg_port, api_port, log_port = free_port(), free_port(), free_port()
        self._postgres(pg_port)
        home, url = self.root / "home", f"http://127.0.0.1:{api_port}"
        server = AirflowServer(url=url, username=USER, password=PASSWORD, dags_folder=home / "dags",
                               steps_path=self.root / "steps", workdir=self.root / "work", home=home)
        for folder in (server.dags_folder, server.steps_path, server.workdir, home / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
        env = self._env(server, pg_port, api_port, log_port)
        done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=server.workdir,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-3000:]}")
        (server.dags_folder / "orch_warmup.py").write_text(WARMUP)
        for command in COMPONENTS:
            log = home / "logs" / f"{command[0]}.log"
            server.logs[command[0]] = str(log)
            with open(log, "w") as out:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "airflow", *command], env=env, cwd=server.workdir, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True))
        self._healthy(server)
        self._warm_up(server)
        server.started_in = time.monotonic() - began
        return server

    def _postgres(self, port: int) -> None:
        pg = self.root / "pg"
        pg.mkdir()
        if AS_POSTGRES:
            shutil.chown(pg, "postgres", "postgres")
            self.root.chmod(0o755)
        self.pg_data = pg / "data"
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"the Airflow server's tests need PostgreSQL: no initdb in {PG_BIN} (apt-get install "
                               "postgresql)")
        subprocess.run([*AS_POSTGRES, str(PG_BIN / "initdb"), "-D", str(self.pg_data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run([*AS_POSTGRES, str(PG_BIN / "pg_ctl"), "-D", str(self.pg_data), "-l", str(pg / "server.log"),
                        "-w", "-o", f"-p {port} -k {pg} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                        "-c fsync=off -c synchronous_commit=off", "start"], check=True, capture_output=True)
        subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q",
                        "-c", "CREATE USER airflow PASSWORD 'airflow'", "-c", "CREATE DATABASE airflow OWNER airflow"],
                       check=True, capture_output=True)

    def _env(self, server: AirflowServer, pg_port: int, api_port: int, log_port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ORCH_"))}
        env.update({
            "AIRFLOW_HOME": str(server.home), "AIRFLOW__CORE__DAGS_FOLDER": str(server.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{pg_port}/airflow",
            "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(api_port), "AIRFLOW__API__BASE_URL": server.url,
            "AIRFLOW__API__EXPOSE_CONFIG": "non-sensitive-only",  # deploy finds the DAGs folder through the API
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{server.url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(48), "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),  # 8793 is the scheduler's log server
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(server.home / "passwords.json"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",  # a new file is seen within 2 s (default 300)
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",  # an updated DAG is written at once (default 30 s)
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",  # hand-offs and retries on time
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",  # a failed task's end recorded within 1 s
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",  # the first task's first call can take 5-7 s
            "PYTHONPATH": str(server.steps_path),
        })
        return env

    def _healthy(self, server: AirflowServer, timeout: float = 180) -> None:
        from orch.backends.airflow.api import Client

        client, deadline = Client(server.url), time.monotonic() + timeout
        while True:
            for process in self.processes:
                if process.poll() is not None:
                    name = process.args[3]
                    raise RuntimeError(f"airflow {name} exited {process.returncode}:\n{server.log_tail(name)}")
            try:
                health = client.request("GET", "/api/v2/monitor/health", auth=False)
                if all((health.get(part) or {}).get("status") == "healthy" for part in ("metadatabase", "scheduler",
                                                                                          "dag_processor")):
                    return
            except Exception:  # not listening yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Airflow was not healthy after {timeout} s at {server.url}")
            time.sleep(0.3)

    def _warm_up(self, server: AirflowServer, timeout: float = 120) -> None:
        """One throwaway DAG run: the first task after the api-server starts pays its DAG bag load."""
        from orch.backends.airflow.api import ApiError, Client

        client, deadline = Client(server.url, username=USER, password=PASSWORD), time.monotonic() + timeout
        while True:
            try:
                client.get("/api/v2/dags/orch_warmup")
                break
            except ApiError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the warm-up DAG was not parsed:\n{server.log_tail('dag-processor')}") from None
                time.sleep(0.3)
        run = client.request("POST", "/api/v2/dags/orch_warmup/dagRuns", {"logical_date": None})["dag_run_id"]
        while client.get(f"/api/v2/dags/orch_warmup/dagRuns/{run}")["state"] not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the warm-up run did not end:\n{server.log_tail('scheduler')}")
            time.sleep(0.3)
        (server.dags_folder / "orch_warmup.py").unlink()

    def stop(self) -> None:
        """Every component's process group (TERM, then KILL after 20 s), then the cluster; the folder last."""
        if self.stopped:
            return
        self.stopped = True
        for process in self.processes:
            signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            signal_group(process.pid, signal.SIGKILL)  # what a component left behind in its group
            process.wait()
        for pid in _carrying(f"AIRFLOW_HOME={self.root / 'home'}"):  # a task's step in a session of its own
            _signal(pid, signal.SIGKILL)
        if self.pg_data is not None and (self.pg_data / "postmaster.pid").exists():
            subprocess.run([*AS_POSTGRES, str(PG_BIN / "pg_ctl"), "-D", str(self.pg_data), "-m", "immediate", "-w",
                            "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _carrying(variable: str) -> list[int]:
    """The processes whose environment holds `variable` (NAME=value): what this deployment started, at any depth,
    even one that left the components' process groups (a task's step runs in a session of its own, and outlives
    a task the supervisor killed)."""
    wanted, found = b"\0" + variable.encode() + b"\0", []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if wanted in b"\0" + environ.read_bytes() + b"\0" and int(environ.parent.name) != os.getpid():
                found.append(int(environ.parent.name))
        except (OSError, ValueError):
            continue
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start_airflow() -> tuple[AirflowServer, _Deployment]:
    deployment = _Deployment()
    atexit.register(deployment.stop)
    exit_on_sigterm()
    try:
        return deployment.start(), deployment
    except BaseException:
        deployment.stop()
        raise


@pytest.fixture(scope="session")
def airflow_server(s3_server):
    """The session's Airflow deployment (AirflowServer); stopped, with its cluster, when the session ends. Its
    components inherit the S3 test server's AWS_* settings, as a real deployment has its machines' credentials."""
    from tests.server_groups import STOPS

    server, deployment = start_airflow()
    STOPS["airflow-server"] = deployment.stop
    try:
        yield server
    finally:
        deployment.stop()
