"""Pictures of a pipeline: Mermaid and Graphviz DOT text, and SVG/PNG through Graphviz's `dot`.

Solid edges carry outputs (labelled with their names); dashed edges are `after` ordering.
A step with a condition, a trigger or a fan-out says so under its name.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from .errors import BackendUnavailable, OrchError
from .graph import PipelineGraph
from .spec import Step

IMAGE_FORMATS = ("svg", "png")
FORMATS = ("mermaid", "dot") + IMAGE_FORMATS


def step_label(name: str, step: Step) -> list[str]:
    lines = [name, step.python or " ".join(step.command or [])]
    if step.foreach is not None:
        lines.append("foreach" + (f" (parallelism {step.parallelism})" if step.parallelism else ""))
    if step.trigger and step.trigger != "all_succeeded":
        lines.append(f"trigger: {step.trigger}")
    if step.when:
        lines.append(f"when: {step.when}")
    return [_shorten(line) for line in lines]


def _edges(graph: PipelineGraph) -> list[tuple[str, str, str | None]]:
    """(upstream, downstream, label) once per pair; label None for pure ordering."""
    labels: dict[tuple[str, str], list[str]] = {}
    for edge in graph.edges:
        outputs = labels.setdefault((edge.upstream, edge.downstream), [])
        if edge.output and edge.output not in outputs:
            outputs.append(edge.output)
    return [(u, d, ", ".join(out) or None) for (u, d), out in labels.items()]


def to_mermaid(graph: PipelineGraph) -> str:
    ids = {name: f"s{i}" for i, name in enumerate(graph.pipeline.steps)}
    lines = ["flowchart TD"]
    for name, step in graph.pipeline.steps.items():
        text = "<br/>".join(_mermaid_text(line) for line in step_label(name, step))
        lines.append(f'  {ids[name]}["{text}"]')
    for upstream, downstream, label in _edges(graph):
        arrow = f'-->|"{_mermaid_text(label)}"|' if label else "-.->"
        lines.append(f"  {ids[upstream]} {arrow} {ids[downstream]}")
    return "\n".join(lines) + "\n"


def to_dot(graph: PipelineGraph) -> str:
    lines = [
        f"digraph {_dot_string(graph.pipeline.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for name, step in graph.pipeline.steps.items():
        style = ', style="rounded,dashed"' if step.when else ""
        lines.append(f"  {_dot_string(name)} [label={_dot_string(chr(10).join(step_label(name, step)))}{style}];")
    for upstream, downstream, label in _edges(graph):
        attrs = f"label={_dot_string(label)}" if label else "style=dashed"
        lines.append(f"  {_dot_string(upstream)} -> {_dot_string(downstream)} [{attrs}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_image(graph: PipelineGraph, fmt: str) -> bytes:
    """SVG or PNG bytes drawn by Graphviz's `dot` program."""
    dot = shutil.which("dot")
    if dot is None:
        raise BackendUnavailable(
            "Graphviz's 'dot' program is not installed, so svg and png cannot be drawn; "
            "install Graphviz (apt-get install graphviz, brew install graphviz) or use --format mermaid or dot"
        )
    result = subprocess.run([dot, f"-T{fmt}"], input=to_dot(graph).encode(), capture_output=True, check=False)
    if result.returncode != 0:
        raise OrchError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mermaid_text(text: str) -> str:
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _dot_string(text: str) -> str:
    """A DOT quoted string: JSON's escaping of quotes and backslashes is DOT's too."""
    return json.dumps(text, ensure_ascii=False)
