"""A manifest orch rendered gives back the spec it carries (backends/roundtrip.py: the `orch.dev/spec`
annotation, rendered again and equal to the file), every field of the manifest accounted for by it. Its
behaviour is still checked the ordinary way: the manifest played by Argo's rules, the spec by orch's."""

from __future__ import annotations

from dataclasses import dataclass, field

from orch.backends.argo.fanout import PREFIX as FAN_PREFIX
from orch.backends.argo.templates import RETRY_POLICY
from orch.backends.roundtrip import SPEC_ANNOTATION, recover_argo
from orch.core import groups
from orch.core.expr import Compare, ExprProblem, Lit, RefNode, parse_condition
from orch.core.fidelity import Imported, Ledger, Report
from orch.core.load import parse_spec
from orch.core.names import argo_name
from orch.core.pyspec import spec_data

from .behaviour import check
from .retries import Retrying
from .text import dump

EXIT = "onExit:"


@dataclass
class Facts:
    """What the behaviour check reads of an import (convert.Workflow has the same)."""

    names: dict[str, str]
    retrying: dict[str, Retrying]
    literals: dict[tuple[str, str], list]
    aliases: dict = field(default_factory=dict)
    library: dict = field(default_factory=dict)


def recovered(document, others) -> tuple[Imported | None, str]:
    """The Imported of a manifest orch rendered, or None and why it is not one (read the general way then)."""
    pipeline, why = recover_argo(document.data, [d.data for d in others])
    if pipeline is None:
        return None, why
    header = (f"Imported from {document.file} ({document.kind} {pipeline.name}) by orch import argo: the spec "
              f"orch rendered it from ({SPEC_ANNOTATION}, rendered again and equal)")
    text = dump(spec_data(pipeline), {}, header)
    graph = parse_spec(text, f"{pipeline.name}.yaml")
    ledger = Ledger(document.locate)
    for key in document.data:
        ledger.mapped((key,), note=f"orch's rendering of the spec in {SPEC_ANNOTATION}, which renders to this "
                                   "manifest again")
    report = Report(document.file, document.kind, pipeline.name, ledger.close(document.data))
    report.behaviour = check(document, facts(graph, document.spec), graph)
    return Imported(pipeline.name, text, report), ""


def facts(graph, spec: dict) -> Facts:
    """The Argo node of each step (its qualified name, each part as Argo names it; a finally step's in the exit
    handler; a throttled fan-out's, inside the wrapper DAG orch gives it), its retries (the retryPolicy orch renders
    for its `retries.on`), and the literals its outputs are compared with."""
    pipeline = graph.pipeline
    names = {_node(spec, [argo_name(part) for part in name.split(groups.SEP)]): name
             for name in [*pipeline.all_steps, *pipeline.groups] if name not in pipeline.finally_}
    names.update({EXIT + argo_name(name): name for name in pipeline.finally_})
    retrying = {name: Retrying(step.retries.limit if step.retries else 0,
                               RETRY_POLICY[step.retries.on] if step.retries else "Always")
                for name, step in pipeline.all_steps.items()}
    literals: dict[tuple[str, str], list] = {}
    for name, item in [*pipeline.all_steps.items(), *pipeline.groups.items()]:
        if isinstance(getattr(item, "when", None), str):
            try:
                tree = parse_condition(item.when)
            except ExprProblem:
                continue
            for ref, literal in _compared(tree):
                step = groups.lookup(pipeline, name, ref.step) or ref.step
                literals.setdefault((step, ref.name), []).append(literal)
    return Facts(names, retrying, literals)


def _node(spec: dict, parts: list[str]) -> str:
    """The path of the node a step runs as: its task's, or inside the `Fan-…` wrapper a throttled fan-out has."""
    templates = {t.get("name"): t for t in spec.get("templates") or []}
    template = templates.get(spec.get("entrypoint")) or {}
    path: list[str] = []
    for part in parts:
        task = next((t for t in (template.get("dag") or {}).get("tasks") or [] if t.get("name") == part), None)
        path.append(part)
        template = templates.get((task or {}).get("template")) or {}
    inner = (template.get("dag") or {}).get("tasks") or []
    if str(template.get("name", "")).startswith(FAN_PREFIX) and len(inner) == 1:
        path.append(inner[0].get("name"))
    return ".".join(path)


def _compared(tree):
    """(reference, literal) for each comparison of a step's output with a literal in a condition."""
    if isinstance(tree, Compare):
        for ref, lit in ((tree.left, tree.right), (tree.right, tree.left)):
            if isinstance(ref, RefNode) and ref.ref.kind == "output" and isinstance(lit, Lit):
                yield ref.ref, lit.value
        yield from _compared(tree.left)
        yield from _compared(tree.right)
    for child in getattr(tree, "values", ()) or ():
        yield from _compared(child)
    if hasattr(tree, "operand"):
        yield from _compared(tree.operand)
