"""`render` for Argo: a Workflow (and a CronWorkflow for a scheduled pipeline), built as the
plain data hera's model classes dump (manifest.py) -- not with hera's context-manager API, which
rescans the workflow for every template added, nor through its models, whose import and
validation took most of a large render -- and written as PyYAML's C dumper writes it (yaml_text.py).
`workflow_spec` gives the same spec as hera's model, for `run`.

Mapping (docs/backends.md): a DAG task per step with an explicit `depends` (depends.py),
`when` as a typed expr tag (condition.py), calls and literals as brace-free JSON in a
`payload` parameter for the bootstrap (payload.py, bootstrap.py), one template per step
shape (templates.py), and a leaf that keeps any failure in the workflow's phase. Where a step runs --
pod settings, secrets, packages, shipped code -- is where.py's. Finally steps are the Workflow's exit
handler (final.py); the uses of one of the spec's templates share one Argo template (reuse.py).
"""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from orch.core.groups import judged
from orch.core.errors import Diagnostic, SpecError
from orch.core.expr import parse_condition
from orch.core.graph import PipelineGraph
from orch.core.names import argo_name
from orch.core.refs import Ref
from orch.core.templates import template_of
from orch.core.typed import to_text

from .. import roundtrip
from ..base import Artifact
from . import artifacts as art
from . import final, reuse
from . import groups as group_dags
from . import manifest as a
from . import where
from .condition import ExprLang
from .depends import Depends, as_status_test, leaves, waits_for
from .fanout import Wrappers, is_wrapper
from .layout import Layout, export, gate_name, has_gate, throttled
from .inline import VOLUME, StepTemplate, TextExprLang, plain_items
from .payload import Payload
from .script import bootstrap_source as runner_source
from .templates import Shape, pod_settings, problems, template
from .yaml_text import to_yaml

if TYPE_CHECKING:
    from hera.workflows import models as m

    from ..shipping import Shipped

VERDICT = "Orch-verdict"  # orch's template names hold a capital: a step's template is named after it
VERDICT_TASK = "Orch-verdict"  # orch's task names hold a capital, which no step's Argo name does
FAILED = "orch-failed"
GATE = "Orch-gate"
DONE = "Orch-done"  # a chunk's last leaf: a suspend template that resumes at once, so no pod
DONE_TASK = "Orch-chunk-done"
MAIN = "Main"
INLINE_MAX = 190  # steps with templates of their own (Argo's full CRDs hold 200 templates); more share
MAX_TASKS = 200  # per DAG, in Argo's full CRDs
MAX_TEMPLATES = 200  # per Workflow, in Argo's full CRDs
MAX_BYTES = 1 << 20  # what etcd stores
MAX_INPUTS = 500  # input parameters a template (Inputs.parameters maxItems, workflow_types.go)
RUNNER_TAG = "{{workflow.annotations.orch/runner}}"


def render(graph: PipelineGraph, kind: str | None = None, code: Shipped | None = None) -> list[Artifact]:
    """The manifests: kind 'workflow', 'template' or 'cron'; by default a Workflow, plus a
    CronWorkflow when the pipeline has a schedule. A nested pipeline whose manifest would pass
    etcd's 1 MB moves each chunk into a WorkflowTemplate of its own, called by `templateRef`.
    `code`: the packed code of a pipeline that ships it (`orch render` packs it), named by its sha256."""
    with _collector_paused():
        return _artifacts(graph, kind, code)


