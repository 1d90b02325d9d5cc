"""`render` for Prefect 3: one flow module that needs prefect and the user's code, nothing of orch.

Mapping (docs/backends.md): a `@task` per step (retries with an exact `retry_delay_seconds`
list, `timeout_seconds`, resources as tags, results persisted as JSON), a fan-out as a task
that maps an item task; a `@flow` with typed parameters that submits every step at once,
each waiting for its upstream tasks whatever their states, then judging them (runtime.py); then, once every
step's task is final, the finally steps, as a section of the flow after the steps. A step
with secrets or packages, or any step of a pipeline that ships its code, runs each attempt in a Place
(backends/stepplace.py): its secrets read from Prefect Secret blocks, a fresh copy of the code, its env.
With pod settings in `defaults`, prefect.yaml and a Kubernetes work pool's base job template (pool.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orch.core import typed
from orch.core.artifacts import needs_store, ships_code, spec_store
from orch.core.errors import Diagnostic, SpecError, UsageError
from orch.core.expr import parse_condition
from orch.core.graph import PipelineGraph
from orch.core.spec import Pipeline, Step

from ..base import Artifact
from ..embed import module
from ..pycode import PYTHON_TYPES, Names, Refs, condition, docstring, ident, literal, step_call, upstream_read, value, wrapped
from . import pool

RUNTIME = Path(__file__).with_name("runtime.py")  # read, not imported: rendering needs no prefect


def render(graph: PipelineGraph, kind: str | None = None, code=None) -> list[Artifact]:
    """The flow module, named after the pipeline; with pod settings in `defaults`, a Kubernetes work pool's
    prefect.yaml and base job template beside it. `code` (shipping.Shipped): the packed code it fetches."""
    if kind is not None:
        raise UsageError("--kind is Argo's; the Prefect backend renders one flow module")
    pipeline = graph.pipeline
    files = [Artifact(module_file(pipeline.name), module_source(graph, code=code))]
    if pool.has_pod_settings(pipeline):
        parameters = {n: _default(p) for n, p in pipeline.params.items() if not p.required}
        files += pool.artifacts(pipeline, module_file(pipeline.name), names_of(pipeline).flow, parameters)
    return files


def names_of(pipeline: Pipeline) -> Names:
    """The module's Python names for the pipeline's flow, tasks and params."""
    return Names(pipeline, "flow")


def module_file(pipeline: str) -> str:
    return f"{ident(pipeline)}_flow.py"


def module_source(graph: PipelineGraph, deployment: bool = True, code=None) -> str:
    """The module's text. Without `deployment` (what `orch run` executes) a schedule is left out:
    a run does not need it, so a schedule Prefect cannot deploy does not stop a run. A pipeline that
    ships code needs `code` (shipping.Shipped): the module holds its sha256, and fetches it from the run's store."""
    pipeline = graph.pipeline
    if ships_code(pipeline) and code is None:
        raise UsageError(f"pipeline {pipeline.name!r} ships its code (code.ship): render it with orch render, which packs it")
    if deployment:
        _refuse(graph)
    names = names_of(pipeline)
    head = [_step_tasks(graph, name, names) for name in [*graph.order(), *graph.final_order()]] + [_flow(graph, names, code)]
    head += [_deployment(pipeline, names)] if pipeline.schedule and deployment else []
    return module(_header(pipeline, deployment, code), RUNTIME, "from typing import Any\nfrom prefect import flow, task",
                  "\n\n\n".join(part.strip("\n") for part in head), _main(pipeline, names, deployment), "plain Python and prefect ----")


def _refuse(graph: PipelineGraph) -> None:
    """What Prefect cannot mean the same way: said at render time, located in the spec."""
    pipeline = graph.pipeline
    if pipeline.schedule and pipeline.schedule.catchup:
        raise SpecError([graph.locate(Diagnostic("E803", "Prefect deployments do not backfill missed runs: catchup: true cannot be rendered",
                                    ("schedule", "catchup"), hint="set catchup: false, or run the backfill yourself"))])


