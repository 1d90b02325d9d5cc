"""`render` for Airflow 3: one DAG file (TaskFlow API of `airflow.sdk`) that needs Airflow and
the user's code, nothing of orch.

Mapping (docs/backends.md): a task per step with the trigger as its `trigger_rule`, `when`
as a skip, exact retry delays through a retry policy, `execution_timeout`; DAG `params`
with types; `foreach` as an items task, a mapped item task and a collecting task; a leaf
`Orch__verdict` that fails the run when a step failed, where a step runs after a failure
(`needs_verdict`). Finally steps are tasks downstream of every step's task, their triggers over
their finally upstream only; the verdict then follows them all, the DAG's one leaf, so the run's
state is the steps' alone. A group is a TaskGroup between its gate (trigger, `when`, items) and its end (state,
outputs, error), a fan-out group a mapped task group over the gate's item indexes. Tasks take no arguments
but a mapped task's item index (a user's text lives in the function bodies, out of reach of Jinja); values come from XComs.
Where an attempt runs (WHERE, runtime.Step.place): the shipped code, named by its sha256 and
fetched from the run's store; the step's packages' env; its secrets, by name, read from Airflow's
Variables or Connections as the attempt starts -- a value is never written into the file.
"""

from __future__ import annotations

from pathlib import Path

from orch.core import groups, typed
from orch.core.artifacts import needs_store, ships_code, spec_store
from orch.core.errors import SpecError, UsageError
from orch.core.expr import parse_condition, walk_refs
from orch.core.graph import PipelineGraph
from orch.core.refs import find_refs, iter_strings
from orch.core.spec import Pipeline, Step

from .. import roundtrip
from ..base import Artifact
from ..embed import module
from orch.core.groups import scope_edges
from ..pycode import Names, Refs, condition, docstring, ident, literal, step_call, upstream_read, value, wrapped
from . import kubernetes

RUNTIME = Path(__file__).with_name("runtime.py")  # read, not imported: rendering needs no airflow
VERDICT = "Orch__verdict"  # orch's own task ids hold a capital, which no step's name can
ITEMS_TASK, ITEM_TASK = "{}__Items", "{}__Item"  # as runtime.py names a fan-out's helper tasks
GATE_TASK, GROUP_TASK = "{}__Gate", "{}__Group"  # a group's: deciding whether it runs (its items), and its end


def task_ids(pipeline: Pipeline) -> set[str]:
    """Every task id the DAG file defines: a task per step and finally step, a fan-out's two helpers, the
    verdict if it has one."""
    ids = {*pipeline.all_steps} | ({VERDICT} if needs_verdict(pipeline) else set())
    for name, step in pipeline.all_steps.items():
        if step.foreach is not None:
            ids |= {ITEMS_TASK.format(name), ITEM_TASK.format(name)}
    return ids | {task.format(name) for name in pipeline.groups for task in (GATE_TASK, GROUP_TASK)}


def needs_verdict(pipeline: Pipeline) -> bool:
    """Whether the DAG needs the leaf `Orch__verdict` to fail its run when a step failed. Airflow fails a run
    when a leaf task failed or was upstream_failed, and a failure reaches every leaf below it -- each task with one
    upstream runs on Airflow's own rule, every other one is judged by runtime.Step and fails ('upstream failed') --
    unless a step runs after a failure: an `all_done` or `any_failed` step (a cleanup, an alert) that succeeds.
    Finally steps always run after one, and may fail after a success: there the verdict follows them too, the
    DAG's only leaf, so the run's state is the steps' (run_outcome) whatever the finally steps did."""
    nodes = [*pipeline.steps.values(), *pipeline.groups.values()]  # a group's trigger is its gate's
    return bool(pipeline.finally_) or any(node.trigger in ("all_done", "any_failed") for node in nodes)


def scheduler_times_out(pipeline: Pipeline) -> bool:
    """Whether the DAG has a `dagrun_timeout`. A scheduler timing a run out skips every task not yet ended,
    finally steps too (SchedulerJobRunner._schedule_dag_run); so a pipeline with finally steps has none, and
    the deadline every task checks (runtime.Step.left) bounds its steps alone."""
    return bool(pipeline.timeout) and not pipeline.finally_


