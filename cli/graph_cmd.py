"""`orch graph SPEC`: draw the pipeline as Mermaid, DOT, SVG or PNG."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from orch.core import diagram
from orch.core.load import load_spec

from .files import write_atomically
from .output import abort, say


class GraphFormat(str, Enum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"
    png = "png"


def graph(
    spec: Path = typer.Argument(..., help="spec: a YAML file (- for stdin), a Python file[:NAME] or module:NAME",
                                show_default=False),
    fmt: GraphFormat = typer.Option(GraphFormat.mermaid, "--format", "-f", help="output format"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write to this file instead of stdout"),
) -> None:
    """Draw the pipeline's steps and edges (outputs on solid edges, 'after' dashed)."""
    pipeline_graph = load_spec(spec)
    if fmt.value in diagram.IMAGE_FORMATS:
        data = diagram.to_image(pipeline_graph, fmt.value)
    else:
        writer = diagram.to_mermaid if fmt is GraphFormat.mermaid else diagram.to_dot
        data = writer(pipeline_graph).encode()
    if out is not None:
        write_atomically(out, data)
        say(f"wrote {out}")
    elif fmt is GraphFormat.png and sys.stdout.isatty():
        raise abort("png is binary: give --out FILE.png or redirect stdout to a file")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
