"""`orch export SPEC [-o FILE]`: the YAML spec a pipeline built in Python stands for, to stdout or a file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .files import write_atomically
from .output import say


def export(
    spec: Path = typer.Argument(..., help="spec: a Python file[:NAME] or module:NAME (a YAML file is written back "
                                "normalized)", show_default=False),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write the YAML to this file (whole or not at all) "
                                       "instead of stdout"),
) -> None:
    """Write a pipeline as a YAML spec: it reads back as the same pipeline, for teams that review or commit YAML."""
    from orch.core.load import load_spec
    from orch.core.pyspec import spec_text

    text = spec_text(load_spec(spec).pipeline, str(spec))
    if out is None:
        say(text.rstrip("\n"))
        return
    write_atomically(out, text.encode("utf-8"))
    say(f"wrote {out}")
