"""`render` for Prefect 3: one flow module that needs prefect and the user's code, nothing of orch.

Mapping (docs/backends.md): a `@task` per step (retries with an exact `retry_delay_seconds`
list, `timeout_seconds`, resources as tags, results persisted as JSON), a fan-out as a task
that maps an item task; a group as a task that decides once and calls a plain function submitting
its steps' tasks (`_<group>_steps`), once or once per item; a `@flow` with typed parameters that submits
every step and group at once, each waiting for its upstream tasks whatever their states, then judging them
(runtime.py); then, once every step's task is final, the finally steps, as a section of the flow after the steps. A step
with secrets or packages, or any step of a pipeline that ships its code, runs each attempt in a Place
(backends/stepplace.py): its secrets read from Prefect Secret blocks, a fresh copy of the code, its env.
With pod settings in `defaults`, prefect.yaml and a Kubernetes work pool's base job template (pool.py).
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any

from orch.core import groups, typed
from orch.core.artifacts import needs_store, ships_code, spec_store
from orch.core.errors import Diagnostic, SpecError, UsageError
from orch.core.expr import parse_condition, walk_refs
from orch.core.graph import PipelineGraph
from orch.core.refs import find_refs, iter_strings
from orch.core.spec import Pipeline, Step

from .. import roundtrip
from ..base import Artifact
from ..embed import module
from orch.core.groups import scope_edges
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
    edges = scope_edges(graph)
    head = [roundtrip.python_lines(graph, code)]
    head += [_group_task(graph, name, names, edges) if name in pipeline.groups else _step_tasks(graph, name, names)
            for name in groups.order(pipeline)]
    head += [_step_tasks(graph, name, names) for name in graph.final_order()] + [_flow(graph, names, edges, code)]
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
    grouped = ("\nA group is a task: it decides once over its upstream tasks, as a step does, then calls the function\n"
               "submitting its steps' tasks (_<group>_steps), once or once per item (task runs `group[i].step`), and\n"
               "ends in the group's state with its outputs.\n" if pipeline.groups else "")
    final = ("\nThe finally steps start once every step has ended, whatever its state (not after a cancel): neither\n"
             "fail_fast nor the pipeline's timeout stops them, and they never change the flow run's state.\n"
             if pipeline.finally_ else "")
    serve = "\n    python {file} serve     # serve the deployment on its schedule" if pipeline.schedule and deployment else ""
    judged = ("The flow run fails when one of its\nleaves (the steps and groups nothing runs after) failed or was "
              "upstream_failed: a\nfailure a succeeded leaf follows does not fail it." if pipeline.state_from == "leaves"
              else "The flow run fails when any step failed.")
    doc = f'''{pipeline.name}: a Prefect 3 flow, rendered by orch.{about}

Needs prefect (>=3.7) and the steps' own code, nothing of orch:

    python {{file}}           # one run, params at their defaults{serve}

Each step is a task submitted at once; it waits for its upstream tasks whatever their
states, then judges them by its trigger and condition: a step that must not run ends in a
state named Skipped (Completed) or UpstreamFailed (Failed). Its code runs in a child
process, so a timeout stops it. {judged}
{grouped}{final}{shipped}{secrets}'''.replace("{file}", module_file(pipeline.name))
    return docstring(doc)


def _step_tasks(graph: PipelineGraph, name: str, names: Names) -> str:
    step = graph.pipeline.all_steps[name]
    hooked = name not in graph.pipeline.finally_  # a failed finally step raises no fail_fast flag
    refs = Refs(names, "_gate", _qualify(graph.pipeline, name))
    reads = [names.outputs(u) for u in _reads(graph, name)]
    parameters = ["_gate", *(["_item"] if _in_fan_out(graph.pipeline, name) else []), *reads]
    head = _head(step.when, refs)
    placed = "_placed" if _placed(graph.pipeline, step) else ""  # only then does the module carry Place and its helpers
    call = step_call(step, refs, f"_gate.python{placed}", f"_gate.command{placed}", [], indent="    ")
    if step.foreach is None:
        options = _task_options(name, step, failure_hook=hooked)
        return f"{wrapped('@task', options)}\ndef {names.task(name)}({', '.join(parameters)}):\n" + "\n".join(head) + f"\n{call}\n"
    fan_out = [names.of(name, "item"), value(step.foreach, refs), f"outputs={literal(dict(step.outputs))}"]
    fan_out += [f"parallelism={step.parallelism}"] if step.parallelism else []
    fan_out += ["values={" + ", ".join(f"{p!r}: {p}" for p in reads) + "}"] if reads else []
    hook = ", on_failure=[note_failure]" if hooked else ""
    parent = (f"@task(name={name!r}, task_run_name={name!r}{hook}, **RESULTS)\n"
              f"def {names.task(name)}({', '.join(parameters)}):\n" + "\n".join(head) + "\n"
              + wrapped("return _gate.fan_out", fan_out, indent="    ") + "\n")
    item = (f"{wrapped('@task', _task_options(name + '[item]', step, failure_hook=False, run_name=False))}\n"
            f"def {names.of(name, 'item')}({', '.join(['_gate', '_item', *reads])}):\n{call}\n")
    return parent.rstrip("\n") + "\n\n\n" + item


def _head(when, refs: Refs) -> list[str]:
    """A task's first lines: it ends without running when its upstream steps' states say so, or its `when` is false."""
    head = ["    if (_stop := _gate.blocked()) is not None:", "        return _stop"]
    if when is not None:
        head += [f"    if not ({condition(parse_condition(when), refs)}):",
                 f"        return _gate.skipped({('when: ' + ' '.join(when.split()) + ' is false')!r})"]
    return head


def _group_task(graph: PipelineGraph, group: str, names: Names, edges) -> str:
    """A group's task -- it decides once over the group's upstream tasks, as a step's does, then runs the group's
    steps through `_<group>_steps`, once (`_gate.group`) or once per item (`_gate.each`) -- and that function."""
    pipeline = graph.pipeline
    spec = pipeline.groups[group]
    refs = Refs(names, "_gate", _qualify(pipeline, group))  # a group's own fields are read in its parent's scope
    outer_item = ["_item"] if _in_fan_out(pipeline, group) else []
    parameters = ["_gate", *outer_item, *(names.outputs(u) for u in _node_reads(graph, group))]
    outputs = "{" + ", ".join(f"{o!r}: {groups.source_of(pipeline, group, o)!r}" for o in spec.outputs) + "}"
    passed = [*(outer_item if spec.foreach is None else []), *(names.outputs(u) for u in _inside_reads(graph, group))]
    values = ["values={" + ", ".join(f"{p!r}: {p}" for p in passed) + "}"] if passed else []
    values += ["fail_fast=True"] if groups.fails_fast(pipeline, group) else []  # a flag per run of its inside
    if spec.foreach is None:
        run = wrapped("return _gate.group", [names.of(group, "steps"), f"outputs={outputs}", *values], indent="    ")
    else:
        limit = [f"parallelism={spec.parallelism}"] if spec.parallelism else []
        run = wrapped("return _gate.each", [names.of(group, "steps"), value(spec.foreach, refs), f"outputs={outputs}", *limit,
                                            *values], indent="    ")
    options = [f"name={group!r}", f"task_run_name={group!r}", "on_failure=[note_failure]", "**RESULTS"]
    task_ = f"{wrapped('@task', options)}\ndef {names.task(group)}({', '.join(parameters)}):\n" + "\n".join(_head(spec.when, refs))
    return task_ + f"\n{run}\n\n\n" + _group_steps(graph, group, names, edges)


def _group_steps(graph: PipelineGraph, group: str, names: Names, edges) -> str:
    """`_<group>_steps(_run, ...)`: the group's steps and groups submitted in one run of it, each waiting for its
    upstream ones in that run; then it waits for them all and returns that run's state."""
    pipeline = graph.pipeline
    item = ["_item"] if pipeline.groups[group].foreach is not None or _in_fan_out(pipeline, group) else []
    parameters = ["_run", *item, *(names.outputs(u) for u in _inside_reads(graph, group))]
    once = "for one item" if pipeline.groups[group].foreach is not None else "once"
    body = [f'    """The steps of group {group}, {once}: each waits for its upstream steps here, then all have ended."""']
    body += [_submit(graph, names, child, "submit", edges.get(group, {}).get(child, []), group)
             for child in _scope_order(pipeline, group, edges)]
    body.append(wrapped("return _run.ended", [repr(child) for child in groups.children(pipeline, group)], indent="    "))
    return f"def {names.of(group, 'steps')}({', '.join(parameters)}):\n" + "\n".join(body) + "\n"


