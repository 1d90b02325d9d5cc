"""Groups of steps on Argo: a group is a DAG template of its own (Argo's nested DAGs, examples/dag-nested.yaml), called
by one task of the DAG of the scope that holds it (docs/backends.md, "Groups on Argo").

- Names. A task inside a group's DAG is named after its step's local name (`train`), as siblings are unique
  (core/validate.py, E302). A template is named after its step's qualified name, the parts joined by `-G-`
  (`sweep-G-train`): no part holds a capital, so no two qualified names, and no top-level step (`sweep-g-train`),
  meet in one name.
- The calling task carries the group's `depends` and `when` (depends.py over the scope's nodes, edges lifted as the
  local backend lifts them: core/groups.py, scope_edges). A step inside counts only its siblings.
- Values from outside. A DAG task reads only its own DAG's tasks and its template's inputs, so each output a step
  inside reads from outside the group is passed in by the group's task, as two inputs: `P__O`, its text ('' unless
  readable), and `Ok-P__O`, whether it is readable (its producer succeeded). Deeper groups pass them on.
- The group's state. Its DAG ends in `Orch-verdict`, a leaf below every task that is never run: Argo gives an
  omitted leaf its parents' phase, Failed first (dag.go, assessDAGPhase), so the group's node fails exactly when a
  step inside failed, and a failed DAG exports nothing (so its outputs read as null). A group whose every step was
  skipped succeeds in Argo; it exports `Orch-skipped: true`, and a dependent under `all_succeeded` tests it in its
  `when`, ending Skipped as after a skipped step.
- Outputs. The DAG exports each of the group's outputs as its step's text (`valueFrom.expression`), and
  `Ok-O`, whether that step succeeded; a reader takes the output as null unless the group's task Succeeded and `Ok-O`
  is true. An artifact output is `outputs.artifacts[].from` its step's, optional.
- Fan-out groups. The group's task loops over its items' indexes (`withParam`), each item's DAG getting its index as
  `Orch-at`; a step reading `${{ item }}` runs the runner, which picks the item from the groups' lists (`within`, in
  its payload). A `parallelism` puts the loop alone in a wrapper DAG (as fanout.py does for a step), a `when` in a gate
  before it. Each item exports `[text]` or `[]` per output, which Argo aggregates as values, folded by readers into a
  list with nulls (`folded`).
"""

from __future__ import annotations

import json

from orch.core import groups
from orch.core.expr import RefNode
from orch.core.graph import Edge, PipelineGraph
from orch.core.names import argo_name
from orch.core.refs import find_refs, iter_strings, whole_ref
from orch.core.spec import Step

from orch.core.groups import scope_edges
from . import manifest as a
from .condition import literal
from .fanout import ITEMS, PREFIX as FAN
from .inline import StepTemplate, TextExprLang, _typed, output_text
from .layout import export, gate_name, has_gate, throttled
from .payload import Payload

SEP = "-G-"  # between the parts of a qualified name: a capital, which no part holds
SKIPPED = "Orch-skipped"
AT = "Orch-at"  # a group's input inside fan-out groups: the items' indexes, outermost first, comma-separated
LIST = "Orch-list"  # a fan-out group's input whose steps' `when` read `item`: base64 of its list's JSON text
MAX_NAME = 128  # Argo's template and task names (validate.go, workflowFieldMaxLength)


def template_name(qualified: str) -> str:
    """The Argo template of a step or group, by its qualified name."""
    return SEP.join(argo_name(part) for part in qualified.split(groups.SEP))


def import_name(qualified: str, output: str) -> str:
    """An outside output's text, as a group's input: a template name holds no '_', so the first '__' ends it."""
    return f"{template_name(qualified)}__{output}"


def ok_name(name: str) -> str:
    """Whether an output (a group's own, or an import) is readable: a capital, which no output name holds."""
    return f"Ok-{name}"


def pseudo_step(pipeline, group: str) -> Step:
    """A group seen from beside it: a node with its outputs (the declarations of their steps), trigger, when, foreach."""
    spec = pipeline.groups[group]
    outputs = {}
    for output in spec.outputs:
        leaf = groups.leaf_source(pipeline, group, output)
        outputs[output] = pipeline.steps[leaf[0]].outputs[leaf[1]]
    return Step.model_construct(python=None, command=None, args={}, env={}, outputs=outputs, after=list(spec.after),
                                when=spec.when, trigger=spec.trigger, foreach=spec.foreach, parallelism=spec.parallelism)


