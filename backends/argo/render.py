"""`render` for Argo: a Workflow (and a CronWorkflow for a scheduled pipeline), built from
hera's model classes -- not its context-manager API, which rescans the workflow for every
template added -- and written with a C YAML dumper.

Mapping (docs/backends.md): a DAG task per step with an explicit `depends` (depends.py),
`when` as a typed expr tag (condition.py), calls and literals as brace-free JSON in a
`payload` parameter for the bootstrap (payload.py, bootstrap.py), one template per step
shape (templates.py), and a leaf that keeps any failure in the workflow's phase.
"""

from __future__ import annotations

import json

import yaml
from hera.workflows import models as m

from orch.core.errors import Diagnostic, SpecError
from orch.core.expr import parse_condition
from orch.core.graph import PipelineGraph
from orch.core.names import argo_name
from orch.core.refs import Ref
from orch.core.typed import to_text

from ..base import Artifact
from .condition import ExprLang
from .depends import Depends, as_status_test, tasks_in, waits_for
from .layout import Layout, gate_name, has_gate
from .inline import VOLUME, StepTemplate, TextExprLang
from .payload import Payload
from .script import bootstrap_source as runner_source
from .templates import Shape, pod_settings, problems, template

API_VERSION = "argoproj.io/v1alpha1"
VERDICT = "Orch-verdict"  # orch's template names hold a capital: a step's template is named after it
VERDICT_TASK = "Orch-verdict"  # orch's task names hold a capital, which no step's Argo name does
FAILED = "orch-failed"
GATE = "Orch-gate"
MAIN = "Main"
INLINE_MAX = 190  # steps with templates of their own (Argo's full CRDs hold 200 templates); more share
MAX_TASKS = 200  # per DAG, in Argo's full CRDs
MAX_BYTES = 1 << 20  # what etcd stores

try:
    _Dumper = yaml.CSafeDumper
except AttributeError:  # pragma: no cover
    _Dumper = yaml.SafeDumper


def render(graph: PipelineGraph, kind: str | None = None) -> list[Artifact]:
    """The manifests: kind 'workflow', 'template' or 'cron'; by default a Workflow, plus a
    CronWorkflow when the pipeline has a schedule. A nested pipeline whose manifest would pass
    etcd's 1 MB moves each chunk into a WorkflowTemplate of its own, called by `templateRef`."""
    pipeline = graph.pipeline
    kinds = [kind] if kind else ["workflow"] + (["cron"] if pipeline.schedule else [])
    spec = workflow_spec(graph)
    extra: list[Artifact] = []
    if _is_nested(spec):  # measure the chunks apart: when together they pass 1 MB, they stay apart
        split, chunks = _split(pipeline.name, spec)
        extra = [Artifact(f"{doc['metadata']['name']}.workflowtemplate.yaml", _yaml(doc)) for doc in chunks]
        if sum(len(a.text.encode()) for a in extra) > MAX_BYTES:
            spec = split
        else:
            extra = []
    texts = {each: _yaml(_document(graph, spec, each)) for each in kinds}
    artifacts = [Artifact(f"{pipeline.name}.{each}.yaml", text) for each, text in texts.items()] + extra
    for artifact in artifacts:
        size = len(artifact.text.encode())
        if size > MAX_BYTES:
            raise SpecError([graph.locate(Diagnostic("E806", f"{artifact.path} would be {size / 1e6:.1f} MB; Kubernetes "
                                                             "stores objects up to 1 MB", ("steps",),
                                                     hint="fewer or smaller steps per DAG, or shorter args"))])
    return artifacts


class _Flow(dict):
    """A small mapping written on one line, as people write `{name: x, value: y}`."""


class _FlowList(list):
    pass


FLOW_WIDTH = 100
ORDER = ("name", "template", "depends", "when", "withParam", "arguments", "inputs", "outputs", "container", "dag")


class _OneLine(str):
    """Machine data (the runner's source) on one double-quoted line, as Kubernetes keeps annotations."""


def _yaml(document: dict) -> str:
    return yaml.dump(_flowed(document), Dumper=_FlowDumper, sort_keys=False, allow_unicode=True, width=1 << 30)


