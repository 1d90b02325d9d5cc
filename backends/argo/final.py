"""Finally steps as Argo's exit handler: `spec.onExit` names `Orch-finally`, a DAG of the finally steps, each a task
with its own `depends` and `when` over the other finally steps, and a last leaf, `Orch-finally-done`, that waits for
them however they end.

Read in argoproj/argo-workflows (commit f016ad8):
- When. operator.go, operate: the exit handler starts once the entrypoint's node is fulfilled, a `failFast` stop
  included (checkParallelism marks the DAG Failed). Its pods ignore the workflow's activeDeadlineSeconds
  (workflowpod.go, "ignore the workflow deadline for exit handler"; exec_control.go and
  failNodesWithoutCreatedPodsAfterDeadlineOrShutdown spare them), so finally steps run after the pipeline's
  timeout, each bounded by its own. Past that deadline Argo retries nothing, though (processNodeRetries, "retry
  exceeded workflow deadline"). `argo stop` runs the exit handler; `argo terminate`, orch's cancel, does not.
- The pipeline's status. The workflow's phase is the entrypoint's, unless that Succeeded and the exit handler's node
  Failed or Errored: then the workflow fails. A DAG's phase comes from its leaves (dag.go, assessDAGPhase), and
  `Orch-finally-done`, a suspend of duration 0 (no pod), always succeeds: the exit handler never changes the status.
  The DAG has `failFast: false`; Argo's default would stop the other finally steps once one failed.
- `run.status` is `workflow.status`, the entrypoint's phase as a workflow's: Succeeded (for Skipped and Omitted
  too), Failed or Error. The main DAG fails exactly when a step failed (render.py, the verdict): Succeeded is
  `succeeded`, anything else `failed`.
- `run.failed_steps` comes from `workflow.failures`: strconv.Quote of the JSON list of every node in phase Failed or
  Error ({displayName, message, templateName, phase, podName, finishedAt}, in Go's map order), or of `null` when
  there is none, so it is read with fromJSON twice. Those nodes include a retried step's failed attempts (display
  name `S(0)`), a fan-out's items (`S(0:0)`), gates (`S-When`), the verdict, the main DAG (named after the
  workflow, template `Main`) and, while the exit handler runs, failed finally steps. A step failed exactly when a
  node of its own display name (its Argo name: its task's pod, Retry node, task group or wrapper) is among them, the
  main DAG's aside: the list is the steps so tested, in spec order.
- A step's output. The exit handler cannot read `tasks.S` of the main DAG. An output parameter that declares
  `globalName` goes to `workflow.outputs.parameters` once its node has it, whatever the node's phase (operator.go,
  addOutputsToGlobalScope; a later attempt's value overwrites an earlier one's), and a DAG task of the exit handler
  reads it (dag.go, buildLocalScopeFromTask). So each output a finally step reads is exported by its producer's
  template as `S__O`, and read as null unless the step is not among the failed and the global is there (a skipped
  step has no node, so no global). An artifact likewise (`workflow.outputs.artifacts.S__O`, an optional input that
  Argo leaves out when it cannot resolve it); the runner reads it only if its producer did not fail (a failed pod's
  upload is there too: the wait container saves outputs whatever the main container did), so a finally command
  step reading one runs through the runner. A fan-out's items would overwrite one global, and a stdout output
  (`result`) has none: those are refused (E831).
"""

from __future__ import annotations

from orch.core.errors import Diagnostic
from orch.core.expr import RefNode
from orch.core.graph import PipelineGraph
from orch.core.names import argo_name

from . import manifest as a
from .artifacts import artifact_refs, task_arguments, task_source
from .condition import literal
from .depends import leaves, waits_for
from .inline import StepTemplate, TextExprLang, _typed
from .layout import Layout, output_param
from .payload import Payload, task_output_expr

FINALLY = "Orch-finally"  # a capital: no step's template is named so
DONE_TASK = "Orch-finally-done"
MAIN = "Main"
# the display names of the failed nodes but the main DAG's (named after the workflow)
FAILED = f'map(filter(fromJSON(fromJSON(workflow.failures)) ?? [], #.templateName != "{MAIN}"), #.displayName)'


def global_name(step: str, output: str) -> str:
    return output_param(argo_name(step), output)


def global_artifact(step: str, output: str) -> str:
    """Where the exit handler's DAG finds a step's artifact: the global output its template exports."""
    return f"workflow.outputs.artifacts.{global_name(step, output)}"


