"""`orch run SPEC`: run a pipeline (locally by default) and report the `RunResult`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from orch.core.errors import BackendUnavailable, RunInterrupted, UsageError

from .output import say
from .render_cmd import check_capabilities
from .summary import print_result


def run(
    spec: Optional[Path] = typer.Argument(None, help="spec: a YAML file, a Python file[:NAME] or module:NAME "
                                          "(optional with --resume)", show_default=False),
    backend: str = typer.Option("local", "--backend", "-b", help="local (default), prefect, airflow or argo"),
    param: List[str] = typer.Option([], "--param", "-p", help="KEY=VALUE, repeatable"),
    resume: Optional[str] = typer.Option(None, "--resume", help="rerun what did not succeed in this run"),
    as_json: bool = typer.Option(False, "--json", help="print only the RunResult JSON on stdout"),
    max_parallel: int = typer.Option(32, "--max-parallel", min=1, help="attempts running at once (local)"),
    artifacts: Optional[str] = typer.Option(None, "--artifacts", help="artifact store URL (s3://bucket/prefix, a folder); "
                                            "else $ORCH_ARTIFACTS, the spec's artifacts.store, $ORCH_HOME/artifacts"),
    secrets: Optional[Path] = typer.Option(None, "--secrets", help="a .env file of ORCH_SECRET_<SECRET>_<KEY>=value "
                                           "lines (wins over the environment)", show_default=False),
    server: Optional[str] = typer.Option(None, "--server", help="prefect, airflow, argo: run the pipeline deployed "
                                         "there (orch deploy) and read its result from the server"),
    deployed: bool = typer.Option(False, "--deployed", help="as --server, on the server PREFECT_API_URL, "
                                  "AIRFLOW_API_URL or ARGO_SERVER names"),
) -> None:
    """Run a pipeline. Exit 0 if it succeeded, 1 if it failed, 130 if interrupted (resumable)."""
    from orch.backends.registry import get
    from orch.backends.local.progress import choose
    from orch.core.load import load_spec

    if server is not None or deployed:
        return _run_deployed(spec, backend, server or "", param, as_json,
                             {"--resume": resume, "--artifacts": artifacts, "--secrets": secrets})
    spec = spec or _spec_of(resume)
    graph = load_spec(spec)
    implementation = get(backend).load()
    if not hasattr(implementation, "run"):
        raise BackendUnavailable(f"the {backend} backend cannot run pipelines yet (it renders them: orch render)")
    # what the engine cannot express stops the run before it starts; on this machine, what it ignores
    # (images, pod settings, the schedule) is the point of running here, not worth a warning each run
    check_capabilities(graph, backend, None, warnings=backend != "local")
    try:
        result = implementation.run(graph, parse_params(param), spec_path=str(spec), resume=resume,
                                    max_parallel=max_parallel, progress=choose(as_json), artifacts=artifacts,
                                    secrets=read_secrets(secrets))
    except RunInterrupted as stopped:
        if as_json and getattr(stopped, "result", None) is not None:
            say(stopped.result.to_json())  # what happened before the stop; the message goes to stderr, exit 130
        raise
    if as_json:
        say(result.to_json())
    else:
        print_result(result)
    raise typer.Exit(0 if result.status == "succeeded" else 1)


def _run_deployed(spec: Optional[Path], backend: str, server: str, param: List[str], as_json: bool,
                  refused: dict) -> None:
    """Trigger the deployed pipeline on its server, follow it there, report the server's record of it."""
    from orch.backends.local.progress import choose
    from orch.core.load import load_spec

    from .deploy_cmd import served

    for flag, value in refused.items():
        if value is not None:
            raise UsageError(f"{flag} is not for a deployed pipeline: {DEPLOYED_OWN[flag]}")
    if spec is None:
        raise UsageError("give the spec file of the deployed pipeline")
    graph = load_spec(spec)
    implementation = served(backend)
    result = implementation.run(graph, parse_params(param), spec_path=str(spec), server=server, progress=choose(as_json))
    if as_json:
        say(result.to_json())
    else:
        print_result(result)
    raise typer.Exit(0 if result.status == "succeeded" else 1)


DEPLOYED_OWN = {
    "--resume": "retry its failed tasks on the server (Prefect: a new flow run; Airflow: clear them; Argo: argo retry)",
    "--artifacts": "its store is the one it was deployed with (orch deploy with $ORCH_ARTIFACTS or the spec's "
                   "artifacts.store)",
    "--secrets": "its steps read the server's secrets (Prefect Secret blocks, Airflow Variables or Connections, "
                 "Kubernetes Secrets)",
}


def read_secrets(path: Optional[Path]) -> Optional[dict[str, str]]:
    """The variables of `--secrets FILE` (None without it); a file that cannot be read is exit 2, naming it."""
    if path is None:
        return None
    from orch.core.secrets import read_secrets_file

    try:
        with open(path, encoding="utf-8"):  # dotenv would read a missing file as empty
            pass
        return read_secrets_file(str(path))
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"--secrets {path}: cannot read it ({getattr(err, 'strerror', None) or err})") from None


def parse_params(pairs: List[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-p takes KEY=VALUE, not {pair!r}")
        values[key.strip()] = value
    return values


def _spec_of(run_id: Optional[str]) -> Path:
    if run_id is None:
        raise UsageError("give a spec file, or --resume RUN_ID")
    from orch.backends.local.state import Store

    store = Store()
    try:
        row = store.run_row(run_id)
    finally:
        store.close()
    if row is None or not row["spec_path"]:
        raise UsageError(f"no run {run_id!r} with a recorded spec; give the spec file too")
    return Path(row["spec_path"])