TRIGGER_RULES = {"all_succeeded": "all_success", "none_failed": "none_failed", "all_done": "all_done",
                 "any_failed": "one_failed"}
PARAM_TYPES = {"string": "string", "artifact": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
TARGETS = ("python", "kubernetes")


def render(graph: PipelineGraph, kind: str | None = None, target: str | None = None, code=None) -> list[Artifact]:
    """The DAG file; `code` (shipping.Shipped) is the packed code a shipping pipeline's tasks fetch."""
    if kind is not None:
        raise UsageError("--kind is Argo's; the Airflow backend renders one DAG file")
    return [Artifact(dag_file(graph.pipeline.name), dag_source(graph, target or "python", code))]


def dag_file(pipeline: str) -> str:
    return f"{ident(pipeline)}_dag.py"


def names_of(pipeline: Pipeline) -> Names:
    return Names(pipeline, "dag")


def dag_source(graph: PipelineGraph, target: str = "python", code=None) -> str:
    """The DAG file's text; `target` 'kubernetes' runs steps with an image as KubernetesPodOperator tasks.
    A pipeline that ships code names its archive by `code.sha256` (shipping.Shipped): each task fetches it from
    the run's store."""
    if target not in TARGETS:
        raise UsageError(f"--target takes python or kubernetes, not {target!r}")
    if ships_code(graph.pipeline) and code is None:
        raise UsageError("this pipeline ships its code (code: {ship: true}): render it with orch render, which packs "
                         "the code and names its archive in the DAG file")
    sha = code.sha256 if code is not None and ships_code(graph.pipeline) else None
    pods = target == "kubernetes" and any(step.image for step in graph.pipeline.all_steps.values())
    _refuse(graph, pods)
    pipeline = graph.pipeline
    names = names_of(pipeline)
    verdict = [_verdict(pipeline)] if needs_verdict(pipeline) else []
    tasks = [_task(graph, name, names, pods, sha) for name in [*graph.order(), *graph.final_order()]]
    tasks += [_group_tasks(graph, name, names) for name in pipeline.groups]
    body = tasks + verdict + [_wiring(graph, names, pods)]
    macros = pods and kubernetes.uses_macros(graph)
    head = roundtrip.python_lines(graph, code) + _pipeline_constants(graph, sha) + "\n\n" + _dag_decorator(pipeline, macros) + f"\ndef {names.flow}():\n" + "\n\n".join(body)
    tail = (kubernetes.definitions(graph) + "\n\n\n" if pods else "") + f"{names.flow}()  # last: its tasks use the helpers above\n"
    return module(_header(pipeline, pods), RUNTIME, _imports(pipeline, pods), head, tail, "plain Python and the Airflow task SDK ----")


def _refuse(graph: PipelineGraph, pods: bool) -> None:
    """What a pod task cannot do yet, as the capability table says it (located there), naming each step."""
    from ..capabilities import check

    found = check(graph, "airflow", "kubernetes").refused if pods else []
    if found:
        raise SpecError(found)


def _header(pipeline: Pipeline, pods: bool) -> str:
    about = f"\n\n{pipeline.description.strip()}" if pipeline.description else ""
    where = ("Steps with an image run as KubernetesPodOperator pods (apache-airflow-providers-cncf-kubernetes);\n"
             "the others, and steps without an image, in a child process of the task.") if pods else \
        "Each step's code runs in a child process of its task, so a timeout stops it."
    doc = f'''{pipeline.name}: an Airflow 3 DAG, rendered by orch.{about}

Needs Airflow (>=3.3) and the steps' own code, nothing of orch: put this file in your DAGs
folder. {where}

Trigger rules and skips are Airflow's own. Tasks take no arguments -- values come from
XComs inside the task -- so no user text passes through Jinja. A step that stopped before
running (fail_fast, the pipeline's timeout) fails with the XCom orch_status=upstream_failed.
{_verdict_note(pipeline)}
'''
    return docstring(doc)


def _imports(pipeline: Pipeline, pods: bool) -> str:
    imports = "import datetime\nfrom airflow.sdk import Param, dag, task"
    if pipeline.groups:
        imports += "\nfrom airflow.sdk import TaskGroup, task_group"
    if pipeline.schedule:
        imports += "\nfrom airflow.sdk import CronTriggerTimetable"
    if pods:
        imports += "\n" + kubernetes.imports()
    return imports


def _pipeline_constants(graph: PipelineGraph, sha: str | None) -> str:
    pipeline = graph.pipeline
    params = {name: param.type for name, param in pipeline.params.items()}
    artifacts = f", pipeline={pipeline.name!r}, store={spec_store(pipeline)!r}" \
        if needs_store(pipeline) else ""
    where = _where(pipeline)
    places = (f", code={sha!r}" if sha else "") + (", where=WHERE" if where else "")
    nodes = {name: end_task(pipeline, name) for name in groups.order(pipeline)} if pipeline.groups else None
    scopes = _fail_fast_scopes(pipeline)
    leaves = groups.judged(graph)
    return (f"STEPS = {literal(list(pipeline.steps))}\n" + (f"NODES = {literal(nodes)}\n" if nodes else "") +
            (f"LEAVES = {literal(leaves)}\n" if leaves is not None else "") +
            (f"SCOPES = {literal(scopes)}\n" if scopes else "") + (f"WHERE = {literal(where)}\n" if where else "") +
            f"PIPELINE = dict(steps=STEPS, {'nodes=NODES, ' if nodes else ''}{'scopes=SCOPES, ' if scopes else ''}"
            f"{'leaves=LEAVES, ' if leaves is not None else ''}"
            f"params={literal(params)}, "
            f"fail_fast={pipeline.fail_fast!r}, "
            f"timeout={pipeline.timeout!r}{artifacts}{places})\n")


def _fail_fast_scopes(pipeline: Pipeline) -> dict | None:
    """With groups: each scope that fails fast ('' the pipeline's, a group's) -> the end tasks of its steps and groups,
    whose states a task in it reads before it starts (runtime.Step._may_start); None without groups."""
    if not pipeline.groups:
        return None
    return {scope: [end_task(pipeline, child) for child in groups.children(pipeline, scope)]
            for scope in ["", *pipeline.groups] if groups.fails_fast(pipeline, scope)}


def _where(pipeline: Pipeline) -> dict:
    """What each step's task needs where its attempt runs (runtime.Step.place): its packages, and each secret
    as [secret, key], read from Airflow's Variables or Connections as the attempt starts -- names, never values."""
    where = {}
    for name, step in pipeline.all_steps.items():
        needs = {}
        if step.packages:
            needs["packages"] = list(step.packages)
        if step.secrets:
            needs["secrets"] = {var: [ref.secret, ref.key] for var, ref in step.secrets.items()}
        if needs:
            where[name] = needs
    return where


def _dag_decorator(pipeline: Pipeline, macros: bool) -> str:
    options = [f"dag_id={pipeline.name!r}"]
    if pipeline.description:
        options.append(f"description={' '.join(pipeline.description.split())!r}")
    schedule = pipeline.schedule
    if schedule:
        options += [f"schedule=CronTriggerTimetable({schedule.cron!r}, timezone={schedule.timezone!r})",
                    "start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)",
                    f"catchup={schedule.catchup!r}", f"max_active_runs={schedule.concurrency}"]
    else:
        options += ["schedule=None", "catchup=False"]
    if scheduler_times_out(pipeline):
        options.append(f"dagrun_timeout=datetime.timedelta(seconds={pipeline.timeout!r})")
    if pipeline.params:
        params = [f"{literal(name)}: {_param(p)}" for name, p in pipeline.params.items()]
        options.append("params={\n" + "".join(f"        {p},\n" for p in params) + "    }")
    options.append(f"tags={literal(['orch', *(f'{k}:{v}' for k, v in pipeline.labels.items())])}")
    if macros:
        options.append("user_defined_macros=MACROS")
    return wrapped("@dag", options)


def _param(param) -> str:
    arguments = [] if param.required else [literal(None if param.default is None else typed.as_declared(param.default, param.type))]
    if param.type in PARAM_TYPES:
        arguments.append(f"type={PARAM_TYPES[param.type]!r}")
    if param.description:
        arguments.append(f"description={param.description!r}")
    return f"Param({', '.join(arguments)})"


def _task(graph: PipelineGraph, name: str, names: Names, pods: bool, sha: str | None = None) -> str:
    pipeline = graph.pipeline
    step, own, fan_out = pipeline.all_steps[name], groups.local(name), _fan_out_group(pipeline, name)
    refs = Refs(names, "_step", qualify=lambda written: groups.lookup(pipeline, name, written) or written)
    prelude = _reads(graph, name, refs)
    if fan_out:
        prelude.append("        _item = _step.group_item()")
    guard = []
    if step.when is not None:
        guard = [f"        if not ({condition(parse_condition(step.when), refs)}):",
                 f"            _step.skip({('when: ' + ' '.join(step.when.split()) + ' is false')!r})"]
    final = ", final=True" if name in pipeline.finally_ else ""  # stopped by neither the deadline nor fail_fast
    trigger, judged = _trigger(graph, name)
    making = f"Step({name!r}, **PIPELINE{final}{_in_group(pipeline, name)}{judged})"  # making it stops a step that may not start
    start = f"        _step = {making}"
    if pods and step.image:  # with no condition to test, making the Step is the whole check
        check = "\n".join([start, *prelude, *guard]) if guard else f"        {making}"
        return kubernetes.pod_task(graph, name, names, trigger, _attempt_options(step), check, sha)
    call = step_call(step, refs, "_step.python", "_step.command", [], indent="        ")
    if step.foreach is None:
        options = [f"task_id={own!r}", *_attempt_options(step), f"trigger_rule={trigger!r}"]
        if fan_out and pipeline.groups[fan_out].parallelism:
            options.append(f"max_active_tis_per_dagrun={pipeline.groups[fan_out].parallelism}")
        return _def(options, names.task(name), "_index" if fan_out else "", [start, *prelude, *guard, call])
    items = _def([f"task_id={ITEMS_TASK.format(own)!r}", f"trigger_rule={trigger!r}"], names.of(name, "items"), "",
                 [start, *prelude, *guard, f"        return _step.fan_out({value(step.foreach, refs)})"])
    item_options = [f"task_id={ITEM_TASK.format(own)!r}", *_attempt_options(step)]
    if step.parallelism:
        item_options.append(f"max_active_tis_per_dagrun={step.parallelism}")
    item = _def(item_options, names.of(name, "item"), "_index",
                [f"        _step = Step({name!r}, **PIPELINE{final})", "        _item = _step.item(_index)", *prelude, call])
    collect = _def([f"task_id={own!r}", "trigger_rule='all_done'"], names.task(name), "",
                   [f"        return Step({name!r}, **PIPELINE, starting=False).collect({literal(list(step.outputs))})"])
    return "\n\n".join([items, item, collect])


def _group_tasks(graph: PipelineGraph, name: str, names: Names) -> str:
    """A group's two tasks, in its parent's scope (outside its TaskGroup, so neither is mapped with its items):
    its gate, whose trigger and `when` decide once, over what is outside the group, whether it runs, and which
    returns a fan-out's item indexes to map its task group over; and its end, which waits for every task inside and
    takes the group's state, outputs and error, and every inner step's items, from their task instances (Step.close)."""
    pipeline = graph.pipeline
    group, own = pipeline.groups[name], groups.local(name)
    refs = Refs(names, "_step", qualify=lambda written: groups.lookup(pipeline, name, written) or written)
    trigger, judged = _trigger(graph, name)
    body = [f"        _step = Step({name!r}, **PIPELINE{_in_group(pipeline, name)}{judged})", *_reads(graph, name, refs)]
    if group.when is not None:
        body += [f"        if not ({condition(parse_condition(group.when), refs)}):",
                 f"            _step.skip({('when: ' + ' '.join(group.when.split()) + ' is false')!r})"]
    if group.foreach is not None:
        body.append(f"        return _step.fan_out({value(group.foreach, refs)})")
    gate = _def([f"task_id={GATE_TASK.format(own)!r}", "retries=0", f"trigger_rule={trigger!r}"],
                names.of(name, "may_start"), "", body)
    close = _def([f"task_id={GROUP_TASK.format(own)!r}", "retries=0", "trigger_rule='all_done'"], names.of(name, "task"), "",
                 [f"        return Step({name!r}, **PIPELINE, starting=False).close({literal(_group_shape(pipeline, name))})"])
    return gate + "\n\n" + close


def _group_shape(pipeline: Pipeline, name: str) -> dict:
    """What a group's end reads: its gate, its children (task id, 'step' or 'group', local name), each output's
    source (task id, output), whether its children are mapped over items, and the steps whose items it reports."""
    group = pipeline.groups[name]
    kids = groups.children(pipeline, name)
    outputs = {}
    for output in group.outputs:
        source = groups.source_of(pipeline, name, output)
        outputs[output] = [end_task(pipeline, source[0]), source[1]] if source else None
    return {"gate": GATE_TASK.format(name), "fan_out": group.foreach is not None,
            "children": [[end_task(pipeline, kid), "group" if kid in pipeline.groups else "step", groups.local(kid)]
                         for kid in kids],
            "outputs": outputs, "steps": kids if group.foreach is not None else []}


def end_task(pipeline: Pipeline, node: str) -> str:
    """The task whose state and return XCom are a node's: a step's (a fan-out's collector), a group's end."""
    return GROUP_TASK.format(node) if node in pipeline.groups else node


def _fan_out_group(pipeline: Pipeline, name: str) -> str | None:
    """The fan-out group `name` is directly in, if any (nested fan-outs are refused: capabilities)."""
    scope = groups.parent(name)
    return scope if scope and pipeline.groups[scope].foreach is not None else None


def _in_group(pipeline: Pipeline, name: str) -> str:
    """A task inside a group: the group (its gate decides whether it runs) and, in a fan-out, its item index."""
    scope = groups.parent(name)
    if not scope:
        return ""
    return f", group={scope!r}" + (", index=_index" if pipeline.groups[scope].foreach is not None else "")


def _reads(graph: PipelineGraph, name: str, refs: Refs) -> list[str]:
    """The task's reads of the upstream outputs it refers to: a sibling's inside a fan-out, of its own item."""
    pipeline, lines = graph.pipeline, []
    fan_out = _fan_out_group(pipeline, name)
    for written in _upstream_refs(graph, name):
        node = refs.qualify(written)
        same = ", same_item=True" if fan_out and groups.parent(node) == fan_out else ""
        lines.append(f"        {refs.names.outputs(node)} = _step.outputs({end_task(pipeline, node)!r}{same})")
    return lines


def _upstream_refs(graph: PipelineGraph, name: str) -> list[str]:
    """The names (as written) whose outputs a step's or group's fields read."""
    if name in graph.pipeline.all_steps:
        return upstream_read(graph, name)
    group = graph.pipeline.groups[name]
    refs = [ref for _, s in iter_strings([group.foreach]) for ref in find_refs(s)]
    if group.when is not None:
        refs += [node.ref for node in walk_refs(parse_condition(group.when))]
    return list(dict.fromkeys(r.step for r in refs if r.kind == "output"))


def _scope_upstream(graph: PipelineGraph, name: str) -> list[str]:
    """The task ids a step's or group's trigger counts: the nodes of its own scope it waits for (a group's own
    trigger counted what is outside it), or a finally step's finally upstream."""
    if name in graph.pipeline.finally_:
        return graph.final_upstream(name)
    nodes = scope_edges(graph).get(groups.parent(name), {}).get(name, [])
    return [end_task(graph.pipeline, node) for node in nodes]


def _trigger(graph: PipelineGraph, name: str) -> tuple[str, str]:
    """The task's trigger rule, and what its Step judges itself (an argument, or ''). A finally step counts only
    its finally upstream: with none (its task waits for every step's) it runs whatever happened. Over several
    upstream steps, all_succeeded and any_failed are judged by the task once all ended (runtime.Step._judge):
    Airflow decides them early. A group's gate in a group counts its siblings as a step does."""
    pipeline = graph.pipeline
    node = pipeline.groups.get(name) or pipeline.all_steps[name]
    final = name in pipeline.finally_
    upstream = _scope_upstream(graph, name)
    trigger = "all_done" if final and not upstream else TRIGGER_RULES[node.trigger or "all_succeeded"]
    if trigger in ("all_success", "one_failed") and len(upstream) > 1:
        judged = "all_succeeded" if trigger == "all_success" else "any_failed"
        return "all_done", f", {judged}={literal(upstream)}"
    return trigger, ""


def _def(options: list[str], function: str, parameters: str, body: list[str]) -> str:
    return f"{wrapped('@task', options, indent='    ')}\n    def {function}({parameters}):\n" + "\n".join(body)


def _attempt_options(step: Step) -> list[str]:
    options = []
    retries = step.retries
    if retries and retries.limit:
        delays = retries.delays()
        on = "" if retries.on == "any" else f", on={retries.on!r}"  # which failed attempts the policy retries
        options += [f"retries={retries.limit}", f"retry_delay=datetime.timedelta(seconds={delays[0]!r})",
                    f"retry_policy=ExactDelays({literal(delays)}{on})"]
    else:
        options.append("retries=0")
    if step.timeout is not None:
        options.append(f"execution_timeout=datetime.timedelta(seconds={step.timeout!r})")
    return options


def _verdict_note(pipeline: Pipeline) -> str:
    if pipeline.finally_:
        when = "a leaf step failed or was upstream_failed" if pipeline.state_from == "leaves" else "a step failed"
        return (f"The finally steps run once every step ended, whatever happened; the leaf task {VERDICT}\n"
                f"follows them and fails the DAG run when {when}: a finally step never changes it.")
    if needs_verdict(pipeline) and pipeline.state_from == "leaves":
        return (f"The leaf task {VERDICT} fails the DAG run when one of the pipeline's leaves (the steps and\n"
                "groups nothing runs after) failed or was upstream_failed, as Airflow judges its leaf tasks.")
    if needs_verdict(pipeline):
        return f"The leaf task {VERDICT} fails the DAG run when any step failed, even where a step that\nran after it succeeded."
    return "A failed step fails the DAG run: its failure reaches every leaf task below it."


def _verdict(pipeline: Pipeline) -> str:
    leaves = ", LEAVES" if pipeline.state_from == "leaves" else ""
    return (f"    @task(task_id={VERDICT!r}, trigger_rule='all_done')\n"
            "    def _verdict():\n"
            f"        verdict({'NODES' if pipeline.groups else 'STEPS'}{leaves})")


def _wiring(graph: PipelineGraph, names: Names, pods: bool) -> str:
    """Each task function called once, its name then holding the task -- a group's inside within its TaskGroup, a
    fan-out group's as a mapped task group -- then the edges. A finally step with no finally upstream follows every
    step's task, not the leaves alone: Airflow may end a leaf upstream_failed at a first failure, while its other
    upstream tasks still run."""
    pipeline = graph.pipeline
    lines = _scope_wiring(graph, names, pods, "", "    ")
    final = graph.final_order()
    top = groups.children(pipeline, "")
    for name in final:
        made, first = _step_lines(pipeline, names, pods, name, "    ")
        upstream = dict.fromkeys(u.split(groups.SEP)[0] for u in graph.final_upstream(name)) or top
        lines += [*made, f"    [{', '.join(names.task(u) for u in upstream)}] >> {first}"]
    if needs_verdict(pipeline):
        lines.append(f"    [{', '.join(names.task(n) for n in [*top, *final])}] >> _verdict()")
    return "\n".join(lines)


def _scope_wiring(graph: PipelineGraph, names: Names, pods: bool, scope: str, indent: str) -> list[str]:
    """The tasks of one scope's nodes, and the edges between them: into a group's gate from what it waits for, from
    its gate into each of its children, from every task inside it into its end."""
    pipeline = graph.pipeline
    edges = scope_edges(graph).get(scope, {})
    position = {name: i for i, name in enumerate(graph.order())}
    first_step = {node: min(position[s] for s in ([node] if node in pipeline.steps else groups.members(pipeline, node)))
                  for node in groups.children(pipeline, scope)}  # a node's first step runs after what it waits for
    lines = []
    for node in sorted(first_step, key=first_step.__getitem__):
        task = _var(pipeline, names, node)
        if node in pipeline.groups:
            first = names.of(node, "may_start")
            lines += [f"{indent}{first} = {first}()", f"{indent}{task} = {task}()"]
            lines += _group_wiring(graph, names, pods, node, indent)
        else:
            made, first = _step_lines(pipeline, names, pods, node, indent)
            lines += made
        if scope:
            lines.append(f"{indent}{names.of(scope, 'may_start')} >> {first}")
        if edges.get(node):
            lines.append(f"{indent}[{', '.join(_var(pipeline, names, u) for u in edges[node])}] >> {first}")
    return lines


def _step_lines(pipeline: Pipeline, names: Names, pods: bool, name: str, indent: str) -> tuple[list[str], str]:
    """A step's task (a fan-out's items, item and collector tasks) made, and the name holding its first task."""
    step, task = pipeline.all_steps[name], _var(pipeline, names, name)
    if step.foreach is None:
        argument = "_index" if _fan_out_group(pipeline, name) else ""
        made = [] if pods and step.image else [f"{indent}{task} = {names.task(name)}({argument})"]  # a pod: where defined
        return made, task
    items = names.of(name, "items")
    return [f"{indent}{items} = {items}()", f"{indent}{task} = {task}()",
            f"{indent}{items} >> {names.of(name, 'item')}.expand(_index={items}) >> {task}"], items


def _group_wiring(graph: PipelineGraph, names: Names, pods: bool, name: str, indent: str) -> list[str]:
    """A group's inside: `with TaskGroup(...)`, or a `@task_group` function over the item index, expanded over
    what its gate returns; every task inside before the group's end."""
    pipeline = graph.pipeline
    own, gate, end = groups.local(name), names.of(name, "may_start"), names.task(name)
    inner = [f"{indent}    [{', '.join(_inner_tasks(pipeline, names, name))}] >> {end}"]
    if pipeline.groups[name].foreach is None:
        return [f"{indent}with TaskGroup({own!r}):", *_scope_wiring(graph, names, pods, name, indent + "    "), *inner]
    steps = names.of(name, "steps")
    return [f"{indent}@task_group(group_id={own!r})", f"{indent}def {steps}(_index):",
            *_scope_wiring(graph, names, pods, name, indent + "    "), *inner,
            f"{indent}{steps}.expand(_index={gate})"]


def _inner_tasks(pipeline: Pipeline, names: Names, name: str) -> list[str]:
    """The names holding the tasks directly inside a group (a nested group's end follows its own inside)."""
    found = []
    for kid in groups.children(pipeline, name):
        if kid in pipeline.groups:
            found.append(names.task(kid))
        elif pipeline.steps[kid].foreach is not None:
            found += [names.of(kid, "items"), names.task(kid)]
        else:
            found.append(_var(pipeline, names, kid))
    return found


def _var(pipeline: Pipeline, names: Names, node: str) -> str:
    """The name holding a node's (last) task: inside a fan-out group's function a step's task is `_<step>_future`,
    as its task function is `_<step>_task`, which a local of that name would hide."""
    return names.future(node) if _fan_out_group(pipeline, node) else names.task(node)
