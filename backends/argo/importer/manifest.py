"""Argo manifests read from YAML with every field's place: documents, their kinds, line:col by path.

A file may hold several documents; each keeps the positions of its own keys so the fidelity report
points at the line a reader edits. What is not a pipeline (not YAML, a Pod, a Workflow without
templates) is refused located, never with a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import shlex

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from orch.core.errors import Diagnostic, SpecError
from orch.core.limits import MAX_SPEC_BYTES
from orch.core.yaml_source import Source, structure_problems

KINDS = {"Workflow": "Argo Workflow", "WorkflowTemplate": "Argo WorkflowTemplate",
         "ClusterWorkflowTemplate": "Argo ClusterWorkflowTemplate", "CronWorkflow": "Argo CronWorkflow"}
SUFFIXES = (".yaml", ".yml")
LIBRARY = "a library of templates other workflows call, not a pipeline"


@dataclass
class Document:
    """One Argo document: its data, where each path sits (1-based line and column), its file."""

    data: dict
    file: str
    positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    pipeline: bool = True  # False: a library of templates (a WorkflowTemplate without entrypoint)
    where: tuple[int, int] = (1, 1)
    run_of: tuple[str, str] | None = None  # a Workflow naming a WorkflowTemplate: (kind, name) of that template

    def locate(self, path: tuple) -> tuple[int | None, int | None]:
        """The place of `path`, else of the nearest field above it that has one."""
        for i in range(len(path), -1, -1):
            if tuple(path[:i]) in self.positions:
                return self.positions[tuple(path[:i])]
        return None, None

    @property
    def kind(self) -> str:
        return KINDS[self.data["kind"]]

    @property
    def spec(self) -> dict:
        """The Workflow spec: a CronWorkflow's `workflowSpec`, the others' `spec`."""
        spec = self.data.get("spec") or {}
        return spec.get("workflowSpec") or {} if self.data.get("kind") == "CronWorkflow" else spec

    @property
    def spec_path(self) -> tuple:
        return ("spec", "workflowSpec") if self.data.get("kind") == "CronWorkflow" else ("spec",)


__all__ = ["Diagnostic", "Document", "files_of", "no_pipeline", "read", "with_defaults"]


TEMPLATE_TYPES = ("container", "script", "dag", "steps", "suspend", "resource", "http", "plugin", "containerSet", "data")


def with_defaults(defaults, template: dict) -> dict:
    """`template` with the workflow's templateDefaults merged in, as the controller does before it runs one
    (operator.go, mergedTemplateDefaultsInto): the template's values win, mapping by mapping, lists whole; a
    default for another template type (a `container` default on a dag template) is left out."""
    if not isinstance(defaults, dict) or not defaults:
        return template
    kind = next((k for k in TEMPLATE_TYPES if k in template), None)
    return _merged({k: v for k, v in defaults.items() if k not in TEMPLATE_TYPES or k == kind}, template)


def _merged(defaults: dict, template: dict) -> dict:
    found = dict(defaults)
    for key, value in template.items():
        found[key] = _merged(found[key], value) if isinstance(value, dict) and isinstance(found.get(key), dict) else value
    return found


def files_of(path: Path) -> list[Path]:
    """A file as it is; a folder's *.yaml and *.yml files, in name order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    if not path.exists():
        raise SpecError([Diagnostic("E101", f"{path} does not exist", file=str(path), line=1, col=1)])
    return [path]


