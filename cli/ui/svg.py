"""The pipeline graph as SVG, laid out here (no Graphviz needed): the edges `orch graph` draws.

Each scope (the pipeline, a group) is laid out as rows of its own nodes, one row per topological
layer of the edges lifted into it (core/groups.scope_edges); a group is a box holding its scope's
layout; finally steps sit in a box of their own under everything. Edges are core/diagram.py's:
solid with the output names for data, dashed for `after`, ending on a cluster when they cross one.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Callable, Optional

from orch.core.diagram import FINALLY, drawn_edges, step_label
from orch.core.groups import children, local, scope_edges

NODE_W, NODE_H = 176, 46
TRAIT_H = 14  # a line under the state for a step's foreach, trigger or condition (as `orch graph` writes them)
GAP_X, GAP_Y = 28, 54
PAD, LABEL_H = 14, 22
MARGIN = 16


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    def moved(self, dx: float, dy: float) -> "Box":
        return Box(self.x + dx, self.y + dy, self.w, self.h)


@dataclass
class Layout:
    nodes: dict[str, Box]
    clusters: dict[str, Box]
    final: Optional[Box]
    width: float
    height: float


def layout(graph) -> Layout:
    pipeline = graph.pipeline
    lifted = scope_edges(graph)
    nodes: dict[str, Box] = {}
    clusters: dict[str, Box] = {}

    def kids(scope: str) -> list[str]:
        return children(pipeline, scope) if pipeline.groups else list(pipeline.steps)

    def label_width(text: str) -> float:
        return len(text) * 6.8 + 2 * PAD  # (12px text)

    def place(scope: str, names: list[str], waits: dict[str, list[str]]) -> tuple[dict[str, Box], float, float]:
        """Boxes of `names` relative to the scope's corner (a group's inside laid out first), and the size."""
        inner: dict[str, tuple[dict[str, Box], float]] = {}
        sizes = {}
        for name in names:
            if name in pipeline.groups:
                boxes, width, height = place(name, kids(name), lifted.get(name, {}))
                inner[name] = (boxes, width)
                title = " · ".join(_group_traits(name, pipeline.groups[name]))
                sizes[name] = (max(width + 2 * PAD, label_width(title)), height + 2 * PAD + LABEL_H)
            else:
                sizes[name] = (NODE_W, NODE_H + (TRAIT_H if _traits(pipeline.all_steps[name]) else 0))
        rows = _layers(names, waits)
        placed: dict[str, Box] = {}
        widths = [sum(sizes[n][0] for n in row) + GAP_X * (len(row) - 1) for row in rows]
        width = max(widths, default=0)
        y = 0.0
        for row, row_width in zip(rows, widths):
            row = _by_barycenter(row, waits, placed)
            x = (width - row_width) / 2
            height = max(sizes[n][1] for n in row)
            for name in row:
                w, h = sizes[name]
                placed[name] = Box(x, y, w, h)
                x += w + GAP_X
            y += height + GAP_Y
        total_height = max(y - GAP_Y, 0)
        for name, box in list(placed.items()):
            if name in inner:
                boxes, inner_width = inner[name]
                for child, child_box in boxes.items():
                    placed[child] = child_box.moved(box.x + (box.w - inner_width) / 2, box.y + PAD + LABEL_H)
        return placed, width, total_height

    placed, width, height = place("", kids(""), lifted.get("", {}))
    final = None
    if pipeline.finally_:
        names = list(pipeline.finally_)
        waits = {name: graph.final_upstream(name) for name in names}
        boxes, f_width, f_height = place("\0finally", names, waits)
        top = height + (GAP_Y if placed else 0)
        final = Box(0, top, max(f_width + 2 * PAD, label_width(FINALLY)), f_height + 2 * PAD + LABEL_H)
        width = max(width, final.w)
        final.x = (width - final.w) / 2
        inset = (final.w - f_width) / 2
        for name, box in boxes.items():
            placed[name] = box.moved(final.x + inset, top + PAD + LABEL_H)
        height = top + final.h
    for name, box in placed.items():
        (clusters if name in pipeline.groups else nodes)[name] = box.moved(MARGIN, MARGIN)
    if final is not None:
        final = final.moved(MARGIN, MARGIN)
    return Layout(nodes, clusters, final, width + 2 * MARGIN, height + 2 * MARGIN)


def _layers(names: list[str], waits: dict[str, list[str]]) -> list[list[str]]:
    """Rows by longest path from the scope's roots (acyclic: validated), each in spec order."""
    depth: dict[str, int] = {}
    known = set(names)

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 0  # (acyclic; a guard against a loop in a spec that no longer validates)
            depth[name] = 1 + max((of(u) for u in waits.get(name, ()) if u in known), default=-1)
        return depth[name]

    rows: dict[int, list[str]] = {}
    for name in names:
        rows.setdefault(of(name), []).append(name)
    return [rows[level] for level in sorted(rows)]


def _by_barycenter(row: list[str], waits: dict[str, list[str]], placed: dict[str, Box]) -> list[str]:
    """A row ordered under the nodes it waits for (fewer crossings); spec order for the rest."""
    def center(name: str) -> float:
        ups = [placed[u] for u in waits.get(name, ()) if u in placed]
        return sum(b.x + b.w / 2 for b in ups) / len(ups) if ups else float("inf")

    position = {name: i for i, name in enumerate(row)}
    return sorted(row, key=lambda n: (center(n), position[n]) if center(n) != float("inf") else (float("inf"), position[n]))