def _header(pipeline: Pipeline, deployment: bool, code=None) -> str:
    about = f"\n\n{pipeline.description.strip()}" if pipeline.description else ""
    shipped = (f"\nThe steps' code is the archive <store>/code/{code.sha256}.tar.gz\n"
               "(the store: $ORCH_ARTIFACTS, else the spec's artifacts.store, else $ORCH_HOME/artifacts), fetched once\n"
               "per machine and unpacked afresh for each attempt: its working folder, first on its import path.\n"
               if code is not None and ships_code(pipeline) else "")
    secrets = ("\nA step's secrets are read from Prefect Secret blocks (a JSON object holding the keys) as each attempt\n"
               "starts, and masked (***) in what it prints.\n" if any(s.secrets for s in pipeline.all_steps.values()) else "")
    final = ("\nThe finally steps start once every step has ended, whatever its state (not after a cancel): neither\n"
             "fail_fast nor the pipeline's timeout stops them, and they never change the flow run's state.\n"
             if pipeline.finally_ else "")
    serve = "\n    python {file} serve     # serve the deployment on its schedule" if pipeline.schedule and deployment else ""
    doc = f'''{pipeline.name}: a Prefect 3 flow, rendered by orch.{about}

Needs prefect (>=3.7) and the steps' own code, nothing of orch:

    python {{file}}           # one run, params at their defaults{serve}

Each step is a task submitted at once; it waits for its upstream tasks whatever their
states, then judges them by its trigger and condition: a step that must not run ends in a
state named Skipped (Completed) or UpstreamFailed (Failed). Its code runs in a child
process, so a timeout stops it. The flow run fails when any step failed.
{final}{shipped}{secrets}'''.replace("{file}", module_file(pipeline.name))
    return docstring(doc)


def _step_tasks(graph: PipelineGraph, name: str, names: Names) -> str:
    step = graph.pipeline.all_steps[name]
    hooked = name not in graph.pipeline.finally_  # a failed finally step raises no fail_fast flag
    refs = Refs(names, "_gate")
    parameters = ["_gate", *(names.outputs(u) for u in upstream_read(graph, name))]
    head = ["    if (_stop := _gate.blocked()) is not None:", "        return _stop"]
    if step.when is not None:
        head += [f"    if not ({condition(parse_condition(step.when), refs)}):",
                 f"        return _gate.skipped({('when: ' + ' '.join(step.when.split()) + ' is false')!r})"]
    placed = "_placed" if _placed(graph.pipeline, step) else ""  # only then does the module carry Place and its helpers
    call = step_call(step, refs, f"_gate.python{placed}", f"_gate.command{placed}", [], indent="    ")
    if step.foreach is None:
        options = _task_options(name, step, failure_hook=hooked)
        return f"{wrapped('@task', options)}\ndef {names.task(name)}({', '.join(parameters)}):\n" + "\n".join(head) + f"\n{call}\n"
    fan_out = [names.of(name, "item"), value(step.foreach, refs), f"outputs={literal(dict(step.outputs))}"]
    fan_out += [f"parallelism={step.parallelism}"] if step.parallelism else []
    fan_out += ["values={" + ", ".join(f"{p!r}: {p}" for p in parameters[1:]) + "}"] if parameters[1:] else []
    hook = ", on_failure=[note_failure]" if hooked else ""
    parent = (f"@task(name={name!r}, task_run_name={name!r}{hook}, **RESULTS)\n"
              f"def {names.task(name)}({', '.join(parameters)}):\n" + "\n".join(head) + "\n"
              + wrapped("return _gate.fan_out", fan_out, indent="    ") + "\n")
    item = (f"{wrapped('@task', _task_options(name + '[item]', step, failure_hook=False, run_name=False))}\n"
            f"def {names.of(name, 'item')}({', '.join(['_gate', '_item', *parameters[1:]])}):\n{call}\n")
    return parent.rstrip("\n") + "\n\n\n" + item