def read(path: Path, libraries: bool = False) -> list[Document]:
    """The pipeline documents of one file (and with `libraries`, its template libraries too, marked not
    pipelines); SpecError, located, for a file that holds neither."""
    file = str(path)
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:  # a manifest is bounded as a spec is (docs/limits.md)
        raise SpecError([Diagnostic("E115", f"the file is {size / 2**20:.1f} MiB; the limit is {MAX_SPEC_BYTES // 2**20} MiB",
                                    file=file, line=1, col=1)])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SpecError([Diagnostic("E108", f"not UTF-8 text: {err.reason}", file=file, line=1, col=1)]) from None
    problems = structure_problems(Source(file, text))  # nesting past 64 levels, alias bombs: refused before reading
    if problems:
        raise SpecError(problems)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Diagnostic("E102", f"not YAML: {getattr(err, 'problem', None) or err}",
                                    file=file, line=line, col=col)]) from None
    found, problems = [], []
    for node in nodes:
        if node is None:
            continue
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        data = _construct(node)
        problem = _not_a_pipeline(data)
        if problem and libraries and (run_of := _template_named(data)):
            positions = {}
            _positions(node, (), positions)  # joined with its template where it is found (runs.py), else refused
            found.append(Document(data, file, positions, where=(line, col), run_of=run_of))
            continue
        if problem and libraries and LIBRARY in problem:
            positions = {}
            _positions(node, (), positions)
            found.append(Document(data, file, positions, pipeline=False, where=(line, col)))
            problems.append(Diagnostic("E940", problem, file=file, line=line, col=col))
            continue
        if problem:
            problems.append(Diagnostic("E940", problem, file=file, line=line, col=col,
                                       hint="orch import argo reads Workflow, WorkflowTemplate, "
                                            "ClusterWorkflowTemplate and CronWorkflow documents"))
            continue
        positions: dict[tuple, tuple[int, int]] = {}
        _positions(node, (), positions)
        found.append(Document(data, file, positions))
    if not found:
        raise SpecError(problems or [Diagnostic("E940", "no Argo pipeline document in the file", file=file,
                                                line=1, col=1)])
    return found


def no_pipeline(documents: list[Document]) -> SpecError:
    """The refusal of an import that found only template libraries."""
    return SpecError([Diagnostic("E940", f"this {d.data['kind']} has no entrypoint: {LIBRARY}", file=d.file,
                                 line=d.where[0], col=d.where[1],
                                 hint="import it together with the workflows that call its templates")
                      for d in documents])


def _not_a_pipeline(data) -> str | None:
    if not isinstance(data, dict):
        return f"a document here is a {type(data).__name__}, not an Argo manifest"
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        return f"kind {kind!r} is not an Argo pipeline" if kind else "the document has no kind"
    spec = data.get("spec")
    if kind == "CronWorkflow":
        spec = spec.get("workflowSpec") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("templates"), list) or not spec["templates"]:
        if isinstance(spec, dict) and spec.get("workflowTemplateRef"):
            return _a_run_of(kind, spec)
        return f"this {kind} has no templates"
    if not spec.get("entrypoint") and kind in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
        return f"this {kind} has no entrypoint: {LIBRARY}"
    return None


def _template_named(data: dict) -> tuple[str, str] | None:
    """(kind, name) of the WorkflowTemplate a Workflow or CronWorkflow with no templates of its own runs."""
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    if data.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec") if isinstance(spec.get("workflowSpec"), dict) else {}
    ref = spec.get("workflowTemplateRef")
    if data.get("kind") not in ("Workflow", "CronWorkflow") or spec.get("templates") or not isinstance(ref, dict) \
            or not isinstance(ref.get("name"), str):
        return None
    return ("ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate", ref["name"])


def _a_run_of(kind: str, spec: dict) -> str:
    """What a Workflow that only names a WorkflowTemplate is: a run of that pipeline with its arguments."""
    ref = spec["workflowTemplateRef"] if isinstance(spec["workflowTemplateRef"], dict) else {}
    params = ((spec.get("arguments") or {}).get("parameters") or []) if isinstance(spec.get("arguments"), dict) else []
    given = "".join(f" -p {shlex.quote(str(p.get('name')) + '=' + str(p.get('value', '')))}"
                    for p in params if isinstance(p, dict))
    then = "give its spec this schedule" if kind == "CronWorkflow" else f"run it with orch run SPEC{given}"
    return (f"this {kind} names the {'Cluster' if ref.get('clusterScope') else ''}WorkflowTemplate "
            f"{ref.get('name')!r} (workflowTemplateRef) and holds no pipeline of its own: import that template, "
            f"and {then}")


def _construct(node):
    """Plain data of a node; the SafeLoader's scalars (numbers, booleans) as Argo's Go YAML reads them."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _positions(node, path: tuple, out: dict) -> None:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else str(key.value)
            out[(*path, name)] = (key.start_mark.line + 1, key.start_mark.column + 1)
            _positions(value, (*path, name), out)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            out[(*path, i)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _positions(item, (*path, i), out)