@contextmanager
def _collector_paused():
    """A render builds hundreds of thousands of small containers and frees none before it returns, so
    the cyclic collector's passes over them find nothing (a tenth of a 10,000-step render)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _artifacts(graph: PipelineGraph, kind: str | None, code: Shipped | None) -> list[Artifact]:
    pipeline = graph.pipeline
    kinds = [kind] if kind else ["workflow"] + (["cron"] if pipeline.schedule else [])
    spec = spec_data(graph, code=code)
    _bounded_inputs(graph, spec)
    extra: list[Artifact] = []
    if _is_nested(spec):  # measure the chunks apart: when together they pass 1 MB, they stay apart
        split, chunks = _split(argo_name(pipeline.name), spec)
        extra = [Artifact(f"{doc['metadata']['name']}.workflowtemplate.yaml", to_yaml(doc)) for doc in chunks]
        if sum(len(artifact.text.encode()) for artifact in extra) > MAX_BYTES:
            spec = split
        else:
            extra = []
    _bounded_templates(graph, spec)
    embedded = roundtrip.embedding(graph, code)
    texts = {each: _carrying_spec(_document(graph, spec, each), embedded) for each in kinds}
    artifacts = [Artifact(f"{pipeline.name}.{each}.yaml", text) for each, text in texts.items()] + extra
    for artifact in artifacts:
        size = len(artifact.text.encode())
        if size > MAX_BYTES:
            raise SpecError([graph.locate(Diagnostic("E806", f"{artifact.path} would be {size / 1e6:.1f} MB; Kubernetes "
                                                             "stores objects up to 1 MB", ("steps",),
                                                     hint="fewer or smaller steps per DAG, or shorter args"))])
    return artifacts


def _carrying_spec(document: dict, embedded: roundtrip.Embedded) -> str:
    """The manifest's YAML with the spec it was rendered from in its annotations, last in its metadata (roundtrip.py),
    unless the spec passes the bound or would take the manifest past etcd's 1 MB: then a comment says so."""
    why = ""
    if roundtrip.fits(embedded):
        text = to_yaml({**document, "metadata": {**document["metadata"], "annotations": roundtrip.annotations(embedded)}})
        if len(text.encode()) <= MAX_BYTES:
            return text
        why = "which would take the manifest past Kubernetes' 1 MB"
    return roundtrip.too_big_note(embedded, why=why) + "\n" + to_yaml(document)


def _bounded_templates(graph: PipelineGraph, spec: dict) -> None:
    """Argo's full CRDs hold at most MAX_TEMPLATES templates a Workflow (workflow_types.go, MaxItems). Past
    INLINE_MAX steps share templates, but a step that passes artifacts keeps its own: enough of them are refused
    here, not on submit."""
    count = len(spec["templates"])
    if count > MAX_TEMPLATES:
        raise SpecError([graph.locate(Diagnostic(
            "E827", f"the Workflow would hold {count} templates; Argo's full CRDs hold at most {MAX_TEMPLATES}", ("steps",),
            hint="fewer steps that output or read artifacts in one pipeline (each keeps a template of its own)"))])


def _bounded_inputs(graph: PipelineGraph, spec: dict) -> None:
    """Argo's CRD holds at most MAX_INPUTS input parameters a template (workflow_types.go), and a task passes one
    argument to each: a step whose references (or a chunk whose imports) need more is refused, located, rather
    than rejected on submit."""
    steps = {argo_name(name): name for name in graph.pipeline.all_steps}
    found = []
    for template in spec["templates"]:
        for task in (template.get("dag") or {}).get("tasks", []):
            count = len((task.get("arguments") or {}).get("parameters", []))
            if count <= MAX_INPUTS:
                continue
            step = steps.get(task["name"])
            what = f"step {step!r}" if step else f"the nested DAG {task['name']}"
            section = "finally" if step in graph.pipeline.finally_ else "steps"
            found.append(graph.locate(Diagnostic(
                "E824", f"{what} would take {count} input parameters on Argo; a template holds at most {MAX_INPUTS}",
                (section, step) if step else ("steps",),
                hint="refer to fewer params and upstream outputs in one step (one json output can carry many values)")))
    if found:
        raise SpecError(found)


def _is_nested(spec: dict) -> bool:
    """Whether the spec holds chunk DAGs. With a template per step, a step's template may be named `chunk-…` too:
    it is a container."""
    return any(_is_chunk(t) for t in spec["templates"])


