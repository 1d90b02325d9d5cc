"""`render` for Prefect 3: one flow module that needs prefect and the user's code, nothing of orch.

Mapping (docs/backends.md): a `@task` per step (retries with an exact `retry_delay_seconds`
list, `timeout_seconds`, resources as tags, results persisted as JSON), a fan-out as a task
that maps an item task; a `@flow` with typed parameters that submits every step at once,
each waiting for its upstream tasks whatever their states, then judging them (runtime.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orch.core import typed
from orch.core.artifacts import spec_store, uses_artifacts
from orch.core.errors import Diagnostic, SpecError
from orch.core.expr import parse_condition
from orch.core.graph import PipelineGraph
from orch.core.spec import Pipeline, Step

from ..base import Artifact
from ..embed import module
from ..pycode import PYTHON_TYPES, Names, Refs, condition, docstring, ident, literal, step_call, upstream_read, value, wrapped

RUNTIME = Path(__file__).with_name("runtime.py")  # read, not imported: rendering needs no prefect


def render(graph: PipelineGraph, kind: str | None = None) -> list[Artifact]:
    """The flow module, named after the pipeline."""
    if kind is not None:
        from orch.core.errors import UsageError

        raise UsageError("--kind is Argo's; the Prefect backend renders one flow module")
    return [Artifact(module_file(graph.pipeline.name), module_source(graph))]


def names_of(pipeline: Pipeline) -> Names:
    """The module's Python names for the pipeline's flow, tasks and params."""
    return Names(pipeline, "flow")


def module_file(pipeline: str) -> str:
    return f"{ident(pipeline)}_flow.py"


def module_source(graph: PipelineGraph, deployment: bool = True) -> str:
    """The module's text. Without `deployment` (what `orch run` executes) a schedule is left out:
    a run does not need it, so a schedule Prefect cannot deploy does not stop a run."""
    pipeline = graph.pipeline
    if deployment:
        _refuse(graph)
    names = names_of(pipeline)
    head = [_step_tasks(graph, name, names) for name in graph.order()] + [_flow(graph, names)]
    head += [_deployment(pipeline, names)] if pipeline.schedule and deployment else []
    return module(_header(pipeline, deployment), RUNTIME, "from typing import Any\nfrom prefect import flow, task",
                  "\n\n\n".join(part.strip("\n") for part in head), _main(pipeline, names, deployment), "plain Python and prefect ----")


def _refuse(graph: PipelineGraph) -> None:
    """What Prefect cannot mean the same way: said at render time, located in the spec."""
    pipeline = graph.pipeline
    if pipeline.schedule and pipeline.schedule.catchup:
        raise SpecError([graph.locate(Diagnostic("E803", "Prefect deployments do not backfill missed runs: catchup: true cannot be rendered",
                                    ("schedule", "catchup"), hint="set catchup: false, or run the backfill yourself"))])


def _header(pipeline: Pipeline, deployment: bool) -> str:
    about = f"\n\n{pipeline.description.strip()}" if pipeline.description else ""
    serve = "\n    python {file} serve     # serve the deployment on its schedule" if pipeline.schedule and deployment else ""
    doc = f'''{pipeline.name}: a Prefect 3 flow, rendered by orch.{about}

Needs prefect (>=3.7) and the steps' own code, nothing of orch:

    python {{file}}           # one run, params at their defaults{serve}

Each step is a task submitted at once; it waits for its upstream tasks whatever their
states, then judges them by its trigger and condition: a step that must not run ends in a
state named Skipped (Completed) or UpstreamFailed (Failed). Its code runs in a child
process, so a timeout stops it. The flow run fails when any step failed.
'''.replace("{file}", module_file(pipeline.name))
    return docstring(doc)


def _step_tasks(graph: PipelineGraph, name: str, names: Names) -> str:
    step = graph.pipeline.steps[name]
    refs = Refs(names, "_gate")
    parameters = ["_gate", *(names.outputs(u) for u in upstream_read(graph, name))]
    head = ["    if (_stop := _gate.blocked()) is not None:", "        return _stop"]
    if step.when is not None:
        head += [f"    if not ({condition(parse_condition(step.when), refs)}):",
                 f"        return _gate.skipped({('when: ' + ' '.join(step.when.split()) + ' is false')!r})"]
    call = step_call(step, refs, "_gate.python", "_gate.command", [], indent="    ")
    if step.foreach is None:
        options = _task_options(name, step, failure_hook=True)
        return f"{wrapped('@task', options)}\ndef {names.task(name)}({', '.join(parameters)}):\n" + "\n".join(head) + f"\n{call}\n"
    fan_out = [names.of(name, "item"), value(step.foreach, refs), f"outputs={literal(dict(step.outputs))}"]
    fan_out += [f"parallelism={step.parallelism}"] if step.parallelism else []
    fan_out += ["values={" + ", ".join(f"{p!r}: {p}" for p in parameters[1:]) + "}"] if parameters[1:] else []
    parent = (f"@task(name={name!r}, task_run_name={name!r}, on_failure=[note_failure], **RESULTS)\n"
              f"def {names.task(name)}({', '.join(parameters)}):\n" + "\n".join(head) + "\n"
              + wrapped("return _gate.fan_out", fan_out, indent="    ") + "\n")
    item = (f"{wrapped('@task', _task_options(name + '[item]', step, failure_hook=False))}\n"
            f"def {names.of(name, 'item')}({', '.join(['_gate', '_item', *parameters[1:]])}):\n{call}\n")
    return parent.rstrip("\n") + "\n\n\n" + item


def _task_options(name: str, step: Step, failure_hook: bool) -> list[str]:
    options = [f"name={name!r}"]
    if failure_hook:
        options.append(f"task_run_name={name!r}")
    if step.retries and step.retries.limit:
        options += [f"retries={step.retries.limit}", f"retry_delay_seconds={literal(step.retries.delays())}",
                    "retry_condition_fn=worth_retrying"]
    if step.timeout is not None:
        options.append(f"timeout_seconds={step.timeout!r}")
    tags = _tags(step)
    if tags:
        options.append(f"tags={literal(tags)}")
    if failure_hook:
        options.append("on_failure=[note_failure]")
    return options + ["**RESULTS"]


def _tags(step: Step) -> list[str]:
    """Resources as tags: Prefect's tag concurrency limits can bound them (`prefect concurrency-limit create gpu 1`)."""
    tags = []
    if step.resources:
        for field in ("cpu", "memory", "gpu"):
            amount = getattr(step.resources, field)
            if amount:
                tags += [field, f"{field}:{amount}"]
    if step.image:
        tags.append(f"image:{step.image}")
    return tags