def _qualify(pipeline: Pipeline, name: str):
    """written -> qualified, for the names `name`'s fields refer to (lexical: nearest scope first; a finally step's
    are the pipeline's own)."""
    if name in pipeline.finally_:
        return lambda written: written
    return lambda written: groups.lookup(pipeline, name, written) or written


def _reads(graph: PipelineGraph, name: str) -> list[str]:
    """The steps and groups (qualified) whose outputs a step reads."""
    qualify = _qualify(graph.pipeline, name)
    return list(dict.fromkeys(qualify(u) for u in upstream_read(graph, name)))


def _own_reads(pipeline: Pipeline, group: str) -> list[str]:
    """The steps and groups (qualified) whose outputs a group's `foreach` and `when` read."""
    spec = pipeline.groups[group]
    refs = [ref for _, text_ in iter_strings([spec.foreach]) for ref in find_refs(text_)]
    refs += [node.ref for node in walk_refs(parse_condition(spec.when))] if spec.when is not None else []
    qualify = _qualify(pipeline, group)
    return list(dict.fromkeys(qualify(r.step) for r in refs if r.kind == "output"))


def _inside_reads(graph: PipelineGraph, group: str) -> list[str]:
    """What the steps and groups inside `group` read from outside it: handed in by the group's task."""
    pipeline = graph.pipeline
    inner = [n for n in groups.order(pipeline) if groups.inside(n, group)]
    found = [u for n in inner for u in (_own_reads(pipeline, n) if n in pipeline.groups else _reads(graph, n))]
    return [u for u in dict.fromkeys(found) if not groups.inside(u, group)]