def _is_chunk(template: dict | None) -> bool:
    return template is not None and template["name"].startswith("chunk-") and "dag" in template


def _split(name: str, spec: dict) -> tuple[dict, list[dict]]:
    """The main DAG, the verdict and the exit handler stay; each chunk, with the step templates it uses, becomes a
    WorkflowTemplate."""
    by_name = {t["name"]: t for t in spec["templates"]}
    main = by_name[MAIN]
    documents, tasks = [], []
    for task in main["dag"]["tasks"]:
        if not _is_chunk(by_name.get(task.get("template", ""))):
            tasks.append(task)
            continue
        chunk = by_name[task["template"]]
        templates = [chunk] + [by_name[u] for u in _called(chunk, by_name)]
        template_name = f"{name[:52]}-{task['template']}"
        documents.append(a.document("WorkflowTemplate", a.object_meta(name=template_name, annotations=_runner_note(templates)),
                                    a.workflow_spec(templates)))
        tasks.append(a.dag_task(task["name"], arguments=task.get("arguments"), depends=task.get("depends"),
                                template_ref={"name": template_name, "template": task["template"]}))
    main = {**main, "dag": {**main["dag"], "tasks": tasks}}
    exit_handler = {final.FINALLY, *_called(by_name[final.FINALLY], by_name)} if final.FINALLY in by_name else set()
    kept = [main] + [t for t in spec["templates"] if t["name"] == VERDICT or t["name"] in exit_handler]
    return {**spec, "templates": kept}, documents


def _runner_note(templates: list[dict]) -> dict | None:
    """Argo validates a WorkflowTemplate on its own, and refuses a `{{workflow.annotations.K}}` whose K it does not
    carry (validate.go, resolveAllVariables): name the runner's annotation, which the calling Workflow holds."""
    if not any(RUNNER_TAG in t["container"].get("command", []) for t in templates if "container" in t):
        return None
    return {"orch/runner": "the runner is read from this annotation of the Workflow that calls these templates"}


def _called(dag: dict, by_name: dict) -> list[str]:
    """The templates a DAG's tasks call, and those their wrappers' fan-outs call (fanout.py)."""
    names = [t["template"] for t in dag["dag"]["tasks"]]
    names += [t["template"] for n in names if is_wrapper(n) for t in by_name[n]["dag"]["tasks"]]
    return list(dict.fromkeys(names))


def workflow_spec(graph: PipelineGraph, chunk_size: int = MAX_TASKS, code: Shipped | None = None) -> m.WorkflowSpec:
    """The spec as hera's WorkflowSpec model, as `run` submits it."""
    from hera.workflows import models as m

    spec = spec_data(graph, chunk_size, code)
    _bounded_inputs(graph, spec)
    return m.WorkflowSpec.model_validate(spec)


def _artifact_param_problems(graph: PipelineGraph) -> list[Diagnostic]:
    """An artifact param is not rendered for Argo yet (E833, located at the param)."""
    return _table_problems(graph, "artifact-params")


def _table_problems(graph: PipelineGraph, feature_id: str) -> list[Diagnostic]:
    """Each use of a feature Argo refuses, in the capabilities table's words (located as it locates them), so
    `orch render`'s check and this renderer say the same."""
    from orch.backends.capabilities import FEATURES

    [feature] = [f for f in FEATURES if f.id == feature_id]
    support = feature.on("argo")
    return [Diagnostic(support.code, support.text(use.values), use.path, hint=support.hint) for use in feature.uses(graph)]