class Scope:
    """One DAG of steps: the pipeline's level ('') or a group's inside, its nodes by their local names."""

    def __init__(self, graph: PipelineGraph, name: str, lifted: dict):
        pipeline = graph.pipeline
        self.graph, self.name = graph, name
        self.children = groups.children(pipeline, name)  # qualified, spec order
        self.local = {groups.local(c): c for c in self.children}
        self.visible: dict[str, str] = {}  # a name as written here -> what it means (lexical, nearest first)
        for scope in ([name, *groups.scopes(name)] if name else [""]):
            for child in groups.children(pipeline, scope):
                self.visible.setdefault(groups.local(child), child)
        self.view = pipeline.model_copy(update={"steps": {w: self._node(q) for w, q in self.visible.items()}, "groups": {},
                                                "finally_": {}})
        nodes = pipeline.model_copy(update={"steps": {w: self._node(q) for w, q in self.local.items()}, "groups": {},
                                            "finally_": {}})
        edges = [Edge(groups.local(up), groups.local(node), ()) for node, ups in lifted.get(name, {}).items() for up in ups]
        self.nodes = PipelineGraph(nodes, edges)

    def _node(self, qualified: str) -> Step:
        pipeline = self.graph.pipeline
        return pseudo_step(pipeline, qualified) if qualified in pipeline.groups else pipeline.steps[qualified]

    def is_group(self, written: str) -> bool:
        return self.visible[written] in self.graph.pipeline.groups

    def imported(self, written: str) -> bool:
        """Whether the node a name means lies outside this scope (its value came in as an input)."""
        return written not in self.local

    def guarded(self, written: str, output: str) -> tuple[str, str]:
        """(whether the output is readable, its text), as this scope's DAG reads them."""
        if self.imported(written):
            name = import_name(self.visible[written], output)
            return f'inputs.parameters[{literal(ok_name(name))}] == "true"', f"inputs.parameters[{literal(name)}]"
        task = literal(argo_name(written))
        if self.is_group(written) and self.view.steps[written].foreach is not None:  # a list, folded (fan_out_outputs)
            read = f"tasks[{task}].outputs.parameters[{literal(output)}]"
            return f'tasks[{task}].status in ["Succeeded", "Skipped"]', folded(read)
        if self.is_group(written):
            read = f"tasks[{task}].outputs.parameters"
            return (f'tasks[{task}].status == "Succeeded" && {read}[{literal(ok_name(output))}] == "true"',
                    f"{read}[{literal(output)}]")
        status = f"tasks[{task}].status"
        fan_out = self.view.steps[written].foreach is not None
        readable = f'{status} in ["Succeeded", "Skipped"]' if fan_out else f'{status} == "Succeeded"'
        return readable, output_text(self.view, written, output)

    def skipped_test(self, written: str) -> str:
        """A dependent's test that a group beside it did not end with every step skipped; a fan-out group's items each
        say it (Argo aggregates their texts: a list), and over no item it succeeded."""
        task = literal(argo_name(written))
        read = f"tasks[{task}].outputs.parameters[{literal(SKIPPED)}]"
        if self.view.steps[written].foreach is None:
            return f'{read} != "true"'
        every = f'tasks[{task}].status == "Succeeded" && len(fromJSON({read})) > 0 && all(fromJSON({read}), # == "true")'
        return f"!({every})"


def folded(read: str) -> str:
    """A fan-out group's output as a fan-out step's reads: the JSON list of its items' texts, null where an item's step
    did not succeed. Each item exports `[text]` or `[]` (outputs): lists, so Argo aggregates them as values
    (operator.go, processAggregateNodeOutputs: parsed when every one is a JSON object or list), in item order."""
    return f'toJson(map(fromJSON({read} ?? "[]"), len(#) > 0 ? #[0] : nil))'


def scopes_of(graph: PipelineGraph) -> dict[str, Scope]:
    """Every DAG of steps: the pipeline's level, then each group's, in spec order."""
    lifted = scope_edges(graph)
    return {name: Scope(graph, name, lifted) for name in ["", *graph.pipeline.groups]}


