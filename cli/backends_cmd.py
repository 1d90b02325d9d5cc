"""`orch backends`: the registered backends, whether each engine is installed, and its version;
`--matrix`: what each can express, from the table `orch render` checks against."""

from __future__ import annotations

import json

import typer

from orch.backends.registry import all_backends

from .output import say


def backends(
    as_json: bool = typer.Option(False, "--json", help="print as JSON"),
    matrix: bool = typer.Option(False, "--matrix", help="print what each backend can express"),
    markdown: bool = typer.Option(False, "--markdown", help="with --matrix: as a Markdown table (docs/backends.md)"),
) -> None:
    """List registered backends (entry-point group 'orch.backends') and their engines."""
    if matrix or markdown:
        _matrix(markdown)
        return
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


def _matrix(markdown: bool) -> None:
    from orch.backends import capabilities

    if markdown:
        say(capabilities.markdown().rstrip("\n"))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    headings, rows, notes = capabilities.matrix()
    colours = {"exact": "green", "approx.": "yellow", "refused": "red"}
    table = Table(*(h.replace(" --target ", "\n--target ") for h in headings), box=None)
    for row in rows:
        cells = [f"[{colours[cell.split()[0]]}]{escape(cell)}[/]" for cell in row[1:]]
        table.add_row(escape(row[0].replace("`", "")), *cells)
    console = Console()
    console.print(table)
    for note in notes:
        console.print(escape(note), highlight=False)