def spec_data(graph: PipelineGraph, chunk_size: int = MAX_TASKS, code: Shipped | None = None) -> dict:
    """The Workflow's spec, as hera's WorkflowSpec would dump it; a pipeline that ships code needs its pack (`code`)."""
    pipeline = graph.pipeline
    code = where.code_key(pipeline, code)
    found = [d for name, step in pipeline.steps.items() for d in problems(name, step)]
    found += [replace(d, path=("finally",) + d.path[1:]) for name, step in pipeline.finally_.items() for d in problems(name, step)]
    found += _artifact_param_problems(graph)
    grouped = group_dags.problems(graph, inline_mode(graph) and chunk_size >= MAX_TASKS)  # before a layout reads them
    if grouped:
        raise SpecError([graph.locate(d) for d in found + grouped])
    depends = Depends(graph)
    layout = Layout(graph, depends, chunk_size)
    found += _pipeline_problems(graph, layout) + final.problems(graph)
    if found:
        raise SpecError([graph.locate(d) for d in found])
    if inline_mode(graph) and not layout.nested:
        return _inline_spec(graph, depends, code)
    shapes = _Shapes(code, {step for step, _ in final.read_outputs(graph)})
    wrappers = Wrappers(pipeline.fail_fast, stdout=False)
    if not layout.nested:
        tasks = [task for name in pipeline.steps for task in _tasks(graph, name, shapes, depends, layout, wrappers)]
        tasks.append(a.dag_task(VERDICT_TASK, template=VERDICT, depends=depends.verdict(judged(graph))))
        dags = [a.template(MAIN, dag=a.dag(tasks, fail_fast=pipeline.fail_fast))]
        verdict = _busybox(VERDICT, ["true"])
    else:
        dags = [_main(layout)] + [_chunk(graph, chunk, shapes, depends, layout, wrappers) for chunk in layout.chunks]
        verdict = _busybox(VERDICT, ["sh", "-c", "echo 'orch: a step failed' >&2; exit 1"])
    exit_dag = [_shared_exit_handler(graph, shapes, wrappers)] if pipeline.finally_ else []
    gated = layout.gated or any(has_gate(s) for s in pipeline.finally_.values())
    gates = [_busybox(GATE, ["true"])] if gated else []
    done = [a.template(DONE, suspend={"duration": "0"})] if layout.nested or pipeline.finally_ else []
    templates = dags + exit_dag + wrappers.templates + shapes.templates + gates + done + [verdict]
    return _spec(pipeline, final.export_globals(graph, templates, _task_templates(templates)) if pipeline.finally_ else templates)


def _task_templates(templates: list[dict]) -> dict[str, str]:
    """Each step's task name -> the template it calls, over the DAGs of steps (the main DAG, its chunks)."""
    return {t["name"]: t["template"] for d in templates if "dag" in d and d["name"] != final.FINALLY
            for t in d["dag"]["tasks"] if "template" in t}


def _shared_exit_handler(graph: PipelineGraph, shapes: _Shapes, wrappers: Wrappers) -> dict:
    """The finally steps' DAG past a template per step: their tasks share the steps' templates, their values read
    as JSON text (a step's from its global output, final.py)."""
    outcome = final.Outcome(graph.pipeline)
    steps = final.final_graph(graph)
    depends = Depends(steps)
    layout = final.FinalLayout(steps, depends, outcome)
    viewed = PipelineGraph(final.view(graph.pipeline), steps.edges)
    fan = Wrappers(False, stdout=False)
    tasks = [task for name in graph.final_order() for task in _tasks(viewed, name, shapes, depends, layout, fan, outcome)]
    wrappers.templates += fan.templates
    return final.exit_handler(tasks, [], DONE)


def _spec(pipeline, templates: list[dict], volumes=None) -> dict:
    """The runner goes once into the Workflow's annotations, last in reading order, as Kubernetes
    keeps machine data (`kubectl`'s last-applied-configuration): python steps run it from there.
    The steps' image pull secrets go on the Workflow, the only place Argo has them (where.py).
    Finally steps are its exit handler (final.py)."""
    python = any(RUNNER_TAG in t["container"].get("command", []) for t in templates if "container" in t)
    return a.workflow_spec(
        templates,
        entrypoint=MAIN,
        arguments=a.parameters([_argument(name, param) for name, param in pipeline.params.items()]),
        active_deadline_seconds=int(pipeline.timeout) if pipeline.timeout else None,
        image_pull_secrets=where.image_pull_secrets(pipeline),
        on_exit=final.FINALLY if pipeline.finally_ else None,
        volumes=volumes,
        workflow_metadata={"annotations": {"orch/runner": runner_source()}} if python else None,
    )


