"""Round trip: a file orch rendered carries the spec it was rendered from, so `orch import` gives that spec back.

The spec travels as data a reader can see: its canonical JSON (`orch.core.pyspec.spec_data`, which reads back as
an equal pipeline) in the Argo manifest's annotation `orch.dev/spec`, or in the module-level constant `ORCH_SPEC`
of an Airflow DAG file or a Prefect flow module. What rendering read beyond the spec -- the template each step was
expanded from (Argo renders a template's uses once), the sha256 of shipped code -- goes beside it, in
`orch.dev/render-inputs` / `ORCH_RENDER_INPUTS`, only when there is some.

Recovering trusts the embedded spec only as far as it explains the file: the spec is rendered again by the same
backend and the result must equal the file (Argo: as data; Python: as text). A file edited since orch rendered it
gives None and the first difference, and is imported the general way. The Python files are read with `ast`, never
imported or run.

A spec whose JSON passes MAX_EMBEDDED is not embedded (Kubernetes holds 256 KiB of annotations an object): the
file says so in a comment, and import goes the general way.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Optional

from orch.core import groups
from orch.core.artifacts import ships_code
from orch.core.errors import OrchError
from orch.core.templates import template_of

if TYPE_CHECKING:
    from orch.core.graph import PipelineGraph
    from orch.core.spec import Pipeline

    from .shipping import Shipped

SPEC_ANNOTATION = "orch.dev/spec"
INPUTS_ANNOTATION = "orch.dev/render-inputs"
SPEC_CONSTANT = "ORCH_SPEC"
INPUTS_CONSTANT = "ORCH_RENDER_INPUTS"
MAX_EMBEDDED = 128 * 1024  # bytes of JSON: half of what Kubernetes allows all of an object's annotations
KINDS = {"Workflow": "workflow", "WorkflowTemplate": "template", "CronWorkflow": "cron"}
EDITED = "edited since orch rendered it"


# -- writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Embedded:
    """The texts a rendered file carries: the spec's JSON (None: past the bound, known without writing it), and the
    render's other inputs as JSON (None: none). `size`: their bytes, or at least the bytes of a spec not written."""

    spec: Optional[str]
    inputs: Optional[str]
    size: int


def embedding(graph: PipelineGraph, code: Optional[Shipped] = None) -> Embedded:
    """The spec as `orch.core.pyspec.spec_data` writes it (compact JSON; secrets are references there, never values),
    and what rendering took from elsewhere: each step's template, the shipped code's sha256. A pipeline whose steps'
    names and code alone pass the bound is not dumped at all (a tenth of a 10,000-step render)."""
    from orch.core.pyspec import spec_data

    pipeline = graph.pipeline
    least = _least_size(pipeline)
    if least > MAX_EMBEDDED:
        return Embedded(None, None, least)
    spec = _tag_free(json.dumps(spec_data(pipeline), separators=(",", ":"), ensure_ascii=False))
    extra: dict[str, Any] = {}
    templates = {name: template_of(step) for name, step in pipeline.all_steps.items() if template_of(step)}
    if templates:
        extra["templates"] = templates
    if code is not None and ships_code(pipeline):
        extra["code"] = code.sha256
    inputs = json.dumps(extra, separators=(",", ":")) if extra else None
    return Embedded(spec, inputs, len(spec.encode()) + len((inputs or "").encode()))


def _least_size(pipeline: Pipeline) -> int:
    """Bytes any JSON of the spec takes at least: each step's own name (a group's step is written inside the group)
    and what it runs, quoted (characters: a lower bound of UTF-8's bytes)."""
    return sum(len(groups.local(name)) + 3 + len(step.python or "") + sum(len(part) + 3 for part in step.command or ())
               for name, step in pipeline.all_steps.items())


def _tag_free(text: str) -> str:
    """Compact JSON with no `{{`: each is written `{\\u007b` (the same text to a JSON reader), so no template engine
    -- Argo's tags, Jinja, Helm -- finds a tag in the spec, and every tag in a manifest stays one orch wrote. Argo never
    substitutes an object's annotations (operator.go, substituteGlobalVariables: the spec only); other tools may.
    In compact JSON `{{` occurs only inside strings: an object's first key is a string."""
    return text.replace("{{", "{\\u007b")


