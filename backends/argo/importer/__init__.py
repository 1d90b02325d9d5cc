"""`orch import argo`: Argo Workflows manifests as orch specs, each with its fidelity report.

`import_(path)` reads a file (one or more YAML documents) or every *.yaml/*.yml under a folder; each Workflow,
WorkflowTemplate, ClusterWorkflowTemplate and CronWorkflow becomes one orch spec (convert.py), every field of it
accounted for in a Ledger, and the spec's behaviour checked against the manifest's on random draws
(behaviour.py: Argo's rules, backends/argo/play.py, against orch's, core/play.py).
"""

from __future__ import annotations

from pathlib import Path

from orch.core.errors import SpecError
from orch.core.fidelity import Imported, Ledger, Report

from . import manifest, runs
from .behaviour import check
from .text import spec_text


def import_(path: Path, library: dict | None = None) -> list[Imported]:
    """One Imported per pipeline document under `path`; SpecError, located, where there is none. A templateRef
    is resolved among the WorkflowTemplates read with it (and in `library`, from `library_of`)."""
    path = Path(path)
    if not path.is_dir():
        documents = manifest.read(path, libraries=True)
    else:  # a folder: the files that hold pipelines (or libraries); refused whole only when none does
        documents, refusals = [], []
        for file in manifest.files_of(path):
            try:
                documents += manifest.read(file, libraries=True)
            except SpecError as err:
                refusals += err.diagnostics
        if not documents:
            raise SpecError(refusals or [manifest.Diagnostic("E940", f"no *.yaml or *.yml file under {path}",
                                                             file=str(path), line=1, col=1)])
    library = {**(library or {}), **library_of(documents)}
    found, refused = [], []
    for document in documents:
        if not document.pipeline:
            continue
        if document.run_of is None:
            found.append(import_document(document, library, documents))
            continue
        try:  # a Workflow that names a WorkflowTemplate: the two joined, where the template was read
            found.append(runs.accounted(import_document(runs.joined(document, library), library, documents),
                                        document, library[document.run_of]))
        except SpecError as err:
            refused += err.diagnostics
    if not found:
        raise SpecError(refused) if refused else manifest.no_pipeline(documents)
    return found


def library_of(documents) -> dict:
    """The WorkflowTemplates and ClusterWorkflowTemplates among `documents`, by (kind, name)."""
    from .shape import problems

    return {(d.data["kind"], d.data["metadata"]["name"]): d for d in documents
            if d.data["kind"] in ("WorkflowTemplate", "ClusterWorkflowTemplate") and not problems(d)
            and isinstance((d.data.get("metadata") or {}).get("name"), str)}


def read_all(path: Path) -> list:
    """Every Argo document under `path` that parses, libraries too (for `library_of`); files that fail are left out."""
    found = []
    for file in manifest.files_of(Path(path)):
        try:
            found += manifest.read(file, libraries=True)
        except SpecError:
            continue
    return found


def import_document(document: manifest.Document, library: dict | None = None, others=()) -> Imported:
    """One document's spec and report; templateRefs resolved in `library` ((kind, name) -> Document). A manifest
    orch rendered gives back the spec it carries (roundtrip.py); `others`: the documents read with it."""
    from .convert import Workflow
    from .roundtrip import recovered
    from .shape import problems

    imported, why = recovered(document, others)
    if imported is not None:
        return imported
    found = problems(document)
    if found:
        raise SpecError(found)
    ledger = Ledger(document.locate)
    workflow = Workflow(document, ledger, library)
    workflow.not_recovered = why
    spec = workflow.convert()
    text, graph = spec_text(spec, workflow, document)
    entries = ledger.close(document.data)
    report = Report(document.file, document.kind, spec["name"], entries)
    report.behaviour = check(document, workflow, graph)
    return Imported(spec["name"], text, report)