def read_outputs(graph: PipelineGraph) -> list[tuple[str, str]]:
    """(step, output) of each step's output that a finally step reads, in order of first mention."""
    steps = graph.pipeline.steps
    return list(dict.fromkeys((e.upstream, e.output) for e in graph.final_edges if e.upstream in steps and e.output))


def view(pipeline):
    """The pipeline with its finally steps among its steps: their templates look producers up there."""
    return pipeline.model_copy(update={"steps": pipeline.all_steps})


def final_graph(graph: PipelineGraph) -> PipelineGraph:
    """The finally steps as a pipeline of their own: their triggers count only one another (depends.py reads it)."""
    final = graph.pipeline.finally_
    pipeline = graph.pipeline.model_copy(update={"steps": final, "finally_": {}})
    return PipelineGraph(pipeline, [e for e in graph.final_edges if e.upstream in final])


def problems(graph: PipelineGraph) -> list[Diagnostic]:
    """What a finally step asks that Argo's exit handler cannot read exactly (E831, located at the finally step)."""
    pipeline, found = graph.pipeline, []
    for step, output in read_outputs(graph):
        reader = next(e.downstream for e in graph.final_edges if (e.upstream, e.output) == (step, output))
        producer = pipeline.steps[step]
        why = ("its items' values would overwrite one global output" if producer.foreach is not None else
               "Argo exports output parameters as global outputs, not a step's stdout" if producer.stdout_output == output
               else None)
        if why:
            found.append(Diagnostic("E831", f"finally step {reader!r} reads {step}.{output}: {why}", ("finally", reader),
                                    hint="pass it through a step that copies it into a plain output"))
    for name, step in pipeline.finally_.items():  # it runs through the runner (FinalStepTemplate), which reads files
        if step.command is not None and step.stdout_output and any(p in pipeline.steps for p, _ in artifact_refs(pipeline, step)):
            found.append(Diagnostic("E825", f"output {step.stdout_output!r} is read from stdout, but this finally step reads "
                                            "a step's artifact, so it runs through orch's runner on Argo, which reads outputs "
                                            "from files only", ("finally", name, "outputs", step.stdout_output, "from"),
                                    hint="write it to $ORCH_OUTPUTS/NAME (from: file)"))
    if len(pipeline.finally_) + sum(bool(s.foreach is not None and s.when) for s in pipeline.finally_.values()) > 199:
        found.append(Diagnostic("E831", "more finally steps than one Argo DAG holds (199)", ("finally",)))
    return found


class Outcome:
    """The run as the exit handler reads it: the steps' verdict, which failed, the outputs they exported."""

    def __init__(self, pipeline):
        self.steps = list(pipeline.steps)

    def status(self) -> str:
        return '(workflow.status == "Succeeded" ? "succeeded" : "failed")'

    def failed_steps(self) -> str:
        """The failed steps' names, a list in spec order (an Argo name maps '_' to '-')."""
        names = "[" + ", ".join(literal(name) for name in self.steps) + "]"
        test = 'replace(#, "_", "-")' if any("_" in name for name in self.steps) else "#"
        return f"filter({names}, {test} in {FAILED})"

    def failed_steps_text(self) -> str:
        """Their list as orch writes json into text (`to_text`: JSON with ', ' between items)."""
        return f'"[" + join(map({self.failed_steps()}, toJson(#)), ", ") + "]"'

    def value(self, step: str, output: str) -> str:
        """The global output's text; nil when the step exported none."""
        return f"workflow.outputs?.parameters?.[{literal(global_name(step, output))}]"

    def not_failed(self, step: str) -> str:
        return f"!({literal(argo_name(step))} in {FAILED})"

    def readable(self, step: str, output: str) -> str:
        """Whether the step succeeded as far as its output goes: not failed, and its value exported."""
        return f"{self.not_failed(step)} && {self.value(step, output)} != nil"

    def json_value(self, step: str, output: str) -> str:
        """The output as JSON text, `null` unless readable (a producer past a template per step writes JSON text)."""
        return f'({self.readable(step, output)} ? {self.value(step, output)} : "null")'