def _node_reads(graph: PipelineGraph, name: str) -> list[str]:
    """The outputs a step's or group's task is handed (a group's: those its fields and its steps read from outside)."""
    if name not in graph.pipeline.groups:
        return _reads(graph, name)
    return list(dict.fromkeys([*_own_reads(graph.pipeline, name), *_inside_reads(graph, name)]))


def _in_fan_out(pipeline: Pipeline, name: str) -> bool:
    """Whether `name` is inside a fan-out group: its task is handed `_item`, the innermost item."""
    return bool(groups.fan_out_groups(pipeline, name))


def _scope_order(pipeline: Pipeline, scope: str, edges) -> list[str]:
    """The steps and groups directly in `scope` in an order that submits each after its upstream ones, ties in
    spec order (as graph.order does for the pipeline's steps)."""
    children = groups.children(pipeline, scope)
    position = {name: i for i, name in enumerate(children)}
    upstream = {name: edges.get(scope, {}).get(name, []) for name in children}
    waiting = {name: len(ups) for name, ups in upstream.items()}
    downstream: dict[str, list[str]] = {}
    for name, ups in upstream.items():
        for up in ups:
            downstream.setdefault(up, []).append(name)
    ready = [position[name] for name in children if not waiting[name]]
    heapq.heapify(ready)
    order = []
    while ready:
        name = children[heapq.heappop(ready)]
        order.append(name)
        for down in downstream.get(name, ()):
            waiting[down] -= 1
            if not waiting[down]:
                heapq.heappush(ready, position[down])
    return order


def _placed(pipeline: Pipeline, step: Step) -> bool:
    """Whether the step's attempts run in a Place: a copy of the shipped code, its packages' env, its secrets."""
    return ships_code(pipeline) or bool(step.packages or step.secrets)


def _task_options(name: str, step: Step, failure_hook: bool, run_name: bool = True) -> list[str]:
    options = [f"name={name!r}"]
    if run_name:
        options.append(f"task_run_name={name!r}")
    if step.retries and step.retries.limit:
        on = step.retries.on  # which failed attempts: a condition on the exception Prefect hands it
        options += [f"retries={step.retries.limit}", f"retry_delay_seconds={literal(step.retries.delays())}",
                    "retry_condition_fn=worth_retrying" if on == "any" else f"retry_condition_fn=retrying_on({on!r})"]
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


def _flow(graph: PipelineGraph, names: Names, edges, code=None) -> str:
    """The flow: the user's params as its parameters (their only place as Python names), then every
    step and group submitted through `_run`, each waiting on its upstream ones; then the finally steps."""
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
    if groups.judged(graph) is not None:
        run.append(f"leaves={groups.judged(graph)!r}")
    body = [wrapped("_run = Run", run, indent="    ")]
    body += [_submit(graph, names, name, "submit", edges.get("", {}).get(name, [])) for name in _scope_order(pipeline, "", edges)]
    body += _finally(graph, names)
    body.append("    return _run.outcome()")
    return f"@flow({', '.join(options)})\ndef {names.flow}({', '.join(signature)}):\n" + "\n".join(body) + "\n"


def _submit(graph: PipelineGraph, names: Names, name: str, method: str, upstream: list[str], scope: str = "") -> str:
    """`_<step>_future = _run.<method>(task, name, after=..., trigger=..., <its upstream outputs>, <where it runs>)`:
    an output of a step or group beside it is its future, one from outside `scope` the value handed in."""
    pipeline = graph.pipeline
    spec = pipeline.groups.get(name) or pipeline.all_steps[name]
    args = [names.task(name), repr(name)]
    if upstream:
        args.append(f"after={literal(upstream)}")
    if spec.trigger and spec.trigger != "all_succeeded":
        args.append(f"trigger={spec.trigger!r}")
    args += ["_item=_item"] if _in_fan_out(pipeline, name) else []
    args += [f"{names.outputs(u)}={names.future(u) if groups.parent(u) == scope else names.outputs(u)}"
             for u in _node_reads(graph, name)]
    args += _where(spec) if isinstance(spec, Step) else []
    return wrapped(f"{names.future(name)} = _run.{method}", args, indent="    ")


def _finally(graph: PipelineGraph, names: Names) -> list[str]:
    """The flow's finally section: a wait for every step's task (its end, whatever its state), then each finally
    step, waiting on its finally upstream only. Not a Python `finally:` block, which would run them after a cancel
    or a Ctrl-C too (docs/backends.md)."""
    if not graph.pipeline.finally_:
        return []
    wait = wrapped("_run.wait_for_steps", [repr(name) for name in groups.order(graph.pipeline)], indent="    ")
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