class GroupStepTemplate(StepTemplate):
    """A step's template, its references read where its scope's DAG sees them (an input for a value from outside)."""

    def __init__(self, scope: Scope, written: str, code=None):
        super().__init__(scope.view, written, scope.view.steps[written], code)
        self.scope = scope
        pipeline = scope.graph.pipeline
        self.within = [pipeline.groups[g].foreach for g in groups.fan_out_groups(pipeline, groups.qualify(scope.name, written))]

    def guarded(self, producer: str, output: str) -> tuple[str, str]:
        return self.scope.guarded(producer, output)

    def reads_item(self) -> bool:
        """Whether the step is in a fan-out group and reads its item: the runner picks it through the groups' lists."""
        return bool(self.within) and any(r.kind == "item" for _, t in iter_strings([self.step.args, self.step.env,
                                                                                     self.step.command or []])
                                         for r in find_refs(t))

    def through_runner(self) -> bool:
        return super().through_runner() or self.reads_item()

    def indexed(self) -> bool:
        return super().indexed() or self.reads_item()

    def payload(self) -> Payload:
        return Payload(self.pipeline, self.step, within=self.within if self.reads_item() else ())


class GroupExprLang(TextExprLang):
    """`when` over outputs as the scope's DAG reads them (an import, a group's export), null unless readable."""

    def __init__(self, scope: Scope, param_type, types):
        super().__init__(scope.view, param_type, types)
        self.scope = scope

    def text(self, expr):
        if isinstance(expr, RefNode) and expr.ref.kind == "item":  # the group's item, from its list (`LIST`)
            return f"fromJSON(fromBase64(inputs.parameters[{literal(LIST)}]))[int(inputs.parameters[{literal(AT)}])]"
        if not (isinstance(expr, RefNode) and expr.ref.kind == "output"):
            return super().text(expr)
        producer, output = expr.ref.step, expr.ref.name
        if not (self.scope.imported(producer) or self.scope.is_group(producer)):
            return super().text(expr)
        readable, raw = self.scope.guarded(producer, output)
        kind = self.scope.view.steps[producer].outputs[output]
        if self.scope.view.steps[producer].foreach is not None:  # a fan-out group's: its items' texts, null kept
            return f'({readable} ? map(fromJSON({raw}), # == nil ? nil : {_typed("#", kind, list_item=True)}) : nil)'
        return f"({readable} ? {_typed(raw, kind)} : nil)"


def imports(graph: PipelineGraph, group: str) -> list[tuple[str, str]]:
    """(qualified producer outside `group`, output) of each value a step inside it reads, in order of first use."""
    pipeline = graph.pipeline
    inside = set(groups.members(pipeline, group))
    found: dict[tuple[str, str], None] = {}
    for edge in graph.edges:
        read = edge.path[0] == "steps" or edge.path[1] == group or groups.inside(edge.path[1], group)  # a runner's list
        if edge.downstream in inside and edge.output and read and not groups.inside(edge.upstream, group):
            found[(_node_of(pipeline, edge.downstream, edge.upstream), edge.output)] = None
    return list(found)


def _node_of(pipeline, reader: str, producer: str) -> str:
    """The node the reader's reference names: the producer, or the group around it that the reader sees."""
    for scope in groups.scopes(reader):
        for child in groups.children(pipeline, scope):
            if child == producer or groups.inside(producer, child):
                return child
    return producer


def _arguments(scope: Scope, group: str, needed: list[tuple[str, str]]) -> list[dict]:
    """What the group's task passes in, computed in the scope's DAG: each import's text and whether it is readable."""
    found = []
    for producer, output in needed:
        written = groups.local(producer) if producer in scope.local.values() else next(
            w for w, q in scope.visible.items() if q == producer)
        readable, raw = scope.guarded(written, output)
        name = import_name(producer, output)
        found += [a.parameter(name, value="{{=" + f'{readable} ? {raw} : ""' + "}}"),
                  a.parameter(ok_name(name), value="{{=" + f'{readable} ? "true" : "false"' + "}}")]
    return found