def inline_mode(graph: PipelineGraph) -> bool:
    """Each step gets a template of its own (and command steps plain containers) while they fit: a gate is
    one more task of the main DAG, a throttled fan-out's wrapper one more template (fanout.py); finally steps count."""
    steps = graph.pipeline.all_steps
    return len(steps) + sum(has_gate(s) + throttled(s) for s in steps.values()) <= INLINE_MAX


def _inline_spec(graph: PipelineGraph, depends: Depends, code: str | None) -> dict:
    pipeline = graph.pipeline
    wrappers = Wrappers(pipeline.fail_fast, stdout=True)
    lang = TextExprLang(pipeline, lambda p: pipeline.params[p].type, _kinds(pipeline))
    if pipeline.groups:  # a DAG template per group (groups.py)
        rendered = group_dags.Rendered(graph, code, wrappers, _inline_step, _kinds, (VERDICT_TASK, VERDICT), GATE)
        built, tasks, dags, stdout, gated = rendered.built, rendered.tasks, rendered.templates, rendered.stdout, rendered.gated
    else:
        built = [_inline_step(pipeline, StepTemplate(pipeline, name, step, code), depends, wrappers, lang)
                 for name, step in pipeline.steps.items()]
        tasks = [task for each in built for task in each.tasks]
        tasks.append(a.dag_task(VERDICT_TASK, template=VERDICT, depends=depends.verdict(judged(graph))))
        stdout, dags, gated = [ref for each in built for ref in each.stdout], [], False
    exit_dag, finals = _inline_exit_handler(graph, code, wrappers) if pipeline.finally_ else ([], [])
    if pipeline.finally_:  # the outputs finally steps read, exported by their producers' templates (final.py)
        for each in built:
            each.template = final.exported(graph, each.step, each.template)
    templates = reuse.shared(built + finals)  # the uses of one of the spec's templates share one (reuse.py)
    # Argo keeps a container's stdout only where the DAG names `tasks.S.outputs.result` (hasOutputResultRef)
    metadata = {"annotations": {"orch/stdout": " ".join(stdout)}} if stdout else None
    main = a.template(MAIN, metadata=metadata, dag=a.dag(tasks, fail_fast=pipeline.fail_fast))
    gated = gated or any(has_gate(step) for step in pipeline.all_steps.values())
    gates = [_busybox(GATE, ["true"])] if gated else []
    outputs = any(m["name"] == VOLUME for t in templates for m in t["container"].get("volumeMounts", []))
    volumes = [{"emptyDir": {}, "name": VOLUME}] if outputs else None
    done = [a.template(DONE, suspend={"duration": "0"})] if pipeline.finally_ else []
    every = [main] + dags + exit_dag + wrappers.templates + templates + gates + done + [_busybox(VERDICT, ["true"])]
    return _spec(pipeline, every, volumes)


def _inline_exit_handler(graph: PipelineGraph, code: str | None, wrappers: Wrappers):
    """The finally steps' DAG (final.py) and their built steps, each with a template of its own."""
    pipeline = graph.pipeline
    outcome = final.Outcome(pipeline)
    viewed = final.view(pipeline)
    depends = Depends(final.final_graph(graph))
    fan = Wrappers(False, stdout=True)
    lang = final.FinalExprLang(viewed, lambda p: pipeline.params[p].type, _kinds(viewed), outcome=outcome)
    built = [_inline_step(viewed, final.FinalStepTemplate(viewed, name, pipeline.finally_[name], code, outcome), depends,
                          fan, lang) for name in graph.final_order()]
    wrappers.templates += fan.templates
    tasks = [task for each in built for task in each.tasks]
    return [final.exit_handler(tasks, [ref for each in built for ref in each.stdout], DONE)], built


