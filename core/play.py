"""A spec's rules played on chosen outcomes, running nothing: the orch side of an import's behaviour check.

`orch import` plays the source (through the source engine's rules, backends/<name>/play.py) and the spec it
wrote on the same draws -- which attempts of which step fail, what values its outputs take -- and compares
every step's end. This is DESIGN §3 (docs/semantics.md) as a function: triggers, conditions, `fail_fast`,
retries, groups and fan-out groups, finally steps, the pipeline's status. Time is not played: steps end one
after another in a topological order of each scope (ties in the order written; a group as one node), so a scope's
`fail_fast` stops exactly its members after its first failed member in that order (a group fails once it ended);
a timeout is one of the draw's failed attempts.
The conformance tests hold it to the local backend's real runs (tests/test_play.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from . import groups
from .expr import ExprProblem, evaluate, parse_condition
from .graph import PipelineGraph
from .result import run_outcome, scope_state
from .triggers import RUN, decide

NOT_RUN = ("skipped", "upstream_failed")


@dataclass(frozen=True)
class Draw:
    """What happens to one step in one play: its first `fails` attempts fail (`error`: as errors, a pod that
    could not run, rather than a non-zero exit -- engines that retry the two differently tell them apart),
    and its outputs take `outputs` (typed values; a missing one reads as null)."""

    fails: int = 0
    error: bool = False
    outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ending:
    """How a step (or group) ended in a play: its state and the attempts it made (0 if it did not run)."""

    state: str
    attempts: int = 0


@dataclass
class Played:
    """A whole play: the pipeline's status and every step's and group's end, by qualified name."""

    status: str
    ends: dict[str, Ending]


def play(graph: PipelineGraph, draws: Mapping[str, Draw], params: Mapping[str, Any] | None = None) -> Played:
    """The spec's end on `draws` (by qualified step name; a step without one succeeds at once)."""
    return Player(graph).play(draws, params)


class Player:
    """A spec made ready for many plays: each scope's nodes in the order they play, with the siblings each waits
    for (core/groups.py's scope_edges, as every backend), found once rather than on every draw."""

    def __init__(self, graph: PipelineGraph):
        self.graph = graph
        edges = groups.scope_edges(graph)
        written = {name: i for i, name in enumerate(groups.order(graph.pipeline))}
        self.scopes = {scope: [(name, edges.get(scope, {}).get(name, []))
                               for name in _in_order(groups.children(graph.pipeline, scope), edges.get(scope, {}), written)]
                       for scope in ["", *graph.pipeline.groups]}

    def play(self, draws: Mapping[str, Draw], params: Mapping[str, Any] | None = None) -> Played:
        return _Play(self, draws, params or {}).run()


def _in_order(children: list[str], edges: dict[str, list[str]], written: dict[str, int]) -> list[str]:
    """A scope's nodes after the siblings they wait for, ties in the order they are written."""
    import networkx as nx

    dag = nx.DiGraph()
    dag.add_nodes_from(children)
    dag.add_edges_from((up, name) for name in children for up in edges.get(name, ()))
    return list(nx.lexicographical_topological_sort(dag, key=written.__getitem__))


class _Play:
    def __init__(self, player: Player, draws: Mapping[str, Draw], params: Mapping[str, Any]):
        self.graph, self.pipeline, self.scopes, self.draws = player.graph, player.graph.pipeline, player.scopes, draws
        self.params = {name: params.get(name, p.default) for name, p in self.pipeline.params.items()}
        self.ends: dict[str, Ending] = {}
        self.run_fields: dict[str, Any] = {}

    def run(self) -> Played:
        self.scope("")
        outcome = run_outcome({n: e.state for n, e in self.ends.items()}, groups.order(self.pipeline),
                              groups.judged(self.graph))
        self.run_fields = {"status": outcome["status"], "failed_steps": outcome["failed_steps"]}
        for name in self.graph.final_order():  # fail_fast does not stop finally steps
            upstream = [self.ends[u].state for u in self.graph.final_upstream(name)]
            self.node(name, decide(self.pipeline.finally_[name].trigger, upstream))
        return Played(outcome["status"], dict(self.ends))

    def scope(self, scope: str) -> str:
        """Play the steps and groups directly in `scope`, in order; the scope's state from theirs. With the scope's
        fail_fast, a member after one that failed does not start."""
        stopped, fails_fast = False, groups.fails_fast(self.pipeline, scope)
        for name, waits_for in self.scopes[scope]:
            upstream = [self.ends[u].state for u in waits_for]
            trigger = (self.pipeline.groups[name] if name in self.pipeline.groups else self.pipeline.steps[name]).trigger
            self.node(name, decide(trigger, upstream), stopped)
            stopped = stopped or (fails_fast and self.ends[name].state == "failed")
        return scope_state(self.ends[name].state for name, _ in self.scopes[scope])

    def node(self, name: str, decision: str, stopped: bool = False) -> None:
        is_group = name in self.pipeline.groups
        if decision == RUN and stopped:
            decision = "upstream_failed"
        if decision == RUN and not self.condition(name):
            decision = "skipped"
        if decision != RUN:
            self.ends[name] = Ending(decision)
            for inner in groups.members(self.pipeline, name) if is_group else ():
                self.ends[inner] = Ending(decision)
            for group in (g for g in self.pipeline.groups if groups.inside(g, name)) if is_group else ():
                self.ends[group] = Ending(decision)
            return
        if is_group:
            items = self.pipeline.groups[name].foreach
            if isinstance(items, list) and not items:  # an empty fan-out: the group succeeds, its steps make no attempt
                self.ends[name] = Ending("succeeded")
                for inner in groups.members(self.pipeline, name):
                    self.ends[inner] = Ending("succeeded")
                return
            self.ends[name] = Ending(self.scope(name))
            return
        step = self.pipeline.all_steps[name]
        if isinstance(step.foreach, list) and not step.foreach:  # no items: a success with no attempt
            self.ends[name] = Ending("succeeded")
            return
        draw = self.draws.get(name, Draw())
        limit = step.retries.limit if step.retries and step.retries.retries(draw.error) else 0  # by `on`
        failed = draw.fails > limit
        self.ends[name] = Ending("failed" if failed else "succeeded", min(draw.fails, limit) + 1)

    def condition(self, name: str) -> bool:
        item = self.pipeline.groups.get(name) or self.pipeline.all_steps[name]
        if item.when is None:
            return True
        if isinstance(item.when, bool):
            return item.when
        try:
            return bool(evaluate(parse_condition(str(item.when)), lambda ref: self.value(name, ref)))
        except ExprProblem:
            return True  # validate refuses a condition it cannot read; a spec that reached here has none

    def value(self, name: str, ref) -> Any:
        if ref.kind == "param":
            return self.params.get(ref.name)
        if ref.kind == "run":
            return self.run_fields.get(ref.name)
        if ref.kind == "output":
            step = groups.lookup(self.pipeline, name, ref.step) or ref.step
            end = self.ends.get(step)
            if end is None or end.state != "succeeded":
                return None
            source = groups.leaf_source(self.pipeline, step, ref.name) if step in self.pipeline.groups else (step, ref.name)
            return self.draws.get(source[0], Draw()).outputs.get(source[1]) if source else None
        return None  # an item: the play draws one outcome for all a fan-out's items

