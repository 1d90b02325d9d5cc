"""Where the CLI writes: results to stdout, diagnostics to stderr, one `abort` for expected failures."""

from __future__ import annotations

import typer

from orch.core.errors import OrchError


def say(text: str) -> None:
    typer.echo(text)


def warn(text: str) -> None:
    typer.echo(text, err=True)


def abort(text: str, code: int = 2) -> "typer.Exit":
    """Print `text` to stderr and leave with `code`: raise the returned Exit."""
    warn(text)
    return typer.Exit(code)


def report(error: OrchError) -> int:
    """Print an expected error as the user should read it; return its exit code."""
    warn(str(error))
    return error.exit_code
