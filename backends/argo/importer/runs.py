"""A Workflow (or CronWorkflow) that only names a WorkflowTemplate: the pipeline Argo runs for it is the two specs
joined (workflow/util/merge.go, JoinWorkflowSpec): the template's, with the Workflow's own fields over it — its
`entrypoint`, its `arguments.parameters` by name, anything else it sets. It is imported as that joined pipeline; its
report accounts for the Workflow's own fields, and for the template's as one entry: what became of them is in the
template's own report, located in its file."""

from __future__ import annotations

import copy
from dataclasses import replace

from orch.core.errors import Diagnostic, SpecError
from orch.core.fidelity import APPROXIMATED, MAPPED, UNSUPPORTED, Entry, Imported, leaves, path_text

from .manifest import Document, _a_run_of

REF = "workflowTemplateRef"


def joined(run: Document, library: dict) -> Document:
    """`run` joined with the template it names, found in `library`; SpecError (E940, located) where it is not."""
    template = library.get(run.run_of)
    if template is None:
        spec = run.spec
        raise SpecError([Diagnostic("E940", _a_run_of(run.data["kind"], spec), file=run.file, line=run.where[0],
                                    col=run.where[1], hint="import it together with the file of that template")])
    own = {k: v for k, v in run.spec.items() if k != REF}
    spec = _over(copy.deepcopy(template.data["spec"]), own)
    data = copy.deepcopy(run.data)
    if data["kind"] == "CronWorkflow":
        data["spec"]["workflowSpec"] = spec
    else:
        data["spec"] = spec
    return replace(run, data=data, pipeline=True)


def accounted(imported: Imported, run: Document, template: Document) -> Imported:
    """The report of a joined import, over the Workflow's own fields: the template's entries folded into one at
    `workflowTemplateRef`, unsupported or approximated where any of them is."""
    own = {path_text(p[:i]) for p in leaves(run.data) for i in range(1, len(p) + 1)}
    ref = (*run.spec_path, REF)
    kept = [e for e in imported.report.entries if e.path in own and not e.path.startswith(path_text(ref))]
    theirs = [e for e in imported.report.entries if e.path not in own]
    worst = next((s for s in (UNSUPPORTED, APPROXIMATED) if any(e.status == s for e in theirs)), MAPPED)
    named = f"{template.data['kind']} {template.data['metadata']['name']!r} ({template.file})"
    note = f"the pipeline of {named}, joined with this Workflow's own fields as Argo joins them"
    if worst != MAPPED:
        paths = ", ".join(e.path for e in theirs if e.status == worst)
        note += f"; {worst} in it: {paths} (its own report says how, located)"
    line, col = run.locate(ref)
    kept.append(Entry(path_text(ref), worst, line, col, note=note))
    kept.sort(key=lambda e: (e.line or 0, e.col or 0))
    return replace(imported, report=replace(imported.report, entries=kept))


def _over(base, top):
    """`top` over `base` as a strategic merge patch does for these fields: mappings merged key by key, lists of
    named items (templates, parameters) by name (an item of `top` replacing its namesake whole; `top`'s first, so a
    Workflow's own fields keep their places), other lists whole."""
    if isinstance(base, dict) and isinstance(top, dict):
        return {**base, **{k: _over(base[k], v) if k in base else v for k, v in top.items()}}
    if _named(base) and _named(top):
        names = {item["name"] for item in top}
        return list(top) + [item for item in base if item["name"] not in names]
    return top


def _named(value) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in value)