def fits(embedded: Embedded) -> bool:
    return embedded.spec is not None and embedded.size <= MAX_EMBEDDED


def too_big_note(embedded: Embedded, where: str = SPEC_ANNOTATION, why: str = "") -> str:
    """The comment a file carries in place of a spec over the bound (or, `why`, over another)."""
    why = why or f"over {MAX_EMBEDDED // 1024} KiB (Kubernetes holds 256 KiB of annotations an object)"
    size = f"{'' if embedded.spec is not None else 'at least '}{embedded.size / 1024:.0f} KiB"
    return f"# {where} not embedded: the spec's JSON is {size}, {why}; orch import reads this file the general way"


def annotations(embedded: Embedded) -> dict[str, str]:
    """The Argo manifest's annotations carrying the spec (the caller leaves them out past the bound)."""
    return {SPEC_ANNOTATION: embedded.spec, **({INPUTS_ANNOTATION: embedded.inputs} if embedded.inputs else {})}


def python_lines(graph: PipelineGraph, code: Optional[Shipped] = None) -> str:
    """The lines a rendered Python file carries: the spec as a repr'd string literal (no user text can end it),
    or a comment saying why it is not there."""
    embedded = embedding(graph, code)
    if not fits(embedded):
        return too_big_note(embedded, SPEC_CONSTANT) + "\n"
    lines = ["# the spec this file was rendered from, as JSON: orch import reads it back (edit the spec, not this file)",
             f"{SPEC_CONSTANT} = {embedded.spec!r}"]
    if embedded.inputs:
        lines.append(f"{INPUTS_CONSTANT} = {embedded.inputs!r}  # what rendering read beyond the spec")
    return "\n".join(lines) + "\n\n"


# -- reading -----------------------------------------------------------------------------------

RENDERED = ("the file is exactly what orch renders from the spec it carries (rendered again and compared), and the "
            "conformance suite holds that rendering to the spec's meaning")


def recovered(pipeline: Pipeline, source: str, kind: str, fields: dict[tuple, tuple[int, int]]) -> Imported:
    """A recovered pipeline as an import: the spec it carried, every field of the file `fields` names (path ->
    line, col) accounted for by it."""
    from orch.core.fidelity import Behaviour, Imported, Ledger, Report
    from orch.core.pyspec import spec_data
    from orch.core.spec_yaml import dump

    ledger = Ledger(lambda path: fields.get(path, (None, None)))
    for path in fields:
        ledger.mapped(path, note="rendered by orch from the spec it carries, unchanged")
    text = dump(spec_data(pipeline), header=f"Imported from {source} ({kind} {pipeline.name}, rendered by orch and "
                                            "unchanged: the spec it was rendered from) by orch import")
    return Imported(pipeline.name, text, Report(source, kind, pipeline.name, ledger.close({}), Behaviour(proved_by=RENDERED)))


