"""A warm Airflow for `orch run --backend airflow`: Airflow imported and its in-process execution API built once,
each run's driver forked from it.

Airflow 3 spends ~12 s of CPU in every `dag.test()` before its first task -- importing itself (~4 s) and building
the task execution API's versioned routes (Cadwyn, on its first request, ~5-7 s) -- where a small run's own work
is ~1 s. `python -m orch.backends.airflow.warm SOCKET` (with the ORCH_HOME or ORCH_AIRFLOW_HOME of the runs) pays that
once and listens on the Unix socket SOCKET. With ORCH_AIRFLOW_WARM=SOCKET set, a run
sends it the driver's arguments, environment and folder with its stdout and stderr, and the driver -- the same
driver.main and dag.test() -- runs in a child forked from the warm process. A run whose Airflow settings
(AIRFLOW_HOME, AIRFLOW__*) differ from the warm process's, or a socket nobody listens on, starts a fresh driver
as without it. It ends with the process that started it; after changing orch or Airflow, start a new one. The test
suite keeps one per test process (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
from typing import Optional

ENV = "ORCH_AIRFLOW_WARM"
_SIZE = 1 << 20  # a request: the driver's arguments, its environment and folder


def _settings(env) -> dict:
    """What Airflow reads once, at import: a run must share it with the warm process."""
    return {key: value for key, value in env.items() if key in ("AIRFLOW_HOME", "AIRFLOW_CONFIG") or key.startswith("AIRFLOW__")}


class WarmDriver:
    """The forked driver, as `subprocess.Popen` would give it to run.py: its pid, its stdout, wait and kill."""

    def __init__(self, connection: socket.socket, pid: int, stdout):
        self.connection, self.pid, self.stdout, self.returncode = connection, pid, stdout, None

    def wait(self) -> int:
        if self.returncode is None:
            said = self.connection.recv(64)  # the driver's exit status; nothing if it was killed
            self.returncode = int(said) if said else -signal.SIGKILL
            self.connection.close()
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start(arguments: list[str], env: dict, stderr) -> Optional[WarmDriver]:
    """The driver with `arguments` forked from the warm process named by $ORCH_AIRFLOW_WARM; None where there is
    none to reach, or its Airflow settings are not this run's."""
    path = os.environ.get(ENV)
    if not path:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    read, write = os.pipe()
    request = json.dumps({"arguments": arguments, "env": env, "cwd": os.getcwd()}).encode()
    try:
        socket.send_fds(connection, [request], [write, stderr.fileno()])
        said = json.loads(connection.recv(_SIZE) or b"{}")
    except OSError:
        said = {}
    finally:
        os.close(write)
    if "pid" not in said:
        os.close(read)
        connection.close()
        return None
    return WarmDriver(connection, said["pid"], os.fdopen(read, "r", encoding="utf-8"))


def serve(path: str) -> None:
    """Listen first (runs that come while Airflow warms wait for it), warm, then fork a driver per request."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    os.chmod(path, 0o600)  # a request runs code as this user: only this user may make one
    listener.listen(16)
    _warm()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the drivers
    own = _settings(os.environ)
    listener.settimeout(2)
    try:
        while os.getppid() == parent:  # it ends with the process that started it (a shell, a test session)
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            _answer(listener, connection, own)
    finally:
        os.unlink(path)


def _answer(listener: socket.socket, connection: socket.socket, own: dict) -> None:
    """Fork the driver a request asks for, or answer {} (the client starts a fresh one)."""
    fds = []
    try:
        message, fds, _, _ = socket.recv_fds(connection, _SIZE, 2)
        request = json.loads(message)
        if len(fds) != 2 or _settings(request["env"]) != own or _peer_uid(connection) != os.getuid():
            connection.sendall(b"{}")
        elif os.fork() == 0:
            listener.close()
            _drive(connection, request, fds)
    except (OSError, ValueError):
        pass
    finally:
        for fd in fds:
            os.close(fd)
        connection.close()


def _peer_uid(connection: socket.socket) -> int:
    pid_uid_gid = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", pid_uid_gid)[1]


def _warm() -> None:
    """Import what every run imports, and build the in-process execution API's routes (Airflow builds them on
    its first request: each fork would build them again)."""
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    from . import driver  # noqa: F401

    app = in_process_api_server().app
    if not getattr(app, "_cadwyn_initialized", True):
        app._cadwyn_initialize()


def _drive(connection: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the run's driver -- its stdout and stderr, environment, folder and path -- run
    driver.main, and say how it exited."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the driver waits for its own children
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd in (*fds, null):  # no copy of the run's stdout may outlive the driver in a step's process
        os.close(fd)
    connection.sendall(json.dumps({"pid": os.getpid()}).encode())
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[:0] = [entry for entry in request["env"].get("PYTHONPATH", "").split(os.pathsep) if entry]
        sys.argv = ["driver", *request["arguments"]]
        from airflow import settings

        from . import driver

        settings.reconfigure_orm()  # never the warm process's connections
        driver.main()
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            connection.sendall(str(code).encode())
        finally:
            os._exit(code)


def main() -> None:
    """`python -m orch.backends.airflow.warm SOCKET`: with the environment `orch run` gives Airflow (its home from
    $ORCH_AIRFLOW_HOME or $ORCH_HOME), and off the path the folder it was started in (each run puts its own)."""
    from .run import airflow_env, airflow_home

    os.environ.update(airflow_env(airflow_home(), None))
    sys.path[:] = [entry for entry in sys.path if entry not in ("", os.getcwd())]
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