def _inline_step(pipeline, built: StepTemplate, depends: Depends, wrappers: Wrappers, lang: TextExprLang) -> reuse.Built:
    """One step with a template of its own: the template, its task (after its gate, or calling its wrapper), and the
    stdout its DAG must name."""
    name, step = built.name, built.step
    container = built.container()
    template = a.template(argo_name(name), inputs=built.template_inputs(), outputs=built.outputs(), container=container,
                          **pod_settings(step))
    arguments = [a.parameter(n, value=v) for n, v in built.inputs.items()]
    passed = built.artifact_arguments()
    with_param = when = None
    if step.foreach is not None:
        arguments.append(a.parameter("item", value="{{item}}"))
        items = None if built.through_runner() else plain_items(step)  # the runner's item is its index
        with_param = built.payload().foreach_indexes() if items is None else json.dumps(items)
    if step.when:
        when = lang.tag(parse_condition(step.when))
    stdout = [f"tasks.{argo_name(name)}.outputs.result"] if step.stdout_output and not throttled(step) else []
    task = a.dag_task(argo_name(name), template=argo_name(name), depends=depends.of(name), with_param=with_param,
                      arguments=a.io(arguments, passed), when=when)
    return reuse.Built(name, template, _gated(task, step, wrappers, has_gate(step)), stdout, built)


def _gated(task: dict, step, wrappers: Wrappers, gated: bool) -> list[dict]:
    """The step's task (a throttled fan-out's calls its wrapper), after its gate when it is a fan-out whose task has
    a `when` (layout.has_gate): the gate takes the task's depends and when, the fan-out runs once the gate succeeded."""
    task = wrappers.task(task, step)
    if not gated:
        return [task]
    gate = a.dag_task(gate_name(task["name"]), template=GATE, depends=task.get("depends"), when=task.get("when"))
    after = a.dag_task(task["name"], template=task["template"], depends=f"{gate['name']}.Succeeded",
                       with_param=task.get("withParam"), arguments=task.get("arguments"))
    return [gate, after]


def _kinds(pipeline):
    def kind(ref: Ref) -> str:
        if ref.kind == "param":
            return pipeline.params[ref.name].type
        if ref.kind == "output":
            return "list" if pipeline.steps[ref.step].foreach is not None else pipeline.steps[ref.step].outputs[ref.name]
        return "json" if ref.name == "failed_steps" else "string"
    return kind


def _busybox(name: str, command: list[str]) -> dict:
    """orch's own tiny tasks (the verdict, fan-out gates): no user code, no Python."""
    return a.template(name, container=a.container("busybox:1.36", command=command))


class _Shapes:
    """One template per step shape, named in order of first use; the uses of one of the spec's templates share one
    of their own per shape, named after it (reuse.py)."""

    def __init__(self, code: str | None = None, own: set[str] = frozenset()):
        self.names: dict[Shape, str] = {}
        self.templates: list[dict] = []
        self.code = code  # the shipped code's key: every step's template reads it
        self.own = own  # steps whose template is theirs alone: they export global outputs (final.py)
        self.count = 0

    def name_for(self, pipeline, name: str, refs: int, tolerated=()) -> str:
        """`tolerated`: producers whose artifacts may be absent whatever the step's trigger (a finally step's steps)."""
        step = pipeline.steps[name]
        reads, writes = art.template_inputs(pipeline, step, tolerated), art.template_outputs(pipeline, name)
        alone = reads or writes or name in self.own
        shape = Shape.of(step, refs, (name, tuple(art.artifact_refs(pipeline, step))) if alone else (),
                         "" if alone else template_of(step) or "")
        if shape not in self.names:
            self.names[shape] = reuse.shape_name(shape.template, self.names.values()) if shape.template else self._next()
            self.templates.append(template(self.names[shape], shape, step, (reads, writes), self.code))
        return self.names[shape]

    def _next(self) -> str:
        self.count += 1
        return f"step-{self.count}"


