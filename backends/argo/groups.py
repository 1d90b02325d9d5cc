"""Groups of steps on Argo: a group is a DAG template of its own (Argo's nested DAGs, examples/dag-nested.yaml), called
by one task of the DAG of the scope that holds it (docs/backends.md, "Groups on Argo").

- Names. A task inside a group's DAG is named after its step's local name (`train`), as siblings are unique
  (core/validate.py, E302). A template is named after its step's qualified name, the parts joined by `-G-`
  (`sweep-G-train`): no part holds a capital, so no two qualified names, and no top-level step (`sweep-g-train`),
  meet in one name.
- The calling task carries the group's `depends` and `when` (depends.py over the scope's nodes, edges lifted as the
  local backend lifts them: local/scopes.py, scope_edges). A step inside counts only its siblings.
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
"""

from __future__ import annotations

from orch.core import groups
from orch.core.expr import RefNode
from orch.core.graph import Edge, PipelineGraph
from orch.core.names import argo_name
from orch.core.spec import Step

from ..local.scopes import scope_edges
from . import manifest as a
from .condition import literal
from .inline import StepTemplate, TextExprLang, _typed, output_text

SEP = "-G-"  # between the parts of a qualified name: a capital, which no part holds
SKIPPED = "Orch-skipped"
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
        if self.is_group(written):
            read = f"tasks[{task}].outputs.parameters"
            return (f'tasks[{task}].status == "Succeeded" && {read}[{literal(ok_name(output))}] == "true"',
                    f"{read}[{literal(output)}]")
        status = f"tasks[{task}].status"
        fan_out = self.view.steps[written].foreach is not None
        readable = f'{status} in ["Succeeded", "Skipped"]' if fan_out else f'{status} == "Succeeded"'
        return readable, output_text(self.view, written, output)

    def skipped_test(self, written: str) -> str:
        """A dependent's test that a group beside it did not end with every step skipped."""
        task = literal(argo_name(written))
        return f'tasks[{task}].outputs.parameters[{literal(SKIPPED)}] != "true"'


def scopes_of(graph: PipelineGraph) -> dict[str, Scope]:
    """Every DAG of steps: the pipeline's level, then each group's, in spec order."""
    lifted = scope_edges(graph)
    return {name: Scope(graph, name, lifted) for name in ["", *graph.pipeline.groups]}


class GroupStepTemplate(StepTemplate):
    """A step's template, its references read where its scope's DAG sees them (an input for a value from outside)."""

    def __init__(self, scope: Scope, written: str, code=None):
        super().__init__(scope.view, written, scope.view.steps[written], code)
        self.scope = scope

    def guarded(self, producer: str, output: str) -> tuple[str, str]:
        return self.scope.guarded(producer, output)


class GroupExprLang(TextExprLang):
    """`when` over outputs as the scope's DAG reads them (an import, a group's export), null unless readable."""

    def __init__(self, scope: Scope, param_type, types):
        super().__init__(scope.view, param_type, types)
        self.scope = scope

    def text(self, expr):
        if not (isinstance(expr, RefNode) and expr.ref.kind == "output"):
            return super().text(expr)
        producer, output = expr.ref.step, expr.ref.name
        if not (self.scope.imported(producer) or self.scope.is_group(producer)):
            return super().text(expr)
        readable, raw = self.scope.guarded(producer, output)
        return f"({readable} ? {_typed(raw, self.scope.view.steps[producer].outputs[output])} : nil)"


def imports(graph: PipelineGraph, group: str) -> list[tuple[str, str]]:
    """(qualified producer outside `group`, output) of each value a step inside it reads, in order of first use."""
    pipeline = graph.pipeline
    inside = set(groups.members(pipeline, group))
    found: dict[tuple[str, str], None] = {}
    for edge in graph.edges:
        if edge.downstream in inside and edge.output and edge.path[0] == "steps" and not groups.inside(edge.upstream, group):
            found[(_node_of(pipeline, edge.downstream, edge.upstream), edge.output)] = None
    return list(found)


def _node_of(pipeline, reader: str, producer: str) -> str:
    """The node the reader's reference names: the producer, or the group around it that the reader sees."""
    for scope in groups.scopes(reader):
        for child in groups.children(pipeline, scope):
            if child == producer or groups.inside(producer, child):
                return child
    return producer