def recover_argo(document: Any, others: Iterable[Any] = ()) -> tuple[Optional[Pipeline], str]:
    """The pipeline an Argo manifest was rendered from, and '' -- or None and why not: no embedded spec, or the
    manifest differs from what orch renders of it (the first field that differs). A nested pipeline past 1 MB
    renders its chunks as WorkflowTemplates of their own, called by templateRef: they must be among `others` (the
    other documents of the same file or folder), and equal too."""
    from .argo.render import render

    if not isinstance(document, dict) or document.get("kind") not in KINDS:
        return None, "not a Workflow, WorkflowTemplate or CronWorkflow"
    metadata = document.get("metadata")
    notes = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(notes, dict) or not isinstance(notes.get(SPEC_ANNOTATION), str):
        return None, f"no {SPEC_ANNOTATION} annotation: not rendered by orch, or its spec was too big to embed"
    graph, code, problem = _embedded_graph(notes[SPEC_ANNOTATION], notes.get(INPUTS_ANNOTATION))
    if graph is None:
        return None, problem
    try:
        main, *chunks = render(graph, kind=KINDS[document["kind"]], code=code)
    except OrchError as err:
        return None, f"orch cannot render its embedded spec as a {document['kind']} now: {_first_line(err)}"
    difference = _difference(_without_spec(document), _without_spec(_yaml_data(main.text)), "")
    if difference:
        return None, f"{EDITED}: {difference}"
    templates = {(d.get("metadata") or {}).get("name"): d for d in others
                 if isinstance(d, dict) and d.get("kind") == "WorkflowTemplate" and isinstance(d.get("metadata"), dict)}
    for chunk in map(_yaml_data, (artifact.text for artifact in chunks)):
        name = chunk["metadata"]["name"]
        if name not in templates:
            return None, f"the WorkflowTemplate {name} it calls (a chunk of its DAG) is not among the documents read"
        difference = _difference(templates[name], chunk, "")
        if difference:
            return None, f"{EDITED}: the WorkflowTemplate {name} it calls: {difference}"
    return graph.pipeline, ""


def recover_python(text: str) -> tuple[Optional[Pipeline], str]:
    """The pipeline an Airflow DAG file or a Prefect flow module was rendered from, and '' -- or None and why not.
    The file is parsed, never run: its `ORCH_SPEC` is read as a literal, rendered again and compared as text."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as err:
        return None, f"not Python: {err}"
    constants = _string_constants(tree)
    if SPEC_CONSTANT not in constants:
        return None, f"no {SPEC_CONSTANT}: not rendered by orch, or its spec was too big to embed"
    backend = _backend(tree)
    if backend is None:
        return None, "neither an Airflow DAG file nor a Prefect flow module"
    graph, code, problem = _embedded_graph(constants[SPEC_CONSTANT], constants.get(INPUTS_CONSTANT))
    if graph is None:
        return None, problem
    reason = ""
    for render in _renderers(backend, tree):
        try:
            rendered = render(graph, code)
        except OrchError as err:
            return None, f"orch cannot render its embedded spec for {backend} now: {_first_line(err)}"
        difference = _line_difference(text, rendered, tree)
        if not difference:
            return graph.pipeline, ""
        reason = reason or f"{EDITED}: {difference}"
    return None, reason


def _embedded_graph(spec: str, inputs: Optional[str]) -> tuple[Optional[PipelineGraph], Optional[Shipped], str]:
    """The embedded spec, loaded and validated, with the render inputs put back; or None and why."""
    from orch.core.load import parse_spec

    from .shipping import Shipped

    try:
        graph = parse_spec(spec, "<embedded spec>")
        extra = json.loads(inputs) if inputs else {}
        if not isinstance(extra, dict):
            raise ValueError("the render inputs are not a mapping")
        steps = graph.pipeline.all_steps
        for name, template in (extra.get("templates") or {}).items():
            if name not in steps:
                raise ValueError(f"they name a step the spec lacks: {name}")
            steps[name]._template = template
        code = Shipped(extra["code"]) if extra.get("code") else None
    except OrchError as err:
        return None, None, f"the embedded spec does not load: {_first_line(err)}"
    except (ValueError, TypeError, AttributeError) as err:  # not JSON, or not the shape orch writes
        return None, None, f"the embedded render inputs do not fit the spec: {err}"
    return graph, code, ""


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """The module-level `NAME = 'text'` assignments."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found.setdefault(node.targets[0].id, node.value.value)
    return found


