"""Topology answers every backend relies on."""

from orch.core import parse_spec

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
