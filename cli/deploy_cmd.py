"""`orch deploy SPEC -b prefect|airflow|argo`: create or update the pipeline on a running server (or remove it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from orch.core.errors import UsageError

from .output import say
from .render_cmd import check_capabilities

SERVED = ("prefect", "airflow", "argo")
OWNER = {"--work-pool": "prefect", "--dags-folder": "airflow", "--target": "airflow", "--namespace": "argo"}


def deploy(
    spec: Path = typer.Argument(..., help="spec: a YAML file (- for stdin), a Python file[:NAME] or module:NAME",
                                show_default=False),
    backend: str = typer.Option(..., "--backend", "-b", help="prefect, airflow or argo", show_default=False),
    server: Optional[str] = typer.Option(None, "--server", help="the server's URL; else PREFECT_API_URL, AIRFLOW_API_URL "
                                         "or ARGO_SERVER"),
    work_pool: Optional[str] = typer.Option(None, "--work-pool", help="Prefect: the work pool its runs go to "
                                            "(else PREFECT_DEFAULT_WORK_POOL_NAME)"),
    dags_folder: Optional[Path] = typer.Option(None, "--dags-folder", help="Airflow: the DAGs folder the DAG "
                                               "processor reads (else AIRFLOW__CORE__DAGS_FOLDER)"),
    target: Optional[str] = typer.Option(None, "--target", help="Airflow: python (default) or kubernetes"),
    namespace: Optional[str] = typer.Option(None, "--namespace", help="Argo: the namespace (else ARGO_NAMESPACE, argo)"),
    artifacts: Optional[str] = typer.Option(None, "--artifacts", help="the store its runs use, written into the "
                                            "deployed file as the spec's artifacts.store would be"),
    paused: bool = typer.Option(False, "--paused", help="deploy with its schedule paused (Airflow: the DAG paused)"),
    delete: bool = typer.Option(False, "--delete", help="remove what deploy made instead"),
    as_json: bool = typer.Option(False, "--json", help="print what was done as JSON"),
) -> None:
    """Deploy a pipeline to a running server: a Prefect deployment, an Airflow DAG, an Argo WorkflowTemplate."""
    from orch.core.load import load_spec

    graph = with_store(load_spec(spec), artifacts)
    implementation = served(backend)
    given = {"--work-pool": work_pool, "--dags-folder": dags_folder, "--target": target, "--namespace": namespace}
    for flag, value in given.items():
        if value is not None and OWNER[flag] != backend:  # never silently ignored
            raise UsageError(f"{flag} is {OWNER[flag].capitalize()}'s, not {backend}'s")
    if target not in (None, "python", "kubernetes"):
        raise UsageError(f"--target takes python or kubernetes, not {target!r}")
    options = {"work_pool": work_pool, "dags_folder": str(dags_folder) if dags_folder else None, "paused": paused,
               "namespace": namespace, "target": target}
    act = implementation.undeploy if delete else implementation.deploy
    if not delete:
        check_capabilities(graph, backend, target)  # what the engine cannot express stops here, as for render
    from orch.backends.stores import store_in_env

    # --artifacts wins over this shell's $ORCH_ARTIFACTS, as for orch run (a backend picks env over the spec's store)
    with store_in_env(graph.pipeline.artifacts.store if artifacts else None):
        done = act(graph, spec_path=str(spec), server=server, options=options, say=lambda line: typer.echo(line, err=True))
    if as_json:
        say(json.dumps(done.to_dict(), indent=2))
        return
    for line in done.made:
        say(line)
    if not done.made:
        say(f"nothing of {graph.pipeline.name} was on {done.server}")


def with_store(graph, store: Optional[str]):
    """The graph with `store` as its spec's artifacts.store: a deployment's runs read the store from the deployed
    file (the server's $ORCH_ARTIFACTS still wins there, as it does over a spec's store)."""
    if store is None:
        return graph
    import dataclasses

    from orch.core.artifacts import normalized, store_problem
    from orch.core.spec import Artifacts

    problem = store_problem(store)
    if problem:
        raise UsageError(f"--artifacts: {problem[0]}\n  hint: {problem[1]}")
    artifacts = Artifacts(store=normalized(store))  # a folder made absolute: the server's processes have their own cwd
    return dataclasses.replace(graph, pipeline=graph.pipeline.model_copy(update={"artifacts": artifacts}))


def served(backend: str):
    """The backend's implementation, which can deploy to and read from a server (UsageError for local)."""
    from orch.backends.registry import get

    if backend not in SERVED:
        raise UsageError(f"--backend {backend!r}: deploy and --server take prefect, airflow or argo"
                         + (" (local runs need no server)" if backend == "local" else ""))
    return get(backend).load()
