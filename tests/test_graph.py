"""Topology answers every backend relies on."""

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.core import parse_spec

from .test_generated_specs import valid_specs

TEXT = """\
apiVersion: orch/v1
name: p
steps:
  extract: {python: m:e, outputs: {rows: integer}}
  clean: {python: m:c, args: {n: '${{ steps.extract.outputs.rows }}'}, outputs: {rows: integer}}
  audit: {command: [echo, '${{ steps.extract.outputs.rows }}']}
  load: {python: m:l, after: [audit], when: steps.clean.outputs.rows > 0}
  notify: {command: [echo, done], after: [load], trigger: all_done}
"""


def test_topology():
    graph = parse_spec(TEXT)
    assert graph.roots() == ["extract"]
    assert graph.leaves() == ["notify"]
    assert graph.upstream("load") == ["clean", "audit"]  # spec order
    assert graph.downstream("extract") == ["clean", "audit"]
    assert graph.joins() == ["load"]
    assert graph.order() == ["extract", "clean", "audit", "load", "notify"]
    assert graph.levels() == [["extract"], ["clean", "audit"], ["load"], ["notify"]]
    assert graph.ancestors("notify") == {"extract", "clean", "audit", "load"}


def test_edges_say_why():
    graph = parse_spec(TEXT)
    into_load = {(e.upstream, e.output, e.path) for e in graph.edges_into("load")}
    assert into_load == {("audit", None, ("steps", "load", "after", 0)), ("clean", "rows", ("steps", "load", "when"))}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(), st.randoms(use_true_random=False))
def test_the_edge_index_answers_as_networkx_does_in_any_spec_order(case, random):
    """The shortcuts (spec order when every edge points down it; neighbours from the edge index) agree with networkx."""
    import networkx as nx

    data, _ = case
    names = list(data["steps"])
    random.shuffle(names)  # edges may now point up the spec too
    data = {**data, "steps": {name: data["steps"][name] for name in names}}
    graph = parse_spec(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "g.yaml")
    position = {name: i for i, name in enumerate(names)}
    assert graph.order() == list(nx.lexicographical_topological_sort(graph.dag, key=position.__getitem__))
    dag = graph.dag
    for name in names:
        assert graph.upstream(name) == sorted(set(dag.predecessors(name)), key=position.__getitem__)
        assert graph.downstream(name) == sorted(set(dag.successors(name)), key=position.__getitem__)
    assert graph.roots() == [n for n in names if dag.in_degree(n) == 0]
    assert graph.leaves() == [n for n in names if dag.out_degree(n) == 0]
    assert graph.joins() == [n for n in names if dag.in_degree(n) > 1]