class FinalStepTemplate(StepTemplate):
    """A finally step's template: a step's output is read from its global output, the run from the exit handler."""

    def guarded(self, producer: str, output: str) -> tuple[str, str]:
        if producer not in self.outcome.steps:  # a finally step: its task, in this DAG
            return super().guarded(producer, output)
        return self.outcome.readable(producer, output), self.outcome.value(producer, output)

    def through_runner(self) -> bool:
        """A command step reading a step's artifact too: the runner tells a failed producer's upload from its output."""
        steps = self.outcome.steps
        return super().through_runner() or any(p in steps for p, _ in artifact_refs(self.pipeline, self.step))

    def tolerated(self) -> tuple:
        return tuple(self.outcome.steps)

    def artifact_arguments(self) -> list[dict]:
        steps = self.outcome.steps
        return task_arguments(self.pipeline, self.step, lambda p, o: global_artifact(p, o) if p in steps else task_source(p, o),
                              steps)

    def payload(self) -> Payload:
        outcome = self.outcome

        def expr(step: str, output: str) -> str:
            return outcome.json_value(step, output) if step in outcome.steps else task_output_expr(step, output)
        return Payload(self.pipeline, self.step, output_expr=expr, outcome=outcome)


class FinalExprLang(TextExprLang):
    """A finally step's `when`: a step's output from its global output, null unless readable."""

    def text(self, expr):
        outcome = self.outcome
        if isinstance(expr, RefNode) and expr.ref.kind == "output" and expr.ref.step in outcome.steps:
            step, output = expr.ref.step, expr.ref.name
            kind = self.pipeline.steps[step].outputs[output]
            return f"({outcome.readable(step, output)} ? {_typed(outcome.value(step, output), kind)} : nil)"
        return super().text(expr)


class FinalLayout(Layout):
    """The finally steps in one DAG, past a template per step: a step's output from its global output, as JSON text."""

    def __init__(self, graph: PipelineGraph, depends, outcome: Outcome):
        super().__init__(graph, depends, 200)  # one DAG: more finally steps are refused (problems)
        self.outcome = outcome
        self.tolerated = frozenset(outcome.steps)

    def output_tag(self, consumer: str):
        tag = super().output_tag(consumer)
        return lambda step, output: "=" + self.outcome.json_value(step, output) if step in self.outcome.steps else tag(step, output)

    def output_expr(self, consumer: str):
        expr = super().output_expr(consumer)
        return lambda step, output: self.outcome.json_value(step, output) if step in self.outcome.steps else expr(step, output)

    def artifact_source(self, consumer: str):
        source = super().artifact_source(consumer)
        return lambda step, output: global_artifact(step, output) if step in self.outcome.steps else source(step, output)


def exit_handler(tasks: list[dict], stdout: list[str], done: str) -> dict:
    """The `Orch-finally` DAG: the finally steps' tasks, then a leaf (template `done`, a suspend that resumes at once)
    waiting for the others whatever their end, so the DAG succeeds however they ended."""
    tasks = tasks + [a.dag_task(DONE_TASK, template=done, depends=waits_for(leaves(tasks)))]
    # Argo keeps a container's stdout only where its DAG names `tasks.S.outputs.result` (hasOutputResultRef)
    metadata = {"annotations": {"orch/stdout": " ".join(stdout)}} if stdout else None
    return a.template(FINALLY, metadata=metadata, dag=a.dag(tasks, fail_fast=False))


def export_globals(graph: PipelineGraph, templates: list[dict], called: dict[str, str]) -> list[dict]:
    """The templates, each output a finally step reads declared with its `globalName` on its producer's template;
    `called`: a step's task -> the template it calls (its own: render.py gives a producer one)."""
    owners = {called[argo_name(step)]: step for step, _ in read_outputs(graph) if argo_name(step) in called}
    return [exported(graph, owners[t["name"]], t) if t["name"] in owners else t for t in templates]


def exported(graph: PipelineGraph, step: str, template: dict) -> dict:
    """The step's template, each of its outputs a finally step reads declared with its `globalName`."""
    names = {output: global_name(step, output) for producer, output in read_outputs(graph) if producer == step}
    return _exporting(template, names) if names else template


def _exporting(template: dict, names: dict[str, str]) -> dict:
    outputs = template["outputs"]
    parameters = [a.parameter(p["name"], default=p.get("default"), global_name=names.get(p["name"]), value=p.get("value"),
                              value_from=p.get("valueFrom")) for p in outputs.get("parameters", [])]
    artifacts = [a.artifact(art["name"], from_=art.get("from"), global_name=names.get(art["name"]), optional=art.get("optional"),
                            path=art.get("path"), s3=art.get("s3")) for art in outputs.get("artifacts", [])]
    return {**template, "outputs": a.io(parameters, artifacts)}