def _imported(tree: ast.Module) -> set[str]:
    """Every module and name the file imports at module level: 'airflow.sdk', 'airflow.sdk.dag', 'prefect', ..."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _backend(tree: ast.Module) -> Optional[str]:
    imported = _imported(tree)
    if "airflow.sdk" in imported:
        return "airflow"
    if "prefect" in imported:
        return "prefect"
    return None


def _renderers(backend: str, tree: ast.Module) -> list:
    """The renders the file may be: a flow module as `orch render` writes it; a DAG file for the python target, and
    for the kubernetes target where the file imports KubernetesPodOperator."""
    if backend == "prefect":
        from .prefect.render import module_source

        return [lambda graph, code: module_source(graph, code=code)]
    from .airflow.render import dag_source

    targets = ["python"] + (["kubernetes"] if any(name.endswith(".KubernetesPodOperator") for name in _imported(tree)) else [])
    if len(targets) == 2:
        targets.reverse()  # the file says which: ask it first, so a difference is told against it
    return [lambda graph, code, target=target: dag_source(graph, target, code) for target in targets]


def _yaml_data(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _without_spec(document: dict) -> dict:
    """The manifest but for the spec it carries: what the spec must explain (a spec edited in place shows where its
    rendering differs, a re-indented JSON text not at all)."""
    metadata = document.get("metadata")
    notes = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(notes, dict):
        return document
    notes = {key: value for key, value in notes.items() if key not in (SPEC_ANNOTATION, INPUTS_ANNOTATION)}
    metadata = {key: value for key, value in metadata.items() if key != "annotations"} | ({"annotations": notes} if notes else {})
    return {**document, "metadata": metadata}


def _difference(found: Any, rendered: Any, path: str) -> str:
    """The first place where the file's data differs from the rendered data, as a path and both values; '' if none.
    List items with a name are named (`spec.templates[train]`), so the step a change touched reads off the path."""
    if isinstance(found, dict) and isinstance(rendered, dict):
        for key in [*rendered, *(k for k in found if k not in rendered)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in found:
                return f"{where} is missing (orch renders {_short(rendered[key])})"
            if key not in rendered:
                return f"{where} was added ({_short(found[key])}; orch renders none)"
            difference = _difference(found[key], rendered[key], where)
            if difference:
                return difference
        return ""
    if isinstance(found, list) and isinstance(rendered, list):
        for index, (mine, theirs) in enumerate(zip(found, rendered)):
            label = theirs.get("name") if isinstance(theirs, dict) and isinstance(theirs.get("name"), str) else index
            difference = _difference(mine, theirs, f"{path}[{label}]")
            if difference:
                return difference
        if len(found) != len(rendered):
            return f"{path} has {len(found)} items (orch renders {len(rendered)})"
        return ""
    if found != rendered or type(found) is not type(rendered):
        return f"{path} is {_short(found)} (orch renders {_short(rendered)})"
    return ""


def _line_difference(found: str, rendered: str, tree: ast.Module) -> str:
    """The first line that differs, with the function it is in; '' if none. The lines holding the spec are left out:
    a spec edited in place shows where its rendering differs."""
    if found == rendered:
        return ""
    mine, theirs = _code_lines(found), _code_lines(rendered)
    for (number, line), (_, expected) in zip(mine, theirs):
        if line != expected:
            return f"line {number}{_in_def(tree, number)} is {_short(line.strip())} (orch renders {_short(expected.strip())})"
    if len(mine) != len(theirs):  # (a last newline too: split, the text ends in an empty line)
        return f"the file has {len(mine)} lines but the spec's (orch renders {len(theirs)})"
    return ""


_SPEC_LINES = (f"{SPEC_CONSTANT} = ", f"{INPUTS_CONSTANT} = ")


def _code_lines(text: str) -> list[tuple[int, str]]:
    """(number, line) of each line but the spec's own (a constant's line: its literal is one line)."""
    return [(number, line) for number, line in enumerate(text.split("\n"), 1) if not line.startswith(_SPEC_LINES)]


def _in_def(tree: ast.Module, line: int) -> str:
    """' (in def NAME)' for the innermost function or class around `line`."""
    around = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
              and node.lineno <= line <= (node.end_lineno or node.lineno)]
    if not around:
        return ""
    inner = max(around, key=lambda node: node.lineno)
    return f" (in {'class' if isinstance(inner, ast.ClassDef) else 'def'} {inner.name})"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)  # YAML may hold dates
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _first_line(err: Exception) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]
