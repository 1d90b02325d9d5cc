"""`orch backends`: the registered backends, whether each engine is installed, and its version."""

from __future__ import annotations

import json

import typer

from orch.backends.registry import all_backends

from .output import say


def backends(as_json: bool = typer.Option(False, "--json", help="print as JSON")) -> None:
    """List registered backends (entry-point group 'orch.backends') and their engines."""
    rows = []
    for backend in all_backends():
        version = backend.engine_version()
        rows.append({
            "name": backend.name,
            "engine": backend.engine or "orch (embedded)",
            "installed": version is not None,
            "version": version,
            "abilities": list(backend.abilities),
            "install": None if version else backend.install_hint(),
            "description": backend.description,
        })
    if as_json:
        say(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("backend", "engine", "version", "can", "description", box=None)
    for row in rows:
        version = row["version"] or f"[red]not installed[/red]: {escape(row['install'])}"
        table.add_row(row["name"], row["engine"], version, ", ".join(row["abilities"]) or "-", row["description"])
    Console().print(table)