def to_svg(graph, states: dict[str, str], link: Callable[[str], str], attempts: Optional[dict[str, int]] = None) -> str:
    """The `<svg id="graph">`: nodes `g.node[data-step][data-state]`, clusters `g.cluster[data-group]`, edges
    `path.edge.data` / `path.edge.after`; `link(step)` is where a node leads."""
    shape = layout(graph)
    pipeline, attempts = graph.pipeline, attempts or {}
    out = [f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {shape.width + 40:.0f} {shape.height:.0f}" '
           f'width="{shape.width + 40:.0f}" height="{shape.height:.0f}" role="img" aria-label="pipeline graph">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>']
    for name, box in sorted(shape.clusters.items(), key=lambda kv: kv[0].count(".")):
        group = pipeline.groups[name]
        dashed = " conditional" if group.when else ""
        title = escape(" · ".join(_group_traits(name, group)))
        out.append(f'<g class="cluster{dashed}" data-group="{escape(name)}" data-state="{escape(states.get(name, "pending"))}">'
                   f'<title>{title}</title>{_rect(box, 10)}<text class="cluster-label" x="{box.x + 10:.1f}" '
                   f'y="{box.y + 16:.1f}">{escape(title)}</text></g>')
    if shape.final is not None:
        box = shape.final
        out.append(f'<g class="finally-box">{_rect(box, 10)}<text class="cluster-label" x="{box.x + 10:.1f}" '
                   f'y="{box.y + 16:.1f}">{escape(FINALLY)}</text></g>')
    boxes = {**shape.nodes, **shape.clusters}
    for upstream, downstream, label in drawn_edges(graph):
        if upstream in boxes and downstream in boxes:
            out.append(_edge(boxes[upstream], boxes[downstream], upstream, downstream, label, list(shape.nodes.values())))
    for name, box in shape.nodes.items():
        step = pipeline.all_steps[name]
        state = states.get(name, "pending")
        tries = attempts.get(name, 0)
        detail = state + (f" · {tries} attempts" if tries > 1 else "")
        tip = escape("\n".join(step_label(name, step)))
        conditional = " conditional" if step.when else ""
        traits = " · ".join(_traits(step))
        trait = (f'<text class="trait" x="{box.x + box.w / 2:.1f}" y="{box.y + 51:.1f}">{escape(_short(traits, 30))}</text>'
                 if traits else "")
        out.append(f'<g class="node{conditional}" data-step="{escape(name)}" data-state="{escape(state)}">'
                   f'<a href="{escape(link(name))}"><title>{tip}</title>{_rect(box, 7)}'
                   f'<text class="name" x="{box.x + box.w / 2:.1f}" y="{box.y + 19:.1f}">{escape(_short(local(name), 22))}</text>'
                   f'<text class="state" x="{box.x + box.w / 2:.1f}" y="{box.y + 36:.1f}">{escape(detail)}</text>{trait}</a></g>')
    out.append("</svg>")
    return "".join(out)


def _traits(step) -> list[str]:
    """What a node says under its state: its fan-out, trigger and condition (core/diagram.py's words)."""
    return step_label("", step)[2:]


def _group_traits(name: str, group) -> list[str]:
    traits = [local(name)]
    if group.foreach is not None:
        traits.append("foreach" + (f" (parallelism {group.parallelism})" if group.parallelism else ""))
    if group.trigger and group.trigger != "all_succeeded":
        traits.append(f"trigger: {group.trigger}")
    if group.when:
        traits.append(f"when: {group.when}")
    return traits


def _rect(box: Box, radius: int) -> str:
    return f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="{radius}"/>'


def _edge(up: Box, down: Box, upstream: str, downstream: str, label: Optional[str], boxes: list[Box]) -> str:
    x1, y1 = up.x + up.w / 2, up.y + up.h
    x2, y2 = down.x + down.w / 2, down.y
    if y2 <= y1:  # (a box beside or above: leave from its side)
        x1, y1 = (up.x + up.w, up.y + up.h / 2) if x2 > x1 else (up.x, up.y + up.h / 2)
    bend = max(abs(y2 - y1) / 2, 20)
    in_way = [b for b in boxes if b is not up and b is not down and b.y > y1 and b.y + b.h < y2
              and b.x - 6 < max(x1, x2) and b.x + b.w + 6 > min(x1, x2)]
    if in_way:  # an edge past a row: around the boxes in its way, on their right
        side = max(b.x + b.w for b in in_way) + 14
        top, bottom = y1 + GAP_Y / 2, y2 - GAP_Y / 2
        path = (f"M{x1:.1f},{y1:.1f} C{x1:.1f},{top:.1f} {side:.1f},{y1:.1f} {side:.1f},{top:.1f} "
                f"L{side:.1f},{bottom:.1f} C{side:.1f},{y2:.1f} {x2:.1f},{bottom:.1f} {x2:.1f},{y2:.1f}")
        at_x, at_y = side + 4, (top + bottom) / 2
    else:
        path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}"
        at_x, at_y = (x1 + x2) / 2 + 4, (y1 + y2) / 2 + 4
    kind = "data" if label else "after"
    text = ""
    if label:
        text = f'<text class="edge-label" x="{at_x:.1f}" y="{at_y:.1f}">{escape(_short(label, 28))}</text>'
    return (f'<g class="edge-group"><path class="edge {kind}" data-from="{escape(upstream)}" data-to="{escape(downstream)}" '
            f'd="{path}" marker-end="url(#arrow)"/>{text}</g>')


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