def _flow(graph: PipelineGraph, names: Names) -> str:
    """The flow: the user's params as its parameters (their only place as Python names), then every
    step submitted through `_run`, each waiting on its upstream steps."""
    pipeline = graph.pipeline
    signature = [f"{names.params[n]}: {PYTHON_TYPES[p.type]}" + ("" if p.required else f" = {literal(_default(p))}")
                 for n, p in ((n, pipeline.params[n]) for n in flow_parameters(pipeline))]
    options = [f"name={pipeline.name!r}"]
    if pipeline.description:
        options.append(f"description={' '.join(pipeline.description.split())!r}")
    params = "{" + ", ".join(f"{n!r}: {names.params[n]}" for n in pipeline.params) + "}"
    run = [params, f"fail_fast={pipeline.fail_fast!r}", f"timeout={pipeline.timeout!r}"]
    if uses_artifacts(pipeline):
        run += [f"pipeline={pipeline.name!r}", f"store={spec_store(pipeline)!r}"]
    body = [wrapped("_run = Run", run, indent="    ")]
    for name in graph.order():
        step = pipeline.steps[name]
        args = [names.task(name), repr(name)]
        upstream = graph.upstream(name)
        if upstream:
            args.append(f"after={literal(upstream)}")
        if step.trigger and step.trigger != "all_succeeded":
            args.append(f"trigger={step.trigger!r}")
        args += [f"{names.outputs(u)}={names.future(u)}" for u in upstream_read(graph, name)]
        body.append(wrapped(f"{names.future(name)} = _run.submit", args, indent="    "))
    body.append("    return _run.outcome()")
    return f"@flow({', '.join(options)})\ndef {names.flow}({', '.join(signature)}):\n" + "\n".join(body) + "\n"


def flow_parameters(pipeline: Pipeline) -> list[str]:
    """The params in the flow's signature order: required ones first. `orch run` passes them by position,
    as a param may be named like an argument of Prefect's own call (`self`, `wait_for`, `return_state`)."""
    return sorted(pipeline.params, key=lambda name: not pipeline.params[name].required)


def _default(param) -> Any:
    return None if param.default is None else typed.as_declared(param.default, param.type)


def _deployment(pipeline: Pipeline, names: Names) -> str:
    schedule = pipeline.schedule
    return (f"def deployment():\n"
            f'    """The deployment: a run at {schedule.cron!r} ({schedule.timezone}), at most {schedule.concurrency} '
            f'at a time (more wait); missed runs are not backfilled."""\n'
            f"    from prefect.schedules import Cron\n\n"
            f"    return {names.flow}.to_deployment(name={pipeline.name!r}, schedule=Cron({schedule.cron!r}, "
            f"timezone={schedule.timezone!r}), concurrency_limit={schedule.concurrency})\n")


def _main(pipeline: Pipeline, names: Names, deployment: bool) -> str:
    if not (pipeline.schedule and deployment):
        return f'if __name__ == "__main__":\n    {names.flow}()\n'
    return (f'if __name__ == "__main__":\n    import sys\n\n    from prefect import serve\n\n'
            f'    serve(deployment()) if sys.argv[1:] == ["serve"] else {names.flow}()\n')
