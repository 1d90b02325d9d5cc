"""`orch import argo`: Argo Workflows manifests as orch specs, each with its fidelity report.

`import_(path)` reads a file (one or more YAML documents) or every *.yaml/*.yml under a folder; each Workflow,
WorkflowTemplate, ClusterWorkflowTemplate and CronWorkflow becomes one orch spec (convert.py), every field of it
accounted for in a Ledger, and the spec's behaviour checked against the manifest's on random draws
(behaviour.py: Argo's rules, backends/argo/play.py, against orch's, core/play.py).
"""

from __future__ import annotations

from pathlib import Path

from orch.core.fidelity import Imported, Ledger, Report

from . import manifest
from .behaviour import check
from .text import spec_text


def import_(path: Path) -> list[Imported]:
    """One Imported per pipeline document under `path`; SpecError, located, where there is none."""
    found = []
    for file in manifest.files_of(Path(path)):
        for document in manifest.read(file):
            found.append(import_document(document))
    return found


def import_document(document: manifest.Document) -> Imported:
    from .convert import Workflow

    ledger = Ledger(document.locate)
    workflow = Workflow(document, ledger)
    spec = workflow.convert()
    text, graph = spec_text(spec, workflow.comments, document, ledger)
    entries = ledger.close(document.data)
    report = Report(document.file, document.kind, spec["name"], entries)
    report.behaviour = check(document, workflow, graph)
    return Imported(spec["name"], text, report)