def outputs(scope: Scope, group: str) -> dict | None:
    """The group's DAG outputs (its scope is the group's inside): each output's text and `Ok-O` (a fan-out group's item:
    `[text]` or `[]`), its artifacts, and whether every step inside was skipped."""
    pipeline = scope.graph.pipeline
    parameters, artifacts = [], []
    for output in pipeline.groups[group].outputs:
        child, name = groups.source_of(pipeline, group, output)
        written = groups.local(child)
        if scope.view.steps[written].outputs[name] == "artifact":
            artifacts.append(a.artifact(output, from_="{{tasks." + argo_name(written) + ".outputs.artifacts." + name + "}}",
                                        optional=True))
            continue
        readable, raw = scope.guarded(written, name)
        if pipeline.groups[group].foreach is not None:  # one item's: `[text]` or `[]` (folded)
            parameters.append(a.parameter(output, value_from=a.value_from(expression=f'{readable} ? toJson([{raw}]) : "[]"')))
            continue
        parameters += [a.parameter(output, value_from=a.value_from(expression=f'{readable} ? {raw} : ""')),
                       a.parameter(ok_name(output), value_from=a.value_from(expression=readable))]
    every = []
    for written in scope.local:
        task = literal(argo_name(written))
        test = f'tasks[{task}].status in ["Skipped", "Omitted"]'
        if scope.is_group(written):
            test = f'({test} || tasks[{task}].outputs.parameters[{literal(SKIPPED)}] == "true")'
        every.append(test)
    parameters.append(a.parameter(SKIPPED, value_from=a.value_from(expression=" && ".join(every))))
    return a.io(parameters, artifacts)


def after_skipped(scope: Scope, written: str, when: str | None) -> str | None:
    """A node's `when` with the test that no group it waits for under `all_succeeded` skipped every step."""
    if (scope.nodes.pipeline.steps[written].trigger or "all_succeeded") != "all_succeeded":
        return when
    tests = [scope.skipped_test(u) for u in scope.nodes.upstream(written) if scope.is_group(u)]
    if not tests:
        return when
    inner = when[len("{{= "):-len(" }}")] if when else None
    return "{{= " + " && ".join(tests + ([f"({inner})"] if inner else [])) + " }}"