def _tasks(graph, name: str, shapes: _Shapes, depends: Depends, layout: Layout, wrappers: Wrappers, outcome=None) -> list[dict]:
    step = graph.pipeline.steps[name]
    return _gated(_task(graph, name, shapes, depends, layout, outcome), step, wrappers, name in layout.gated)


def _task(graph, name: str, shapes: _Shapes, depends: Depends, layout: Layout, outcome=None) -> dict:
    step = graph.pipeline.steps[name]
    payload = Payload(graph.pipeline, step, layout.output_tag(name), layout.output_expr(name), layout.status_of(name), outcome)
    arguments = [a.parameter("payload", value=payload.encoded())]
    arguments += [a.parameter(f"r{i}", value=tag) for i, tag in enumerate(payload.tags)]
    formula, gate = depends.of(name), None
    reads, chunk = depends.reads(name), layout.chunk_of[name]
    if any(layout.task_chunk[t] != chunk for t in reads):
        formula, gate = (waits_for([t for t in reads if layout.task_chunk[t] == chunk]),
                         as_status_test(formula, layout.status_of(name)))
    with_param = None
    if step.foreach is not None:
        arguments.append(a.parameter("item", value="{{item}}"))
        with_param = payload.foreach_indexes()
    passed = art.task_arguments(graph.pipeline, step, layout.artifact_source(name), layout.tolerated)
    when = _condition(graph, step.when, gate, layout.output_expr(name), outcome) if step.when or gate else None
    return a.dag_task(argo_name(name), template=shapes.name_for(graph.pipeline, name, len(payload.tags), layout.tolerated),
                      depends=formula,
                      when=when, with_param=with_param, arguments=a.io(arguments, passed))


def _chunk(graph, chunk, shapes: _Shapes, depends: Depends, layout: Layout, wrappers: Wrappers) -> dict:
    """A chunk's DAG: its steps' tasks, then a leaf that waits for the others' end, whatever it is. Its phase is that
    leaf's (dag.go, assessDAGPhase: the DAG's targets are its leaves; a target that ran gives its own phase), so the
    chunk succeeds, exporting its outputs, however its steps ended."""
    tasks = [task for name in chunk.steps for task in _tasks(graph, name, shapes, depends, layout, wrappers)]
    tasks.append(a.dag_task(DONE_TASK, template=DONE, depends=waits_for(leaves(tasks))))
    outputs = []
    for name in chunk.exports:
        task, _, rest = name.partition("__")
        if rest == "_status":  # an expression: Argo's validator knows no `{{tasks.T.status}}` in a DAG's outputs
            outputs.append(a.parameter(name, value_from=a.value_from(expression=f'tasks["{task}"].status', default="Omitted")))
        else:
            outputs.append(export(name, f"tasks.{task}.outputs.parameters.{rest}", default="null"))
    failed = " || ".join(f'tasks["{argo_name(s)}"].status in ["Failed", "Error"]' for s in chunk.steps)
    outputs.append(a.parameter(FAILED, value_from=a.value_from(expression=failed)))
    # an artifact crosses as Argo passes one out of a DAG: optional, so a producer that did not succeed leaves it absent
    exported = [a.artifact(n, from_="{{tasks." + n.replace("__", ".outputs.artifacts.", 1) + "}}", optional=True)
                for n in chunk.artifact_exports]
    return a.template(chunk.name, inputs=a.io([a.parameter(n) for n in chunk.imports],
                                              [a.artifact(n, optional=True) for n in chunk.artifact_imports]),
                      outputs=a.io(outputs, exported), dag=a.dag(tasks, fail_fast=False))


