"""`orch render SPEC --backend B`: the backend's files, to stdout or a folder, whole or not at all.

Before anything is rendered, every feature the pipeline uses is checked against what the backend
can express (backends/capabilities.py): approximations are warnings on stderr (stdout may carry
the files), and any refusal stops the render with all of them, nothing written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from orch.core.errors import MAX_SHOWN, SpecError, UsageError

from .files import write_all_atomically
from .output import say, warn


def render(
    spec: Path = typer.Argument(..., help="spec: a YAML file (- for stdin), a Python file[:NAME] or module:NAME",
                                show_default=False),
    backend: str = typer.Option(..., "--backend", "-b", help="argo, prefect, airflow, or all (a folder each)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write the files into this folder"),
    kind: Optional[str] = typer.Option(None, "--kind", help="argo: workflow, template or cron"),
    target: Optional[str] = typer.Option(None, "--target", help="airflow: python (default) or kubernetes"),
) -> None:
    """Render the pipeline for an orchestrator: files a team can read, commit and run without orch."""
    from orch.core.load import load_spec

    graph = load_spec(spec)
    if kind not in (None, "workflow", "template", "cron"):
        raise UsageError(f"--kind takes workflow, template or cron, not {kind!r}")
    if target is not None and backend not in ("airflow", "all"):
        raise UsageError("--target is Airflow's (python or kubernetes)")
    if target not in (None, "python", "kubernetes"):
        raise UsageError(f"--target takes python or kubernetes, not {target!r}")
    if backend == "all" and out is None:
        raise UsageError("--backend all writes a folder per backend: give --out DIR")
    names = RENDERERS if backend == "all" else (backend,)
    options = {"argo": {"kind": kind}, "airflow": {"target": target} if target else {}}
    implementations = {name: _renderer(name) for name in names}
    for name in names:  # every backend's refusals before anything is rendered
        check_capabilities(graph, name, target if name == "airflow" else None)
    code = _packed_code(graph, spec)
    if code is not None:
        for name in names:
            options.setdefault(name, {})["code"] = code
    files = {name: implementations[name].render(graph, **options.get(name, {})) for name in names}
    if out is None:
        say("---\n".join(artifact.text for artifact in files[backend]).rstrip("\n"))
        return
    folders = {name: out / name if backend == "all" else out for name in names}
    write_all_atomically({folders[name] / a.path: a.text.encode("utf-8") for name in names for a in files[name]})
    for name in names:
        for artifact in files[name]:
            say(f"wrote {folders[name] / artifact.path}")


RENDERERS = ("argo", "prefect", "airflow")  # what `--backend all` renders


def _packed_code(graph, spec: Path):
    """The packed code a shipping pipeline's files name (packed here, uploaded by `orch run` or `orch deploy`)."""
    from orch.backends.shipping import ship

    shipped = ship(graph, str(spec), None, say=warn)
    if shipped is not None:
        warn(f"code: {shipped.archive} must be at {_code_destination(graph, shipped.sha256)} before the files run "
             "(orch run uploads it there; Argo reads it from its artifact repository under the same path)")
    return shipped


def _code_destination(graph, sha: str) -> str:
    """Where the rendered files look for the code: in $ORCH_ARTIFACTS or the spec's store when one is named (the
    workers' own $ORCH_ARTIFACTS may say otherwise), else in whatever store the workers are given."""
    from orch.core.artifacts import choose_store, code_uri, spec_store

    try:
        store, origin = choose_store(None, spec_store(graph.pipeline))
    except ValueError:
        origin = "the default"
    return code_uri(store, sha) if origin != "the default" else f"<the workers' store>/code/{sha}.tar.gz"


def _renderer(name: str):
    from orch.backends.registry import get

    implementation = get(name).load(to_render=True)
    if not hasattr(implementation, "render"):
        raise UsageError(f"the {name} backend does not render files")
    return implementation


def check_capabilities(graph, backend: str, target: str | None, warnings: bool = True) -> None:
    """Every gap between the pipeline and the backend: approximations warned (unless not `warnings`),
    refusals raised all at once, before anything is rendered or run."""
    from orch.backends.capabilities import as_warning, check

    report = check(graph, backend, target)
    for diagnostic in report.approximated[:MAX_SHOWN] if warnings else ():
        warn(as_warning(diagnostic))
    if warnings and len(report.approximated) > MAX_SHOWN:  # a default's approximation on 10,000 steps: not 10,000 lines
        warn(f"... and {len(report.approximated) - MAX_SHOWN} more warnings")
    if report.refused:
        raise SpecError(report.refused)