class Rendered:
    """The DAGs of a pipeline with groups, each step with a template of its own (render.py builds each step)."""

    def __init__(self, graph: PipelineGraph, code, wrappers, build_step, kinds, verdict: tuple[str, str], gate: str):
        from .depends import Depends

        self.graph, self.code, self.wrappers, self.build_step, self.kinds = graph, code, wrappers, build_step, kinds
        self.depends_of = Depends
        self.verdict = verdict  # (task, template) of the leaf that keeps a failure in a DAG's phase
        self.gate = gate  # the template of a gate task (render.py, `_gated`)
        self.gated = False  # whether a gate was placed
        self.scopes = scopes_of(graph)
        self.built: list = []  # every step's, in spec order (reuse.py shares their templates)
        self.templates: list[dict] = []  # the groups' DAGs, and throttled fan-out groups' wrappers
        self._stdout: dict[str, list[str]] = {}
        self.tasks = self._dag("")  # the main DAG's
        self.stdout = self._stdout.pop("", [])

    def _dag(self, name: str) -> list[dict]:
        """The tasks of one scope's DAG, its groups' DAGs made on the way, and its leaf `Orch-verdict`."""
        scope, pipeline = self.scopes[name], self.graph.pipeline
        depends = self.depends_of(scope.nodes)
        lang = GroupExprLang(scope, lambda p: pipeline.params[p].type, self.kinds(scope.view))
        tasks: list[dict] = []
        for qualified in scope.children:
            if qualified in pipeline.groups:
                tasks += self._group(scope, qualified, depends, lang)
            else:
                tasks += self._step(scope, qualified, depends, lang)
        task, template = self.verdict
        judged = groups.judged(self.graph) if not name else None  # state_from: leaves judges the main DAG's alone
        return tasks + [a.dag_task(task, template=template, depends=depends.verdict(judged))]

    def _step(self, scope: Scope, qualified: str, depends, lang) -> list[dict]:
        """A step's tasks; inside a fan-out group, passing the items' indexes to a step whose runner picks its item."""
        written, step = groups.local(qualified), self.graph.pipeline.steps[qualified]
        built = GroupStepTemplate(scope, written, self.code)
        each = self.build_step(scope.view, built, depends, self.wrappers, lang)
        old = each.template["name"]
        _renamed(each, qualified, self.graph.pipeline)
        if throttled(step):
            self._rewrapped(each, old)
        if built.indexed() and step.foreach is None:
            arguments = each.tasks[-1].setdefault("arguments", {})
            arguments.setdefault("parameters", []).append(a.parameter("item", value="{{inputs.parameters." + AT + "}}"))
        first = each.tasks[0]
        when = after_skipped(scope, written, first.get("when"))
        if when and step.foreach is not None and not has_gate(step) and not throttled(step):
            each.tasks[:1] = self._gated(first, when)  # Argo tests a looped task's `when` item by item
        else:
            each.tasks[0] = _changed(first, when=when)
        self._stdout.setdefault(scope.name, []).extend(each.stdout)
        self.built.append(each)
        return each.tasks

    def _rewrapped(self, each, old: str) -> None:
        """A throttled fan-out step's wrapper (fanout.py, the one just made) named after its template, as is the
        template its loop calls: two groups' steps `x` get `Fan-a-G-x` and `Fan-b-G-x`."""
        wrapper, name = self.wrappers.templates[-1], each.template["name"]
        for task in wrapper["dag"]["tasks"]:
            task["template"] = name if task["template"] == old else task["template"]
        for task in each.tasks:
            task["template"] = FAN + name if task["template"] == wrapper["name"] else task["template"]
        wrapper["name"] = FAN + name

    def _group(self, scope: Scope, qualified: str, depends, lang) -> list[dict]:
        """A group's task, its DAG made; a fan-out group's loops over the items' indexes, in its wrapper when
        throttled, after a gate when it has a `when`."""
        from orch.core.expr import parse_condition

        pipeline, written = self.graph.pipeline, groups.local(qualified)
        group = pipeline.groups[qualified]
        inner = self._dag(qualified)
        needed = imports(self.graph, qualified)
        indexed = bool(groups.fan_out_groups(pipeline, qualified)) or group.foreach is not None
        inputs = [a.parameter(n) for p, o in needed for n in (import_name(p, o), ok_name(import_name(p, o)))]
        inputs += [a.parameter(AT)] if indexed else []
        inputs += [a.parameter(LIST)] if when_reads_item(pipeline, qualified) else []
        stdout = self._stdout.pop(qualified, [])
        self.templates.append(a.template(
            template_name(qualified), metadata={"annotations": {"orch/stdout": " ".join(stdout)}} if stdout else None,
            inputs=a.parameters(inputs) if inputs else None, outputs=outputs(self.scopes[qualified], qualified),
            dag=a.dag(inner, fail_fast=groups.fails_fast(pipeline, qualified))))  # its scope's, as each DAG's own
        when = after_skipped(scope, written, lang.tag(parse_condition(group.when)) if group.when else None)
        arguments = _arguments(scope, qualified, needed)
        if indexed:
            at = "{{inputs.parameters." + AT + "}}" if groups.fan_out_groups(pipeline, qualified) else ""
            at = (at + "," if at else "") + "{{item}}" if group.foreach is not None else at
            arguments.append(a.parameter(AT, value=at))
        if when_reads_item(pipeline, qualified):
            arguments.append(a.parameter(LIST, value=list_text(scope, qualified)))
        task = a.dag_task(argo_name(written), template=template_name(qualified), depends=depends.of(written),
                          arguments=a.io(arguments, []), with_param=items(scope, qualified))
        if group.foreach is None:
            return [_changed(task, when=when)]
        if group.parallelism is not None:
            task = self._throttled(task, qualified)
        return self._gated(task, when) if when else [task]

    def _gated(self, task: dict, when: str) -> list[dict]:
        """A fan-out's task after a gate holding its depends and `when`: Argo tests a looped task's `when` item by item,
        and a loop whose items were all skipped ends Succeeded (layout.has_gate)."""
        self.gated = True
        gate = a.dag_task(gate_name(task["name"]), template=self.gate, depends=task.get("depends"), when=when)
        return [gate, _changed(task, depends=f"{gate['name']}.Succeeded", when=None)]

    def _throttled(self, task: dict, qualified: str) -> dict:
        """A throttled fan-out group's loop alone in a wrapper DAG with its `parallelism` (fanout.py: a template's
        bounds the pods of its node's boundary, which a loop's items share); what the loop reads from its scope's DAG
        is computed outside and passed in."""
        pipeline, name = self.graph.pipeline, task["name"]
        passed, inner = [], []
        for parameter in task["arguments"]["parameters"]:
            if parameter["name"] == AT:  # its `{{item}}` is the loop's; an enclosing item's indexes come in
                inner.append(parameter)
                if AT + "}}," in parameter["value"]:
                    passed.append(a.parameter(AT, value="{{inputs.parameters." + AT + "}}"))
                continue
            passed.append(parameter)
            inner.append(a.parameter(parameter["name"], value="{{inputs.parameters." + parameter["name"] + "}}"))
        with_param = task["withParam"]
        if "{{" in with_param:
            passed.append(a.parameter(ITEMS, value=with_param))
            with_param = "{{inputs.parameters." + ITEMS + "}}"
        names = [o for o in pipeline.groups[qualified].outputs if not _is_artifact(pipeline, qualified, o)] + [SKIPPED]
        self.templates.append(a.template(
            FAN + template_name(qualified), inputs=a.parameters([a.parameter(p["name"]) for p in passed]) if passed else None,
            outputs=a.parameters([export(o, f"tasks.{name}.outputs.parameters.{o}", default="[]") for o in names]),
            parallelism=pipeline.groups[qualified].parallelism,
            dag=a.dag([a.dag_task(name, template=task["template"], with_param=with_param,
                                  arguments=a.parameters(inner))],
                      fail_fast=groups.fails_fast(pipeline, groups.parent(qualified)))))  # a node of the scope around
        return a.dag_task(name, template=FAN + template_name(qualified), depends=task.get("depends"),
                          arguments=a.parameters(passed) if passed else None)



