"""Pictures of a pipeline: Mermaid and Graphviz DOT text, and SVG/PNG through Graphviz's `dot`.

Solid edges carry outputs (labelled with their names); dashed edges are `after` ordering.
A step with a condition, a trigger or a fan-out says so under its name; a group is a cluster
around its steps, saying the same of itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from .errors import BackendUnavailable, OrchError
from .graph import PipelineGraph
from .groups import children, inside, local, members, scopes
from .spec import Step

IMAGE_FORMATS = ("svg", "png")
FORMATS = ("mermaid", "dot") + IMAGE_FORMATS


def step_label(name: str, step: Step) -> list[str]:
    return [_shorten(line) for line in [name, step.python or " ".join(step.command or []), *_traits(step)]]


def group_label(name: str, group) -> list[str]:
    return [_shorten(line) for line in [local(name), *_traits(group)]]


def _traits(node) -> list[str]:
    """What a step or group says under its name: its fan-out, trigger and condition."""
    lines = []
    if node.foreach is not None:
        lines.append("foreach" + (f" (parallelism {node.parallelism})" if node.parallelism else ""))
    if node.trigger and node.trigger != "all_succeeded":
        lines.append(f"trigger: {node.trigger}")
    if node.when:
        lines.append(f"when: {node.when}")
    return lines


def drawn_edges(graph: PipelineGraph) -> list[tuple[str, str, str | None]]:
    """(upstream, downstream, label) once per pair; label None for pure ordering. An end inside a group that the
    other end is not inside is that group (the outermost such): one edge into or out of a cluster, not one per step."""
    labels: dict[tuple[str, str], list[str]] = {}
    for edge in [*graph.edges, *graph.final_edges]:
        upstream, downstream = _end(edge.upstream, edge.downstream), _end(edge.downstream, edge.upstream)
        outputs = labels.setdefault((upstream, downstream), [])
        if edge.output and edge.output not in outputs:
            outputs.append(edge.output)
    return [(u, d, ", ".join(out) or None) for (u, d), out in labels.items()]


def _end(name: str, other: str) -> str:
    outer = [g for g in reversed(list(scopes(name))) if g and not inside(other, g)]
    return outer[0] if outer else name


def _scoped(graph: PipelineGraph, node, open_group, close_group, scope: str = "", depth: int = 1) -> list[str]:
    """Lines for the steps of `scope`, each group's inside its cluster (opened and closed by the callbacks)."""
    pipeline, lines = graph.pipeline, []
    for name in children(pipeline, scope) if pipeline.groups else pipeline.steps:
        if name in pipeline.groups:
            lines.append(open_group(name, pipeline.groups[name], depth))
            lines += _scoped(graph, node, open_group, close_group, name, depth + 1)
            lines.append(close_group(depth))
        else:
            lines.append("  " * depth + node(name, pipeline.steps[name]))
    return lines


def to_mermaid(graph: PipelineGraph) -> str:
    ids = {name: f"s{i}" for i, name in enumerate(graph.pipeline.steps)}
    groups = {name: f"g{i}" for i, name in enumerate(graph.pipeline.groups)}
    lines = ["flowchart TD"]
    lines += _scoped(
        graph,
        lambda name, step: f'{ids[name]}["{"<br/>".join(_mermaid_text(t) for t in step_label(local(name), step))}"]',
        lambda name, group, depth: "  " * depth + f'subgraph {groups[name]}["{"<br/>".join(_mermaid_text(t) for t in group_label(name, group))}"]',
        lambda depth: "  " * depth + "end")
    ids.update(groups)
    final = graph.pipeline.finally_
    if final:
        ids.update({name: f"f{i}" for i, name in enumerate(final)})
        lines.append(f'  subgraph fin["{_mermaid_text(FINALLY)}"]')
        lines += [f'    {ids[n]}["{"<br/>".join(_mermaid_text(t) for t in step_label(n, step))}"]' for n, step in final.items()]
        lines.append("  end")
    for upstream, downstream, label in drawn_edges(graph):
        arrow = f'-->|"{_mermaid_text(label)}"|' if label else "-.->"
        lines.append(f"  {ids[upstream]} {arrow} {ids[downstream]}")
    return "\n".join(lines) + "\n"


FINALLY = "finally: after every step, whatever happened"


def to_dot(graph: PipelineGraph) -> str:
    lines = [
        f"digraph {_dot_string(graph.pipeline.name)} {{",
        "  rankdir=TB;" + (" compound=true;" if graph.pipeline.groups else ""),
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    def node(name: str, step: Step) -> str:
        style = ', style="rounded,dashed"' if step.when else ""
        return f"{_dot_string(name)} [label={_dot_string(chr(10).join(step_label(local(name), step)))}{style}];"

    def cluster(name: str, group, depth: int) -> str:
        style = "dashed" if group.when else "rounded"
        return "  " * depth + (f"subgraph {_dot_string('cluster_' + name)} {{ label={_dot_string(chr(10).join(group_label(name, group)))}; "
                               f'style="{style}";')

    lines += _scoped(graph, node, cluster, lambda depth: "  " * depth + "}")
    pipeline = graph.pipeline
    if pipeline.finally_:
        lines.append(f'  subgraph "cluster_finally" {{ label={_dot_string(FINALLY)}; style="dashed";')
        lines += ["    " + node(name, step) for name, step in pipeline.finally_.items()]
        lines.append("  }")
    for upstream, downstream, label in drawn_edges(graph):
        attrs = [f"label={_dot_string(label)}" if label else "style=dashed"]
        ends = []
        for end, side in ((upstream, "ltail"), (downstream, "lhead")):
            if end in pipeline.groups:  # drawn to the cluster's edge, from one of its steps
                attrs.append(f"{side}={_dot_string('cluster_' + end)}")
                end = members(pipeline, end)[0]
            ends.append(end)
        lines.append(f"  {_dot_string(ends[0])} -> {_dot_string(ends[1])} [{', '.join(attrs)}];")
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
