"""The spec's YAML text: readable (core/spec_yaml.dump, a comment above each approximation), and valid --
parsed back with the same loader `orch validate` uses, so what is written is what loads.

Where orch refuses something the import wrote (a label value Kubernetes would refuse too, an image reference
that is not one, a reference to an output the producer never declares), that field is taken out -- a step
that cannot run as written fails with a message instead -- and the refusal becomes an `unsupported` entry at
the source field it came from: the import still gives a spec, and the report says what it lost.
"""

from __future__ import annotations

from orch.core.errors import Diagnostic, SpecError
from orch.core.load import parse_spec

ROUNDS = 8  # repairs tried before giving up (each takes out at least one field)


def dump(spec: dict, comments: dict, header: str) -> str:
    from orch.core.spec_yaml import dump as spec_dump

    return spec_dump(spec, comments, header)


def spec_text(spec: dict, workflow, document):
    """(text, graph): the spec written and loaded, repaired where orch refused a field."""
    header = f"Imported from {document.file} ({document.kind} {spec['name']}) by orch import argo"
    for _ in range(ROUNDS):
        comments = workflow.commented(spec)
        notes = "".join(f"\n{note}" for note in workflow.header_notes)
        text = dump(spec, comments, header + ("\nApproximated:" + notes if notes else ""))
        try:
            return text, parse_spec(text, f"{spec['name']}.yaml")
        except SpecError as err:
            if not all(_repair(spec, d, workflow) for d in err.diagnostics):
                break
    raise SpecError([Diagnostic("E942", f"the import of this {document.kind} gives no spec orch accepts: {err}",
                                file=document.file, line=document.where[0], col=document.where[1])])


def _repair(spec: dict, diagnostic: Diagnostic, workflow) -> bool:
    """Take out what `diagnostic` refuses; the loss recorded where it came from. False: nothing to take out."""
    path = tuple(diagnostic.path)
    note = f"orch refuses what this became ({diagnostic.code}): {diagnostic.message}"
    if diagnostic.code == "E202" or not path:  # no step at all: a DAG of nothing runs nothing
        if spec.get("steps"):
            return False
        spec["steps"] = {"nothing": {"command": ["true"]}}
        workflow.ledger.approximated((*workflow.root, "entrypoint"), "no task is left to run: one step doing "
                                     "nothing stands for the empty DAG", "steps")
        return True
    step_path = _step_of(spec, path)
    if step_path is None:  # a pipeline field: taken out
        parent = _at(spec, path[:-1])
        if not isinstance(parent, dict) or path[-1] not in parent:
            return False
        del parent[path[-1]]
        if not parent and len(path) > 1:
            _at(spec, path[:-2]).pop(path[-2], None)
        workflow.ledger.unsupported(_source(workflow, path), note)
        return True
    step = _at(spec, step_path)
    rest = path[len(step_path):]
    if rest and rest[0] in ("command", "outputs", "foreach") or not rest:
        step.clear()
        step["command"] = ["sh", "-c", "echo 'not imported: orch refused this step as written' >&2; exit 1"]
    else:
        step.pop(rest[0], None)
    workflow.ledger.unsupported(_source(workflow, step_path), note)
    return True


def _step_of(spec: dict, path: tuple) -> tuple | None:
    """The longest prefix of `path` naming a step (inside groups too)."""
    found = None
    for n in range(2, len(path) + 1, 2):
        head = path[:n]
        if head[-2] not in ("steps", "finally") or not isinstance(_at(spec, head), dict):
            break
        found = head
    return found


def _source(workflow, spec_path: tuple) -> tuple:
    """The source field a spec path came from: the task or template it was made from, else the document's root."""
    for source, places in workflow.spec_of.items():
        if any(spec_path[:len(p)] == p for p in places if p):
            return source
    meta = workflow.doc.data.get("metadata") or {}
    if spec_path[:1] == ("labels",):
        return ("metadata", "labels", *spec_path[1:2])
    if spec_path[:1] == ("name",):
        return ("metadata", "name" if "name" in meta else "generateName")
    if spec_path[:1] == ("description",):
        return ("metadata", "annotations")
    return workflow.root


def _at(data, path: tuple):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data