def _placed(pipeline: Pipeline, step: Step) -> bool:
    """Whether the step's attempts run in a Place: a copy of the shipped code, its packages' env, its secrets."""
    return ships_code(pipeline) or bool(step.packages or step.secrets)


def _task_options(name: str, step: Step, failure_hook: bool, run_name: bool = True) -> list[str]:
    options = [f"name={name!r}"]
    if run_name:
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


def _flow(graph: PipelineGraph, names: Names, code=None) -> str:
    """The flow: the user's params as its parameters (their only place as Python names), then every
    step submitted through `_run`, each waiting on its upstream steps; then the finally steps."""
    pipeline = graph.pipeline
    signature = [f"{names.params[n]}: {PYTHON_TYPES[p.type]}" + ("" if p.required else f" = {literal(_default(p))}")
                 for n, p in ((n, pipeline.params[n]) for n in flow_parameters(pipeline))]
    options = [f"name={pipeline.name!r}"]
    if pipeline.description:
        options.append(f"description={' '.join(pipeline.description.split())!r}")
    params = "{" + ", ".join(f"{n!r}: {names.params[n]}" for n in pipeline.params) + "}"
    run = [params, f"fail_fast={pipeline.fail_fast!r}", f"timeout={pipeline.timeout!r}"]
    if needs_store(pipeline):  # artifacts or shipped code: the run's store
        run += [f"pipeline={pipeline.name!r}", f"store={spec_store(pipeline)!r}"]
    if code is not None and ships_code(pipeline):
        run.append(f"code={code.sha256!r}")
    body = [wrapped("_run = Run", run, indent="    ")]
    body += [_submit(graph, names, name, "submit", graph.upstream(name)) for name in graph.order()]
    body += _finally(graph, names)
    body.append("    return _run.outcome()")
    return f"@flow({', '.join(options)})\ndef {names.flow}({', '.join(signature)}):\n" + "\n".join(body) + "\n"


def _submit(graph: PipelineGraph, names: Names, name: str, method: str, upstream: list[str]) -> str:
    """`_<step>_future = _run.<method>(task, name, after=..., trigger=..., <its upstream outputs>, <where it runs>)`."""
    step = graph.pipeline.all_steps[name]
    args = [names.task(name), repr(name)]
    if upstream:
        args.append(f"after={literal(upstream)}")
    if step.trigger and step.trigger != "all_succeeded":
        args.append(f"trigger={step.trigger!r}")
    args += [f"{names.outputs(u)}={names.future(u)}" for u in upstream_read(graph, name)]
    args += _where(step)
    return wrapped(f"{names.future(name)} = _run.{method}", args, indent="    ")


def _finally(graph: PipelineGraph, names: Names) -> list[str]:
    """The flow's finally section: a wait for every step's task (its end, whatever its state), then each finally
    step, waiting on its finally upstream only. Not a Python `finally:` block, which would run them after a cancel
    or a Ctrl-C too (docs/backends.md)."""
    if not graph.pipeline.finally_:
        return []
    wait = wrapped("_run.wait_for_steps", [repr(name) for name in graph.pipeline.steps], indent="    ")
    return ["", "    # finally: once every step above has ended, whatever its state", wait,
            *(_submit(graph, names, name, "submit_finally", graph.final_upstream(name)) for name in graph.final_order())]


def _where(step: Step) -> list[str]:
    """Where the step's attempts run: its packages' env, and the secrets each reads (block, key) at its start."""
    where = [f"packages={literal(step.packages)}"] if step.packages else []
    if step.secrets:
        where.append("secrets={" + ", ".join(f"{var!r}: ({ref.secret!r}, {ref.key!r})" for var, ref in step.secrets.items()) + "}")
    return where


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