def _main(layout: Layout) -> dict:
    tasks = []
    for chunk in layout.chunks:
        owners = sorted(set(chunk.imports.values()) | set(chunk.artifact_imports.values()))
        arguments = [a.parameter(n, value="{{tasks.chunk-" + str(owner) + ".outputs.parameters." + n + "}}")
                     for n, owner in chunk.imports.items()]
        passed = [a.artifact(n, from_="{{tasks.chunk-" + str(owner) + ".outputs.artifacts." + n + "}}", optional=True)
                  for n, owner in chunk.artifact_imports.items()]
        tasks.append(a.dag_task(chunk.name, template=chunk.name,
                                depends=" && ".join(f"chunk-{o}.Succeeded" for o in owners) or None,
                                arguments=a.io(arguments, passed)))
    names = [chunk.name for chunk in layout.chunks]
    tasks.append(a.dag_task(VERDICT_TASK, template=VERDICT, depends=" && ".join(f"{n}.Succeeded" for n in names),
                            when="{{= " + " || ".join(f'tasks["{n}"].outputs.parameters["{FAILED}"] == "true"' for n in names) + " }}"))
    return a.template(MAIN, dag=a.dag(tasks))


def _condition(graph: PipelineGraph, text: str | None, gate: str | None, output_expr, outcome=None) -> str:
    pipeline = graph.pipeline
    lang = ExprLang(lambda p: pipeline.params[p].type, _kinds(pipeline), output_expr, outcome)
    return lang.tag(parse_condition(text) if text else None, gate)


def _argument(name: str, param) -> dict:
    if param.default is None:
        return a.parameter(name)
    return a.parameter(name, value=to_text(param.default))


def _pipeline_problems(graph: PipelineGraph, layout: Layout) -> list[Diagnostic]:
    pipeline = graph.pipeline
    found = []
    nested = layout.nested
    if nested and len(layout.chunks) > MAX_TASKS - 1:  # the main DAG holds the chunks and the verdict
        found.append(Diagnostic("E804", f"{len(pipeline.steps)} steps need {len(layout.chunks)} nested DAGs; the main "
                                        f"DAG holds at most {MAX_TASKS - 1}", ("steps",)))
    if nested and pipeline.state_from == "leaves":
        found += _table_problems(graph, "leaves-nested")
    elif pipeline.state_from == "leaves":
        found += _table_problems(graph, "leaves-skipped")
    if nested and pipeline.fail_fast:
        found.append(Diagnostic("E811", "fail_fast with more steps than one Argo DAG holds is not supported: "
                                        "the nested DAGs keep running to pass on their steps' statuses", ("fail_fast",)))
    for name, param in pipeline.params.items():
        if param.default is not None and "{{" in to_text(param.default):
            found.append(Diagnostic("E807", "Argo would read '{{' in a param's default as a tag", ("params", name, "default")))
    if pipeline.timeout is not None and pipeline.timeout != int(pipeline.timeout):
        found.append(Diagnostic("E802", "Argo bounds a workflow in whole seconds", ("timeout",)))
    schedule = pipeline.schedule
    if schedule and schedule.catchup:
        found.append(Diagnostic("E809", "Argo does not backfill missed schedules", ("schedule", "catchup")))
    return found


def _document(graph: PipelineGraph, spec: dict, kind: str) -> dict:
    pipeline = graph.pipeline
    labels = dict(pipeline.labels) or None
    if kind == "workflow":
        return a.document("Workflow", a.object_meta(generate_name=f"{argo_name(pipeline.name)}-", labels=labels), spec)
    if kind == "template":
        return a.document("WorkflowTemplate", a.object_meta(name=argo_name(pipeline.name), labels=labels), spec)
    schedule = pipeline.schedule
    if schedule is None:
        raise SpecError([graph.locate(Diagnostic("E810", "a CronWorkflow needs a schedule", ("schedule",),
                                                 hint="add schedule: '0 2 * * *', or render --kind workflow"))])
    return a.document("CronWorkflow", a.object_meta(name=argo_name(pipeline.name), labels=labels),
                      {"concurrencyPolicy": "Forbid" if schedule.concurrency == 1 else "Allow", "schedules": [schedule.cron], "timezone": schedule.timezone,
                       "workflowSpec": spec})
