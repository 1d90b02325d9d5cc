"""`orch ui [--host 127.0.0.1] [--port N] [--home DIR] [-b prefect|airflow|argo --spec SPEC [--server URL]]`: the run
pages in a browser, served from orch's records (and a deployed pipeline's runs on its server, cli/ui/servers.py).

The web stack (starlette, uvicorn, Jinja2) is the optional extra orch[ui], imported only here, when the
command runs: `orch --help` and every other command start without it; without it this is exit 3.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from typing import Optional

import typer

from orch.core.errors import BackendUnavailable, UsageError

from .output import say

LOOPBACK = ("127.0.0.1", "localhost")


def ui(
    host: str = typer.Option("127.0.0.1", "--host", help="the address to listen on (the default: this machine only)"),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="the port; 0 picks a free one"),
    home: Optional[Path] = typer.Option(None, "--home", help="the records to show (default: $ORCH_HOME, else .orch)",
                                        show_default=False),
    backend: str = typer.Option("local", "--backend", "-b", help="also show a deployed pipeline's runs from its "
                                "server: prefect, airflow or argo (with --spec)"),
    spec: Optional[Path] = typer.Option(None, "--spec", help="the deployed pipeline's spec (with --backend)",
                                        show_default=False),
    server: Optional[str] = typer.Option(None, "--server", help="the server's URL; else PREFECT_API_URL, "
                                         "AIRFLOW_API_URL or ARGO_SERVER", show_default=False),
) -> None:
    """Serve the runs, their graphs, timelines, logs and artifacts as local web pages (Ctrl-C stops it)."""
    missing = [name for name in ("starlette", "uvicorn", "jinja2") if importlib.util.find_spec(name) is None]
    if missing:
        raise BackendUnavailable(f"orch ui needs {', '.join(missing)}: pip install 'orch[ui]'")
    import uvicorn

    from orch.backends.local.state import Store, orch_home

    from .ui.app import create_app

    if home is not None and not home.is_dir():
        raise UsageError(f"--home {home}: no such folder (the records of `orch run` are in its ORCH_HOME, else .orch)")
    served = None
    if backend != "local" or spec is not None or server is not None:
        from .ui.servers import ServerRuns

        if backend == "local" or spec is None:
            raise UsageError("orch ui shows a server's runs with --backend prefect|airflow|argo and --spec SPEC together")
        served = ServerRuns.open(backend, spec, server)  # a backend with no server or a bad spec: exit 2 now
    where = Path(home) if home is not None else orch_home()
    Store(where).close()  # a folder orch cannot keep records in is exit 3 now, not a 500 on the first page
    listener = _listen(host, port)
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    allowed = ["127.0.0.1", "localhost"] if host in LOOPBACK else None  # (a request to [::1] is not told apart)
    app = create_app(where, allowed_hosts=allowed, server=served)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, access_log=False, lifespan="off")
    also = f" and {served.where()}" if served is not None else ""
    say(f"orch ui: http://{shown}:{bound}/  (runs in {where.resolve()}{also}; Ctrl-C stops it)")
    uvicorn.Server(config).run(sockets=[listener])


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the address is printed (so a port of 0 is known, and taken)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except (OSError, UnicodeError) as err:
        raise UsageError(f"orch ui cannot listen on {host}:{port}: {getattr(err, 'strerror', None) or err}") from None
    return listener