def arguments(scope: Scope, group: str, needed: list[tuple[str, str]]) -> list[dict]:
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
    """The group's DAG outputs (its scope is the group's inside): each output's text and `Ok-O`, its artifacts, and
    whether every step inside was skipped."""
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

    def __init__(self, graph: PipelineGraph, code, wrappers, build_step, kinds, verdict: tuple[str, str]):
        from .depends import Depends

        self.graph, self.code, self.wrappers, self.build_step, self.kinds = graph, code, wrappers, build_step, kinds
        self.depends_of = Depends
        self.verdict = verdict  # (task, template) of the leaf that keeps a failure in a DAG's phase
        self.scopes = scopes_of(graph)
        self.built: list = []  # every step's, in spec order (reuse.py shares their templates)
        self.templates: list[dict] = []  # the groups' DAGs
        self.tasks = self._dag("")  # the main DAG's
        self.stdout = self._stdout.pop("", [])

    _stdout: dict

    def _dag(self, name: str) -> list[dict]:
        """The tasks of one scope's DAG, its groups' DAGs made on the way, and its leaf `Orch-verdict`."""
        from orch.core.expr import parse_condition

        self._stdout = getattr(self, "_stdout", {})
        scope, pipeline = self.scopes[name], self.graph.pipeline
        depends = self.depends_of(scope.nodes)
        lang = GroupExprLang(scope, lambda p: pipeline.params[p].type, self.kinds(scope.view))
        tasks: list[dict] = []
        for qualified in scope.children:
            written = groups.local(qualified)
            if qualified in pipeline.groups:
                group = pipeline.groups[qualified]
                inner = self._dag(qualified)
                needed = imports(self.graph, qualified)
                inputs = [a.parameter(n) for p, o in needed for n in (import_name(p, o), ok_name(import_name(p, o)))]
                stdout = self._stdout.pop(qualified, [])
                self.templates.append(a.template(
                    template_name(qualified), metadata={"annotations": {"orch/stdout": " ".join(stdout)}} if stdout else None,
                    inputs=a.parameters(inputs) if inputs else None, outputs=outputs(self.scopes[qualified], qualified),
                    dag=a.dag(inner, fail_fast=pipeline.fail_fast)))
                when = lang.tag(parse_condition(group.when)) if group.when else None
                tasks.append(a.dag_task(argo_name(written), template=template_name(qualified), depends=depends.of(written),
                                        when=after_skipped(scope, written, when),
                                        arguments=a.io(arguments(scope, qualified, needed), [])))
                continue
            each = self.build_step(scope.view, GroupStepTemplate(scope, written, self.code), depends, self.wrappers, lang)
            _renamed(each, qualified, self.graph.pipeline)
            first = each.tasks[0]
            first["when"] = after_skipped(scope, written, first.get("when"))
            if first["when"] is None:
                del first["when"]
            self._stdout.setdefault(name, []).extend(each.stdout)
            self.built.append(each)
            tasks += each.tasks
        task, template = self.verdict
        return tasks + [a.dag_task(task, template=template, depends=depends.verdict())]


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
    if pipeline.fail_fast:
        refuse(("fail_fast",), "fail_fast with groups (Argo's failFast stops new tasks only in the failed task's own DAG)")
    for name, group in pipeline.groups.items():
        if group.foreach is not None:
            refuse(("groups", name, "foreach"), "a fan-out group")
        if len(template_name(name)) > MAX_NAME - len("Fan-"):
            refuse(("groups", name), f"a group whose qualified name passes {MAX_NAME - 4} characters as an Argo template")
    for name, step in pipeline.steps.items():
        scope = groups.parent(name)
        if scope and any(not groups.inside(groups.lookup(pipeline, name, p) or p, scope) for p, _ in artifact_refs_local(pipeline, name, step)):
            refuse(("steps", name), "a step inside a group reading an artifact from outside it")
    uses_failed = any("run.failed_steps" in text for s in pipeline.finally_.values() for _, text in _strings(s))
    if uses_failed:
        refuse(("finally",), "`run.failed_steps` with groups (a failed node names its local task)")
    return found


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
