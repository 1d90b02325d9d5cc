"""`orch validate SPEC...`: check specs; every problem located, exit 2 on any."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import typer

from orch.core.errors import OrchError, SpecError
from orch.core.load import load_spec

from .output import say, warn


def validate(
    specs: List[Path] = typer.Argument(..., help="specs: YAML files, Python files[:NAME] or module:NAME",
                                       show_default=False),
    as_json: bool = typer.Option(False, "--json", help="print diagnostics as JSON on stdout"),
) -> None:
    """Validate pipeline specs: fields, names, references, conditions and the graph."""
    results, failed = [], False
    for spec in specs:
        try:
            graph = load_spec(spec)
        except SpecError as error:
            failed = True
            results.append({"spec": str(spec), "valid": False, "errors": [d.to_dict() for d in error.diagnostics]})
            if not as_json:
                warn(str(error))
            continue
        except OrchError as error:
            failed = True
            results.append({"spec": str(spec), "valid": False, "errors": [{"message": str(error)}]})
            if not as_json:
                warn(str(error))
            continue
        results.append({"spec": str(spec), "valid": True, "pipeline": graph.pipeline.name, "steps": len(graph.pipeline.steps)})
        if not as_json:
            say(f"ok: {spec}: pipeline {graph.pipeline.name!r}, {_counted(graph.pipeline)}")
    if as_json:
        say(json.dumps(results if len(results) > 1 else results[0], indent=2))
    if failed:
        raise typer.Exit(2)


def _counted(pipeline) -> str:
    """`5 steps`, and the groups and finally steps beside them when there are any: what `orch run` shows."""
    counts = [(len(pipeline.steps), "step"), (len(pipeline.groups), "group"), (len(pipeline.finally_), "finally step")]
    return ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for i, (n, what) in enumerate(counts) if n or i == 0)