def _changed(task: dict, **fields) -> dict:
    """The task with some fields set (None: removed), in manifest.dag_task's order of keys (as hera dumps a DAGTask)."""
    keys = {"arguments": "arguments", "depends": "depends", "template": "template", "templateRef": "template_ref",
            "when": "when", "withParam": "with_param"}
    given = {keys[k]: v for k, v in task.items() if k in keys}
    return a.dag_task(task["name"], **{**given, **fields})


def _is_artifact(pipeline, group: str, output: str) -> bool:
    leaf = groups.leaf_source(pipeline, group, output)
    return pipeline.steps[leaf[0]].outputs[leaf[1]] == "artifact"


def when_reads_item(pipeline, group: str) -> bool:
    """Whether a step's `when` directly inside the fan-out group reads its item (from its list: LIST)."""
    return pipeline.groups[group].foreach is not None and any(
        _reads_item(pipeline.steps[c].when) for c in groups.children(pipeline, group) if c in pipeline.steps)


def _reads_item(text) -> bool:
    from orch.core.expr import parse_condition, walk_refs

    return bool(text) and any(node.ref.kind == "item" for node in walk_refs(parse_condition(text)))


def list_text(scope: Scope, group: str) -> str:
    """The fan-out group's list as base64 of its JSON text, computed in its scope's DAG."""
    import base64

    foreach = scope.graph.pipeline.groups[group].foreach
    if isinstance(foreach, list):
        return base64.b64encode(json.dumps(foreach).encode("utf-8")).decode("ascii")
    ref = whole_ref(foreach)
    source = f"workflow.parameters[{literal(ref.name)}]" if ref.kind == "param" else scope.guarded(ref.step, ref.name)[1]
    return "{{=toBase64(" + source + ")}}"


def items(scope: Scope, group: str) -> str | None:
    """A fan-out group's `withParam`, in its scope's DAG: its items' indexes (the runner picks an item by them)."""
    foreach = scope.graph.pipeline.groups[group].foreach
    if foreach is None:
        return None
    if isinstance(foreach, list):
        return json.dumps(list(range(len(foreach))))
    ref = whole_ref(foreach)
    if ref.kind == "param":
        source = f"workflow.parameters[{literal(ref.name)}]"
    else:
        source = scope.guarded(ref.step, ref.name)[1]
    return "{{=toJson(map(fromJSON(" + source + "), #index))}}"


def _renamed(each, qualified: str, pipeline) -> None:
    """A step's template named after its qualified name, its artifacts keyed by it (core/artifacts.py's layout)."""
    from .artifacts import key

    old, new = each.template["name"], template_name(qualified)
    each.step = qualified
    for art in (each.template.get("outputs") or {}).get("artifacts", []):
        art["s3"] = {"key": key(pipeline, qualified, art["name"])}
    if old == new:
        return
    each.template["name"] = new
    for task in each.tasks:
        if task.get("template") == old:
            task["template"] = new


