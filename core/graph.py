"""The pipeline as a graph: the one place that answers topology questions.

Backends ask this object (upstream, roots, leaves, order, joins) and never walk networkx
themselves, so every backend sees the same edges for the same spec. networkx is imported
on first use: `orch validate` needs only `is_acyclic`, which the standard library answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from .spec import Pipeline

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class Edge:
    """`downstream` depends on `upstream`, because of the field at `path` (ordering or a reference)."""

    upstream: str
    downstream: str
    path: tuple
    offset: int | None = None
    output: str | None = None  # the upstream output referred to; None for an 'after' edge


@dataclass
class PipelineGraph:
    pipeline: Pipeline
    edges: list[Edge] = field(default_factory=list)
    source: Any = None  # the spec's Source (yaml_source.py), so later stages locate their errors too
    final_edges: list[Edge] = field(default_factory=list)  # into finally steps: from steps (values) and finally steps

    def locate(self, diagnostic):
        """`diagnostic` placed at its field in the spec's text, when the spec came from a file."""
        if self.source is None:
            return diagnostic
        return self.source.diagnostic(diagnostic.code, diagnostic.message, diagnostic.path, diagnostic.hint)

    @cached_property
    def dag(self) -> "nx.DiGraph":
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self.pipeline.steps)
        graph.add_edges_from((e.upstream, e.downstream) for e in self.edges)
        return graph

    def upstream(self, step: str) -> list[str]:
        """Direct upstream steps, in spec order."""
        return self.in_spec_order(dict.fromkeys(e.upstream for e in self.edges_into(step)))

    def downstream(self, step: str) -> list[str]:
        return self.in_spec_order(self._downstream_of.get(step, {}))

    def ancestors(self, step: str) -> set[str]:
        import networkx as nx

        return nx.ancestors(self.dag, step)

    def is_acyclic(self) -> bool:
        position = self._position
        if all(position[e.upstream] < position[e.downstream] for e in self.edges):
            return True  # every edge points down the spec: the common case, no sort needed
        sorter = TopologicalSorter({name: () for name in self.pipeline.steps})
        for edge in self.edges:
            sorter.add(edge.downstream, edge.upstream)
        try:
            sorter.prepare()
        except CycleError:
            return False
        return True

    def roots(self) -> list[str]:
        return [s for s in self.pipeline.steps if not self.edges_into(s)]

    def leaves(self) -> list[str]:
        return [s for s in self.pipeline.steps if s not in self._downstream_of]

    def joins(self) -> list[str]:
        """Steps with more than one upstream."""
        return [s for s in self.pipeline.steps if len({e.upstream for e in self.edges_into(s)}) > 1]

    def order(self) -> list[str]:
        """A topological order, stable: ties broken by spec order."""
        position = self._position
        if all(position[e.upstream] < position[e.downstream] for e in self.edges):
            return list(self.pipeline.steps)  # what the sort below gives when every edge points down the spec
        import networkx as nx

        return list(nx.lexicographical_topological_sort(self.dag, key=position.__getitem__))

    def levels(self) -> list[list[str]]:
        """Steps grouped so that each group depends only on earlier groups."""
        import networkx as nx

        position = self._position
        return [sorted(level, key=position.__getitem__) for level in nx.topological_generations(self.dag)]

    def edges_into(self, step: str) -> list[Edge]:
        return self._edges_by_downstream.get(step, [])

    @cached_property
    def _edges_by_downstream(self) -> dict[str, list[Edge]]:
        index: dict[str, list[Edge]] = {}
        for edge in self.edges:
            index.setdefault(edge.downstream, []).append(edge)
        return index

    @cached_property
    def _downstream_of(self) -> dict[str, dict[str, None]]:
        """Each step's direct downstream steps, once each (the edge index the backends ask; networkx only to sort)."""
        index: dict[str, dict[str, None]] = {}
        for edge in self.edges:
            index.setdefault(edge.upstream, {})[edge.downstream] = None
        return index

    @cached_property
    def _position(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.pipeline.all_steps)}

    # --- finally steps: they wait for every step; among themselves, for their own upstream

    def final_upstream(self, step: str) -> list[str]:
        """The finally steps `step` (a finally step) waits for, in spec order: its trigger counts only these."""
        final = self.pipeline.finally_
        return self.in_spec_order({e.upstream: None for e in self.final_edges if e.downstream == step and e.upstream in final})

    def final_order(self) -> list[str]:
        """The finally steps in an order that respects their dependencies, ties in spec order (acyclic: validated)."""
        done, order, pending = set(), [], list(self.pipeline.finally_)
        while pending:
            ready = next(n for n in pending if all(u in done for u in self.final_upstream(n)))
            pending.remove(ready)
            done.add(ready)
            order.append(ready)
        return order

    def final_cycle(self) -> list[str] | None:
        """The finally steps of a cycle among them, in order, or None."""
        sorter = TopologicalSorter({name: self.final_upstream(name) for name in self.pipeline.finally_})
        try:
            sorter.prepare()
        except CycleError as err:
            cycle = err.args[1][:-1]  # graphlib: [a, b, ..., a], each depending on the next
            return list(reversed(cycle))
        return None

    def in_spec_order(self, names) -> list[str]:
        position = self._position
        return sorted(names, key=position.__getitem__)
