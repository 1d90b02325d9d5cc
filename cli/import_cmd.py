"""`orch import argo|airflow SOURCE [-o OUT] [--report FILE]`: existing pipelines in, each with its fidelity report.

The spec goes to stdout (so `orch import argo wf.yaml | orch render - -b airflow` migrates in one line) or to
OUT, whole or not at all; the report's table goes to stderr, its JSON to `--report`. Exit 0 when every field
mapped and the behaviour check found no difference, 1 when anything was approximated or unsupported (the specs
are still written: a migration starts from them), 2 for input that is not a pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from orch.core.errors import UsageError

from .files import write_all_atomically
from .output import say, warn

IMPORTERS = ("argo", "airflow")


def import_(
    engine: str = typer.Argument(..., help="argo or airflow", show_default=False),
    source: Path = typer.Argument(..., help="an Argo manifest (Workflow, WorkflowTemplate, CronWorkflow) or an "
                                  "Airflow DAG file, or a folder of them", show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write the spec to this file, or the specs into "
                                       "this folder (NAME.yaml each); stdout when one pipeline and no --out"),
    report: Optional[Path] = typer.Option(None, "--report", help="write the fidelity report as JSON to this file"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="only each pipeline's summary line, no table"),
) -> None:
    """Import pipelines written for Argo or Airflow as orch specs, every source field accounted for."""
    from orch.core.fidelity import reports_json

    if engine not in IMPORTERS:
        raise UsageError(f"orch import takes argo or airflow, not {engine!r}")
    if not source.exists():
        raise UsageError(f"{source} not found")
    imported = _importer(engine).import_(source)
    if not imported:
        raise UsageError(f"no pipeline found in {source}")
    files = _destinations(imported, out)
    if report is not None:
        files[report] = reports_json(i.report for i in imported).encode("utf-8")
    for one in imported:
        show_report(one.report, quiet)
    if out is None:
        say(imported[0].text.rstrip("\n"))
    if files:
        write_all_atomically(files)
        for path in files:
            warn(f"wrote {path}")
    raise typer.Exit(max(one.report.exit_code() for one in imported))


def _importer(engine: str):
    """The engine's importer; Airflow's needs Airflow itself, which reads the DAG files (exit 3 without it)."""
    import importlib.util

    from orch.core.errors import BackendUnavailable

    if engine == "argo":
        from orch.backends.argo import importer
    else:
        if importlib.util.find_spec("airflow") is None:
            raise BackendUnavailable("orch import airflow needs Airflow, which loads the DAG files: "
                                     "pip install 'orch[airflow]'")
        from orch.backends.airflow import importer
    return importer


def _destinations(imported: list, out: Optional[Path]) -> dict[Path, bytes]:
    """Where each spec goes: stdout (one, no --out), OUT itself (one, OUT a .yaml file), else OUT/NAME.yaml."""
    if out is None:
        if len(imported) > 1:
            names = ", ".join(i.name for i in imported[:5]) + (", …" if len(imported) > 5 else "")
            raise UsageError(f"{len(imported)} pipelines found ({names}): give --out DIR to write one file each")
        return {}
    if len(imported) == 1 and out.suffix in (".yaml", ".yml"):
        return {out: imported[0].text.encode("utf-8")}
    seen: dict[str, int] = {}
    files = {}
    for one in imported:
        count = seen[one.name] = seen.get(one.name, 0) + 1
        files[out / (f"{one.name}.yaml" if count == 1 else f"{one.name}-{count}.yaml")] = one.text.encode("utf-8")
    return files


def show_report(report, quiet: bool = False) -> None:
    """The report as a person reads it, on stderr: a summary line, then every field not mapped exactly and the
    behaviour check's differences."""
    from rich.console import Console
    from rich.table import Table

    from orch.core.fidelity import MAPPED

    import sys

    console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)
    warn(report.headline())
    rows = [e for e in report.entries if e.status != MAPPED]
    if quiet:
        return
    if rows:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("where", "field", "status", "what differs / why"):
            table.add_column(column, overflow="fold")
        for entry in rows:
            where = f"{entry.line}:{entry.col}" if entry.line is not None else "-"
            table.add_row(where, entry.path, entry.status, entry.note)
        console.print(table)
    for difference in report.behaviour.differences:
        console.print(f"  {difference}", markup=False)