def problems(graph: PipelineGraph, inline: bool) -> list:
    """What of a pipeline's groups this renderer does not render yet, located (E832); `inline`: every step has a
    template of its own (render.py)."""
    from orch.core.errors import Diagnostic

    pipeline, found = graph.pipeline, []
    if not pipeline.groups:
        return found

    def refuse(path: tuple, why: str) -> None:
        found.append(Diagnostic("E832", f"{why} cannot be rendered for Argo yet", path))
    if not inline:
        refuse(("steps",), "a pipeline with groups past 190 steps (a template per step)")
    for name, group in pipeline.groups.items():
        if group.foreach is not None and groups.fan_out_groups(pipeline, name):
            refuse(("groups", name, "foreach"), "a fan-out group inside a fan-out group")
        inner = [c for c in groups.members(pipeline, name) if groups.parent(c) != name and _reads_item(pipeline.steps[c].when)]
        if group.foreach is not None and inner:
            refuse(("steps", inner[0], "when"), "a `when` reading `item` in a group inside a fan-out group")
        if when_reads_item(pipeline, name) and isinstance(group.foreach, list) and any(
                find_refs(t) for _, t in iter_strings(group.foreach)):
            refuse(("groups", name, "foreach"), "a `when` reading `item` of a list written with references")
        if group.foreach is not None and _shadowed(pipeline, name):
            refuse(("groups", name, "foreach"), "a fan-out group whose list names a step that a step inside it names "
                                                "otherwise")
        for output in group.outputs:
            source = groups.source_of(pipeline, name, output)
            node = source and (pipeline.groups.get(source[0]) or pipeline.steps.get(source[0]))
            if group.foreach is None and node and node.foreach is not None:  # its readers would take it as one value
                refuse(("groups", name, "outputs", output), "a group output naming a fan-out's output")
        if len(template_name(name)) > MAX_NAME - len("Fan-"):
            refuse(("groups", name), f"a group whose qualified name passes {MAX_NAME - 4} characters as an Argo template")
    for name, step in pipeline.steps.items():
        within = groups.fan_out_groups(pipeline, name)
        if within and step.foreach is not None:
            refuse(("steps", name, "foreach"), "a fan-out step inside a fan-out group")
        if within and any(kind == "artifact" for kind in step.outputs.values()):
            refuse(("steps", name, "outputs"), "an artifact output inside a fan-out group (a key per item)")
        scope = groups.parent(name)
        if scope and any(not groups.inside(groups.lookup(pipeline, name, p) or p, scope) for p, _ in artifact_refs_local(pipeline, name, step)):
            refuse(("steps", name), "a step inside a group reading an artifact from outside it")
    uses_failed = any("run.failed_steps" in text for s in pipeline.finally_.values() for _, text in _strings(s))
    if uses_failed:
        refuse(("finally",), "`run.failed_steps` with groups (a failed node names its local task)")
    return found


def _shadowed(pipeline, group: str) -> bool:
    """Whether a name the fan-out group's list reads (in the group's scope) means another node to a step inside it,
    where the runner reads that list again to pick its item."""
    names = [r.step for _, t in iter_strings([pipeline.groups[group].foreach]) for r in find_refs(t) if r.kind == "output"]
    return any(groups.lookup(pipeline, step, n) != groups.lookup(pipeline, group, n) for n in names
               for step in groups.members(pipeline, group))


def artifact_refs_local(pipeline, name: str, step) -> list[tuple[str, str]]:
    """(written producer, output) of each artifact a step reads, its references resolved where it is."""
    from orch.core.artifacts import is_artifact
    from orch.core.refs import find_refs, iter_strings

    found = []
    for _, text in iter_strings([step.args, step.env, step.command or []]):
        for ref in find_refs(text):
            if ref.kind == "output" and is_artifact(pipeline, groups.lookup(pipeline, name, ref.step) or ref.step, ref.name):
                found.append((ref.step, ref.name))
    return found


def _strings(step):
    from orch.core.refs import iter_strings

    return iter_strings([step.args, step.env, step.command or []])