def _flowed(value):
    """Keys in reading order; short mappings and lists of scalars in flow style."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else len(ORDER))
        out = {k: _flowed(v) for k, v in items}
        if "orch/runner" in out:
            out["orch/runner"] = _OneLine(out["orch/runner"])
        elif out and all(_short(v) for v in out.values()) and len(repr(out)) < FLOW_WIDTH:
            return _Flow(out)
        return out
    if isinstance(value, list):
        out = [_flowed(v) for v in value]
        if out and all(isinstance(v, (str, int, float, bool)) and "\n" not in str(v) for v in out) and len(repr(out)) < FLOW_WIDTH:
            return _FlowList(out)
        return out
    return value


def _short(value) -> bool:
    if isinstance(value, (_Flow, _FlowList)):
        return True
    return isinstance(value, (str, int, float, bool)) and "\n" not in str(value)


class _FlowDumper(_Dumper):
    pass


_FlowDumper.add_representer(_OneLine, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"'))
_FlowDumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=True))
_FlowDumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _is_nested(spec: m.WorkflowSpec) -> bool:
    return any(t.name.startswith("chunk-") for t in spec.templates)


def _split(name: str, spec: m.WorkflowSpec) -> tuple[m.WorkflowSpec, list[dict]]:
    """The main DAG and verdict stay; each chunk, with the step templates it uses, becomes a WorkflowTemplate."""
    by_name = {t.name: t for t in spec.templates}
    main = by_name[MAIN]
    documents, refs = [], {}
    for task in main.dag.tasks:
        if not task.template or not task.template.startswith("chunk-"):
            continue
        chunk = by_name[task.template]
        used = list(dict.fromkeys(t.template for t in chunk.dag.tasks))
        template_name = f"{name[:52]}-{task.template}"
        chunk_spec = m.WorkflowSpec(templates=[chunk] + [by_name[u] for u in used])
        document = m.WorkflowTemplate(api_version=API_VERSION, kind="WorkflowTemplate",
                                      metadata=m.ObjectMeta(name=template_name), spec=chunk_spec)
        documents.append(_name_first(document.model_dump(by_alias=True, exclude_none=True, mode="json")))
        refs[task.name] = m.TemplateRef(name=template_name, template=task.template)
    tasks = [task.model_copy(update={"template": None, "template_ref": refs[task.name]}) if task.name in refs else task
             for task in main.dag.tasks]
    main = main.model_copy(update={"dag": main.dag.model_copy(update={"tasks": tasks})})
    kept = [main] + [t for t in spec.templates if t.name == VERDICT]
    return spec.model_copy(update={"templates": kept}), documents


def workflow_spec(graph: PipelineGraph, chunk_size: int = MAX_TASKS) -> m.WorkflowSpec:
    pipeline = graph.pipeline
    found = [d for name, step in pipeline.steps.items() for d in problems(name, step)]
    found += _pipeline_problems(graph, chunk_size)
    if found:
        raise SpecError([graph.locate(d) for d in found])
    depends = Depends(graph)
    layout = Layout(graph, depends, chunk_size)
    shapes = _Shapes()
    if inline_mode(graph) and not layout.nested:
        return _inline_spec(graph, depends)
    if not layout.nested:
        tasks = [task for name in pipeline.steps for task in _tasks(graph, name, shapes, depends, layout)]
        tasks.append(m.DAGTask(name=VERDICT_TASK, template=VERDICT, depends=depends.verdict()))
        dags = [m.Template(name=MAIN, dag=m.DAGTemplate(tasks=tasks, fail_fast=pipeline.fail_fast))]
        verdict = _busybox(VERDICT, ["true"])
    else:
        dags = [_main(layout)] + [_chunk(graph, chunk, shapes, depends, layout) for chunk in layout.chunks]
        verdict = _busybox(VERDICT, ["sh", "-c", "echo 'orch: a step failed' >&2; exit 1"])
    gates = [_busybox(GATE, ["true"])] if any(has_gate(step) for step in pipeline.steps.values()) else []
    return _spec(pipeline, dags + shapes.templates + gates + [verdict])


def _spec(pipeline, templates: list[m.Template], volumes=None) -> m.WorkflowSpec:
    """The runner goes once into the Workflow's annotations, last in reading order, as Kubernetes
    keeps machine data (`kubectl`'s last-applied-configuration): python steps run it from there."""
    python = any("{{workflow.annotations.orch/runner}}" in (t.container.command or []) for t in templates if t.container)
    return m.WorkflowSpec(
        entrypoint=MAIN,
        arguments=m.Arguments(parameters=[_argument(name, param) for name, param in pipeline.params.items()]) or None,
        active_deadline_seconds=int(pipeline.timeout) if pipeline.timeout else None,
        volumes=volumes,
        templates=templates,
        workflow_metadata=m.WorkflowMetadata(annotations={"orch/runner": runner_source()}) if python else None,
    )


def inline_mode(graph: PipelineGraph) -> bool:
    """Each step gets a template of its own (and command steps plain containers) while they fit."""
    steps = graph.pipeline.steps
    return len(steps) + sum(has_gate(s) for s in steps.values()) <= INLINE_MAX


def _inline_spec(graph: PipelineGraph, depends: Depends) -> m.WorkflowSpec:
    pipeline = graph.pipeline
    tasks, templates = [], []
    stdout = []
    for name, step in pipeline.steps.items():
        built = StepTemplate(pipeline, name, step)
        container = built.container()
        templates.append(m.Template(name=argo_name(name), inputs=built.inputs_model(),
                                    outputs=built.outputs(), container=container, **pod_settings(step)))
        task = m.DAGTask(name=argo_name(name), template=argo_name(name), depends=depends.of(name))
        arguments = [m.Parameter(name=n, value=v) for n, v in built.inputs.items()]
        if step.foreach is not None:
            arguments.append(m.Parameter(name="item", value="{{item}}"))
            task.with_param = Payload(pipeline, step).foreach_indexes()
        task.arguments = m.Arguments(parameters=arguments) if arguments else None
        if step.when:
            lang = TextExprLang(pipeline, lambda p: pipeline.params[p].type, _kinds(pipeline))
            task.when = lang.tag(parse_condition(step.when))
        if getattr(step, "stdout_output", None):
            stdout.append(f"tasks.{argo_name(name)}.outputs.result")
        tasks += _gated(task, step)
    tasks.append(m.DAGTask(name=VERDICT_TASK, template=VERDICT, depends=depends.verdict()))
    # Argo keeps a container's stdout only where the DAG names `tasks.S.outputs.result` (hasOutputResultRef)
    metadata = m.Metadata(annotations={"orch/stdout": " ".join(stdout)}) if stdout else None
    main = m.Template(name=MAIN, metadata=metadata, dag=m.DAGTemplate(tasks=tasks, fail_fast=pipeline.fail_fast))
    gates = [_busybox(GATE, ["true"])] if any(has_gate(step) for step in pipeline.steps.values()) else []
    volumes = [m.Volume(name=VOLUME, empty_dir=m.EmptyDirVolumeSource())] if any(
        t.container.volume_mounts for t in templates) else None
    return _spec(pipeline, [main] + templates + gates + [_busybox(VERDICT, ["true"])], volumes)


def _gated(task: m.DAGTask, step) -> list[m.DAGTask]:
    """The step's task, after its gate when it is a fan-out with a condition."""
    if not has_gate(step):
        return [task]
    gate = m.DAGTask(name=gate_name(task.name), template=GATE, depends=task.depends, when=task.when,
                     continue_on=task.continue_on)
    return [gate, task.model_copy(update={"depends": f"{gate.name}.Succeeded", "when": None})]


def _kinds(pipeline):
    def kind(ref: Ref) -> str:
        if ref.kind == "param":
            return pipeline.params[ref.name].type
        if ref.kind == "output":
            return "list" if pipeline.steps[ref.step].foreach is not None else pipeline.steps[ref.step].outputs[ref.name]
        return "string"
    return kind


def _busybox(name: str, command: list[str]) -> m.Template:
    """orch's own tiny tasks (the verdict, fan-out gates): no user code, no Python."""
    return m.Template(name=name, container=m.Container(image="busybox:1.36", command=command))


class _Shapes:
    """One template per step shape, named in order of first use."""

    def __init__(self):
        self.names: dict[Shape, str] = {}
        self.templates: list[m.Template] = []

    def name_for(self, step, refs: int) -> str:
        shape = Shape.of(step, refs)
        if shape not in self.names:
            self.names[shape] = f"step-{len(self.names) + 1}"
            self.templates.append(template(self.names[shape], shape, step))
        return self.names[shape]


def _tasks(graph, name: str, shapes: _Shapes, depends: Depends, layout: Layout) -> list[m.DAGTask]:
    """The step's task, after its gate when it is a fan-out with a condition."""
    return _gated(_task(graph, name, shapes, depends, layout), graph.pipeline.steps[name])


def _task(graph, name: str, shapes: _Shapes, depends: Depends, layout: Layout) -> m.DAGTask:
    step = graph.pipeline.steps[name]
    payload = Payload(graph.pipeline, step, layout.output_tag(name), layout.output_expr(name))
    arguments = [m.Parameter(name="payload", value=payload.encoded())]
    arguments += [m.Parameter(name=f"r{i}", value=tag) for i, tag in enumerate(payload.tags)]
    task = m.DAGTask(name=argo_name(name), template=shapes.name_for(step, len(payload.tags)))
    formula, gate = depends.of(name), None
    if formula and any(layout.task_chunk[t] != layout.chunk_of[name] for t in tasks_in(formula)):
        task.depends = waits_for([t for t in tasks_in(formula) if layout.task_chunk[t] == layout.chunk_of[name]])
        gate = as_status_test(formula, layout.status_of(name))
    else:
        task.depends = formula
    if step.foreach is not None:
        arguments.append(m.Parameter(name="item", value="{{item}}"))
        task.with_param = payload.foreach_indexes()
    if step.when or gate:
        task.when = _condition(graph, step.when, gate, layout.output_expr(name))
    if layout.nested:
        task.continue_on = m.ContinueOn(failed=True, error=True)
    task.arguments = m.Arguments(parameters=arguments)
    return task


def _chunk(graph, chunk, shapes: _Shapes, depends: Depends, layout: Layout) -> m.Template:
    tasks = [task for name in chunk.steps for task in _tasks(graph, name, shapes, depends, layout)]
    outputs = []
    for name in chunk.exports:
        task, _, rest = name.partition("__")
        if rest == "_status":
            outputs.append(m.Parameter(name=name, value_from=m.ValueFrom(parameter="{{tasks." + task + ".status}}", default="Omitted")))
        else:
            outputs.append(m.Parameter(name=name, value_from=m.ValueFrom(
                parameter="{{tasks." + task + ".outputs.parameters." + rest + "}}", default="null")))
    failed = " || ".join(f'tasks["{argo_name(s)}"].status in ["Failed", "Error"]' for s in chunk.steps)
    outputs.append(m.Parameter(name=FAILED, value_from=m.ValueFrom(expression=failed)))
    return m.Template(name=chunk.name, inputs=m.Inputs(parameters=[m.Parameter(name=n) for n in chunk.imports]) or None,
                      outputs=m.Outputs(parameters=outputs), dag=m.DAGTemplate(tasks=tasks, fail_fast=False))


def _main(layout: Layout) -> m.Template:
    tasks = []
    for chunk in layout.chunks:
        owners = sorted(set(chunk.imports.values()))
        arguments = [m.Parameter(name=n, value="{{tasks.chunk-" + str(owner) + ".outputs.parameters." + n + "}}")
                     for n, owner in chunk.imports.items()]
        tasks.append(m.DAGTask(name=chunk.name, template=chunk.name,
                               depends=" && ".join(f"chunk-{o}.Succeeded" for o in owners) or None,
                               arguments=m.Arguments(parameters=arguments) if arguments else None))
    names = [chunk.name for chunk in layout.chunks]
    tasks.append(m.DAGTask(name=VERDICT_TASK, template=VERDICT, depends=" && ".join(f"{n}.Succeeded" for n in names),
                           when="{{= " + " || ".join(f'tasks["{n}"].outputs.parameters["{FAILED}"] == "true"' for n in names) + " }}"))
    return m.Template(name=MAIN, dag=m.DAGTemplate(tasks=tasks))


def _condition(graph: PipelineGraph, text: str | None, gate: str | None, output_expr) -> str:
    pipeline = graph.pipeline
    lang = ExprLang(lambda p: pipeline.params[p].type, _kinds(pipeline), output_expr)
    return lang.tag(parse_condition(text) if text else None, gate)


def _argument(name: str, param) -> m.Parameter:
    if param.default is None:
        return m.Parameter(name=name)
    return m.Parameter(name=name, value=to_text(param.default))


def _pipeline_problems(graph: PipelineGraph, chunk_size: int) -> list[Diagnostic]:
    pipeline = graph.pipeline
    found = []
    nested = len(pipeline.steps) > chunk_size - 1
    if nested and len(pipeline.steps) > chunk_size * (MAX_TASKS - 1):
        found.append(Diagnostic("E804", f"{len(pipeline.steps)} steps: at most {chunk_size * (MAX_TASKS - 1)} fit in "
                                        f"{MAX_TASKS - 1} nested DAGs of {chunk_size} tasks", ("steps",)))
    if nested and pipeline.fail_fast:
        found.append(Diagnostic("E811", "fail_fast with more steps than one Argo DAG holds is not supported: "
                                        "the nested DAGs keep running to pass on their steps' statuses", ("fail_fast",)))
    for name, param in pipeline.params.items():
        if param.default is not None and "{{" in to_text(param.default):
            found.append(Diagnostic("E807", "Argo would read '{{' in a param's default as a tag", ("params", name, "default")))
    if pipeline.timeout is not None and pipeline.timeout != int(pipeline.timeout):
        found.append(Diagnostic("E802", "Argo bounds a workflow in whole seconds", ("timeout",)))
    schedule = pipeline.schedule
    if schedule and schedule.concurrency > 1:
        found.append(Diagnostic("E808", "Argo runs a CronWorkflow's runs one at a time (Forbid) or without a bound (Allow)",
                                ("schedule", "concurrency"), hint="use concurrency: 1"))
    if schedule and schedule.catchup:
        found.append(Diagnostic("E809", "Argo does not backfill missed schedules", ("schedule", "catchup")))
    return found


def _document(graph: PipelineGraph, spec: m.WorkflowSpec, kind: str) -> dict:
    pipeline = graph.pipeline
    labels = dict(pipeline.labels) or None
    if kind == "workflow":
        model = m.Workflow(api_version=API_VERSION, kind="Workflow",
                           metadata=m.ObjectMeta(generate_name=f"{pipeline.name}-", labels=labels), spec=spec)
    elif kind == "template":
        model = m.WorkflowTemplate(api_version=API_VERSION, kind="WorkflowTemplate",
                                   metadata=m.ObjectMeta(name=pipeline.name, labels=labels), spec=spec)
    else:
        schedule = pipeline.schedule
        if schedule is None:
            raise SpecError([graph.locate(Diagnostic("E810", "a CronWorkflow needs a schedule", ("schedule",),
                                                     hint="add schedule: '0 2 * * *', or render --kind workflow"))])
        model = m.CronWorkflow(api_version=API_VERSION, kind="CronWorkflow",
                               metadata=m.ObjectMeta(name=pipeline.name, labels=labels),
                               spec=m.CronWorkflowSpec(schedules=[schedule.cron], timezone=schedule.timezone,
                                                       concurrency_policy="Forbid", workflow_spec=spec))
    return _name_first(model.model_dump(by_alias=True, exclude_none=True, mode="json"))


def _name_first(value):
    """Every mapping with its `name` first, as reviewers read Argo manifests."""
    if isinstance(value, dict):
        ordered = {"name": value["name"]} if "name" in value else {}
        ordered.update((k, _name_first(v)) for k, v in value.items() if k != "name")
        return ordered
    if isinstance(value, list):
        return [_name_first(v) for v in value]
    return value
