"""Rules that span fields and steps: names, references, conditions, edges and cycles.

Every problem is collected (never just the first) and located in the spec's text.
Steps or params that already failed field validation are `broken`: references to them
are not reported again, so one typo gives one error.
"""

from __future__ import annotations

import re

from . import groups
from .artifacts import is_artifact
from .errors import Diagnostic, SpecError, did_you_mean
from .expr import ExprProblem, parse_condition, walk_refs
from .expr_types import condition_problems
from .graph import Edge, PipelineGraph
from .limits import MAX_FOREACH_ITEMS, MAX_STEPS, NUL_HINT, SURROGATE_HINT, value_problems
from .names import MAX_NAME, MAX_SCHEDULED_NAME, NAME_RE, collision_key, name_problem, suggest_name
from .refs import Ref, RefProblem, find_refs, iter_strings, whole_ref
from .secrets import secret_env_name
from .spec import Pipeline, Step
from .units import quantity_value
from .yaml_source import Source

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def check(pipeline: Pipeline, source: Source | None = None, *, broken_steps=frozenset(),
          broken_params=frozenset(), broken_fields=None, prior: list[Diagnostic] = ()) -> PipelineGraph:
    """The pipeline's graph, or SpecError with every problem (those in `prior` too).

    `broken_fields` names, per salvaged step, the fields already reported and dropped.
    """
    checker = _Checker(pipeline, source or Source("<python>", None), broken_steps, broken_params, broken_fields or {})
    graph = checker.run()
    problems = list(prior) + checker.problems
    if problems:
        raise SpecError(problems)
    return graph


class _Checker:
    def __init__(self, pipeline: Pipeline, source: Source, broken_steps, broken_params, broken_fields):
        self.pipeline = pipeline
        self.source = source
        self.broken_fields = broken_fields
        self.broken_steps = set(broken_steps)
        self.broken_params = set(broken_params)
        self.problems: list[Diagnostic] = []
        self._seen: set = set()
        self.edges: list[Edge] = []
        self.final_edges: list[Edge] = []  # into finally steps (from steps too: their values)

    def error(self, code: str, message: str, path: tuple, hint: str | None = None, *, at_key=False, offset=None):
        key = (code, message, path, offset)
        if key not in self._seen:
            self._seen.add(key)
            self.problems.append(self.source.diagnostic(code, message, path, hint, at_key=at_key, offset=offset))

    def run(self) -> PipelineGraph:
        pipeline = self.pipeline
        if len(pipeline.steps) > MAX_STEPS:
            self.error("E219", f"the pipeline has {len(pipeline.steps):,} steps; the limit is {MAX_STEPS:,}", ("steps",),
                       "split it into several pipelines", at_key=True)
            return PipelineGraph(pipeline, [], self.source)
        if self.source.text is None:  # built in Python: its values never passed the YAML reader's checks
            self._values()
        limit = MAX_SCHEDULED_NAME if pipeline.schedule else MAX_NAME
        self._name("pipeline name", pipeline.name, ("name",), limit, at_key=False)
        self.check_names("param", pipeline.params, ("params",))
        self._step_names()
        if not pipeline.steps and not self.broken_steps:
            self.error("E202", "a pipeline needs at least one step", ("steps",), at_key=True)
        for name, step in pipeline.steps.items():
            _StepChecker(self, name, step).run()
        for name, group in pipeline.groups.items():
            _GroupChecker(self, name, group).run()
        self._finally()
        self._secret_names()
        graph = PipelineGraph(pipeline, self.edges, self.source, self.final_edges)
        self._cycles(graph)
        self._final_cycles(graph)
        return graph

    def _finally(self):
        """Finally steps: one namespace with the steps; they may refer to any step, no step to them."""
        pipeline = self.pipeline
        if not pipeline.finally_:
            return
        self.check_names("finally step", pipeline.finally_, ("finally",))
        for name in pipeline.finally_:
            if name in pipeline.steps:
                self.error("E303", f"{name!r} names both a step and a finally step", ("finally", name),
                           "a run reports both in one list: rename one of them", at_key=True)
        for name, step in pipeline.finally_.items():
            _StepChecker(self, name, step, "finally").run()

    def _final_cycles(self, graph: PipelineGraph):
        cycle = graph.final_cycle()
        if cycle:
            closing = next(e for e in self.final_edges if (e.upstream, e.downstream) == (cycle[-1], cycle[0]))
            self.error("E403", f"finally steps form a cycle: {' -> '.join(cycle + [cycle[0]])}", closing.path,
                       "remove one of these dependencies", offset=closing.offset)

    def _secret_names(self):
        """Two secrets a local run would read from one variable (`a-b`/`c` and `a`/`b-c`) are refused."""
        seen = {}
        for name, step in self.pipeline.steps.items():
            for var, ref in step.secrets.items():
                env = secret_env_name(ref.secret, ref.key)
                first = seen.setdefault(env, (ref.secret, ref.key))
                if first != (ref.secret, ref.key):
                    self.error("E236", f"secrets {first[0]!r}/{first[1]!r} and {ref.secret!r}/{ref.key!r} are both read "
                               f"from {env} on a local run", ("steps", name, "env", var), "rename one of them")

    def _values(self):
        """What the YAML reader refuses, refused in a pipeline built in Python too (limits.value_problems)."""
        data = self.pipeline.model_dump(by_alias=True, exclude_defaults=True)
        hints = {"E107": NUL_HINT, "E108": SURROGATE_HINT}
        for path, code, message, at_key in value_problems(data):
            if code in hints:
                message = f"{'key' if at_key else 'text'} {message}"
            self.error(code, message, path, hints.get(code), at_key=at_key)

    def _name(self, kind: str, name: str, path: tuple, limit: int = MAX_NAME, at_key=True):
        problem = name_problem(name, limit)
        if problem:
            hint = f"try {suggest_name(name)!r}" if "start" in problem else None
            if limit == MAX_SCHEDULED_NAME and "long" in problem:
                hint = "Argo's CronWorkflow names hold at most 52 characters"
            self.error("E301", f"{kind} {name!r} {problem}", path, hint, at_key=at_key)

    def _step_names(self):
        """Step and group names, each among the names of its own scope (the pipeline's, or a group's)."""
        if not self.pipeline.groups:
            return self.check_names("step", self.pipeline.steps, ("steps",))
        by_scope: dict[str, dict[str, str]] = {}
        for name in groups.order(self.pipeline):
            by_scope.setdefault(groups.parent(name), {})[groups.local(name)] = name
        for names in by_scope.values():
            self.check_names("step", names, ("steps",), names)

    def check_names(self, kind: str, mapping: dict, path: tuple, qualified: dict | None = None):
        """`qualified` (a name as written -> its qualified name) places each problem in a group's steps."""
        seen: dict[str, str] = {}
        for name in mapping:
            where = path + ((qualified or {}).get(name, name),)
            if not (NAME_RE.match(name) and len(name) <= MAX_NAME):
                self._name(kind, name, where)
            other = seen.setdefault(collision_key(name), name)
            if other != name:
                self.error("E302", f"{kind} names {other!r} and {name!r} collide: backends map '_' and '-' to one another",
                           where, f"rename one of them, e.g. {name.replace('_', '').replace('-', '')!r}", at_key=True)

    def output_type(self, target: str, output: str, origin: tuple, offset, written: str) -> str:
        """The declared type of `target`'s output (a list under a fan-out), or 'any' once its absence is said."""
        pipeline = self.pipeline
        if target in pipeline.groups:
            group = pipeline.groups[target]
            if output not in group.outputs:
                hint = did_you_mean(output, group.outputs) or \
                    f"group {written!r} declares outputs: {', '.join(group.outputs) or 'none'}; add '{output}: ${{{{ steps.STEP.outputs.NAME }}}}' under its outputs"
                self.error("E505", f"group {written!r} has no output {output!r}", origin, hint, offset=offset)
                return "any"
            source = groups.source_of(pipeline, target, output)
            kind = "any" if source is None else self.output_type(*source, origin, offset, groups.local(source[0]))
            return "list" if group.foreach is not None else kind
        step = pipeline.all_steps[target]
        if output not in step.outputs:
            hint = did_you_mean(output, step.outputs)
            if hint is None:
                declared = ", ".join(step.outputs) or "none"
                hint = f"step {written!r} declares outputs: {declared}; add '{output}' under its outputs"
            self.error("E505", f"step {written!r} has no output {output!r}", origin, hint, offset=offset)
            return "any"
        return "list" if step.foreach is not None else step.outputs[output]

    def _cycles(self, graph: PipelineGraph):
        if graph.is_acyclic():
            return
        import networkx as nx  # only a spec with a cycle needs its strongly connected components

        dag = graph.dag
        position = {name: i for i, name in enumerate(self.pipeline.steps)}
        origin = {(e.upstream, e.downstream): e for e in reversed(self.edges)}
        for component in nx.strongly_connected_components(dag):
            if len(component) < 2:
                continue  # self-edges are refused before they become edges
            cycle = [u for u, _ in nx.find_cycle(dag.subgraph(component))]
            first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
            cycle = cycle[first:] + cycle[:first]
            closing = origin[(cycle[-1], cycle[0])]
            text = " -> ".join(cycle + [cycle[0]])
            self.error("E403", f"steps form a cycle: {text}", closing.path,
                       "a pipeline must be acyclic; remove one of these dependencies", offset=closing.offset)


class _StepChecker:
    """The rules of one step; records its incoming edges on the pipeline checker."""

    def __init__(self, parent: _Checker, name: str, step: Step, section: str = "steps"):
        self.parent = parent
        self.name = name
        self.step = step
        self.path = (section, name)
        self.final = section == "finally"
        self.edges = parent.final_edges if self.final else parent.edges
        self.kind = "step"
        self.in_fan_out = bool(groups.fan_out_groups(parent.pipeline, name)) if not self.final else False

    def error(self, code, message, field_path=(), hint=None, **kw):
        self.parent.error(code, message, self.path + tuple(field_path), hint, **kw)

    def run(self):
        step = self.step
        dropped = self.parent.broken_fields.get(self.name, set())
        if (step.python is None) == (step.command is None) and not dropped & {"python", "command"}:
            where = ("command",) if step.python else ()
            self.error("E210", "a step needs exactly one of 'python' (module:function) or 'command' (argv)", where,
                       "python: my_pkg.steps:train   or   command: [python, train.py]", at_key=True)
        if step.args and step.command is not None and step.python is None:
            self.error("E211", "'args' are keyword arguments of a python step; a command takes its values in argv",
                       ("args",), "put the values in 'command', e.g. [train, --lr, '${{ params.lr }}']", at_key=True)
        if step.parallelism is not None and step.foreach is None:
            self.error("E212", "'parallelism' limits a fan-out and needs 'foreach'", ("parallelism",), at_key=True)
        for arg in step.args:
            if not (arg.isidentifier() and arg.isascii()):
                self.error("E213", f"argument name {arg!r} is not a Python identifier", ("args", arg), at_key=True)
        defaults = self.parent.pipeline.defaults
        for var in [*step.env, *step.secrets]:
            if not _ENV_NAME.match(var):
                default = var in defaults.env or var in defaults.secrets
                self.parent.error("E214", f"environment variable name {var!r} is invalid",
                                  ("defaults", "env", var) if default else self.path + ("env", var),
                                  "use letters, digits and '_', not starting with a digit", at_key=True)
        self._limits()
        if step.outputs:
            self.parent.check_names("output", step.outputs, self.path + ("outputs",))
        self._stdout_outputs()
        self._after()
        self._references()
        self._foreach()
        self._when()

    def _limits(self):
        """A limit below the request: Kubernetes refuses such a pod, so the spec is refused here."""
        limits, requests = self.step.kubernetes and self.step.kubernetes.limits, self.step.resources
        for what in ("cpu", "memory"):
            limit, request = getattr(limits, what, None), getattr(requests, what, None)
            if limit and request and quantity_value(limit) < quantity_value(request):
                default = getattr(getattr(self.parent.pipeline.defaults.kubernetes, "limits", None), what, None) == limit
                self.parent.error("E237", f"the {what} limit {limit} is below the {what} asked for ({request}, "
                                  f"resources.{what}{' of step ' + repr(self.name) if default else ''})",
                                  ("defaults" if default else self.path) + ("kubernetes", "limits", what),
                                  "Kubernetes refuses a pod whose limit is below its request")

    def _stdout_outputs(self):
        """`from: stdout` takes a command's one stdout: not a python step's, and for one output only; never an artifact."""
        names = self.step._stdout
        for name in names:
            if self.step.outputs[name] == "artifact":
                self.error("E227", f"artifact {name!r} is read from stdout, but an artifact is a file or a folder",
                           ("outputs", name, "from"), f"leave it at $ORCH_OUTPUTS/{name} (from: file)")
        if names and self.step.python is not None and self.step.command is None:
            self.error("E224", f"output {names[0]!r} is read from stdout, but a python step has none to give",
                       ("outputs", names[0], "from"), "a python step returns its outputs; print is only logged")
        for name in names[1:]:
            self.error("E225", f"output {name!r} is read from stdout too, but {names[0]!r} already is",
                       ("outputs", name, "from"), f"write {name!r} to $ORCH_OUTPUTS/{name} instead (from: file)")

    def _after(self):
        for i, upstream in enumerate(self.step.after):
            path = ("after", i)
            target = self._find(upstream)
            if target == self.name:
                self.error("E402", f"{self.kind} {groups.local(self.name)!r} cannot come after itself", path)
            elif upstream in self.parent.pipeline.finally_ and not self.final:
                self._before_finally(upstream, self.path + path)
            elif target is not None and not self._encloses(target, self.path + path):
                self._link(target, self.path + path)
            elif target is None and not self._broken(upstream):
                self.error("E401", f"unknown step {upstream!r} in 'after'", path,
                           did_you_mean(upstream, self._names()) or self._hidden(upstream))

    def _references(self):
        step = self.step
        allow_item = step.foreach is not None or self.in_fan_out
        fields = [("args", step.args, allow_item), ("env", step.env, allow_item), ("command", step.command, allow_item)]
        if isinstance(step.foreach, list):
            fields.append(("foreach", step.foreach, False))
            if len(step.foreach) > MAX_FOREACH_ITEMS:
                self.error("E220", f"foreach lists {len(step.foreach):,} items; the limit is {MAX_FOREACH_ITEMS:,}", ("foreach",),
                           "fan out over a json param or output instead, or split the list", at_key=True)
        if step.image and "${{" in step.image:
            self._image_refs()
        for field, values, item_ok in fields:
            if not values:
                continue
            for key, value in (values.items() if isinstance(values, dict) else enumerate(values)):
                if isinstance(value, str):
                    if "${{" in value:
                        self._refs_in(value, self._origin(field, (key,), value), item_ok)
                elif isinstance(value, (dict, list)):
                    for sub, text in iter_strings(value, (key,)):
                        if "${{" in text:
                            self._refs_in(text, self._origin(field, sub, text), item_ok)

    def _image_refs(self):
        """An image names params only: the pod is made before any step has run, and one image serves every item."""
        image, pipeline = self.step.image, self.parent.pipeline
        origin = ("defaults", "image") if image == pipeline.defaults.image else self.path + ("image",)
        self._refs_in(image, origin, allow_item=False, params_only=True)

    def _origin(self, field: str, sub: tuple, text: str) -> tuple:
        """The path to report at: a default's problem once, where the default is written."""
        if field == "env" and self.parent.pipeline.defaults.env.get(sub[0]) == text:
            return ("defaults", "env") + sub
        return self.path + (field,) + sub

    def _refs_in(self, text: str, origin: tuple, allow_item: bool, params_only: bool = False):
        try:
            refs = find_refs(text)
        except RefProblem as err:
            self.parent.error("E501", str(err), origin, err.hint, offset=err.offset)
            return
        for ref in refs:
            if params_only and ref.kind != "param":
                self.parent.error("E226", f"an image can name only params, not '${{{{ {ref.text} }}}}'", origin,
                                  "the pod is made before any step runs: pick the image with a param", offset=ref.start)
            elif params_only and self._is_artifact(ref):
                self.parent.error("E226", f"an image cannot name the artifact param {ref.name!r}: it is a file or a "
                                  "folder", origin, "pick the image with a string param", offset=ref.start)
            else:
                self._resolve(ref, origin, ref.start, allow_item)

    def _resolve(self, ref: Ref, origin: tuple, offset: int, allow_item: bool = False) -> str:
        """The declared type of what `ref` names ('any' if unknown); records its edge."""
        pipeline, parent = self.parent.pipeline, self.parent
        if ref.kind == "run":
            if ref.name in ("status", "failed_steps") and not self.final:
                parent.error("E510", f"'${{{{ run.{ref.name} }}}}' is known only once every step ended: in a finally step",
                             origin, "move this step under finally:", offset=offset)
            return "json" if ref.name == "failed_steps" else "string"
        if ref.kind == "item":
            if not allow_item:
                parent.error("E506", "'${{ item }}' is only defined in a step with 'foreach'", origin, offset=offset)
            return "any"
        if ref.kind == "param":
            if ref.name in pipeline.params:
                return pipeline.params[ref.name].type
            if ref.name not in parent.broken_params:
                hint = did_you_mean(ref.name, pipeline.params) or f"declare it under params: {ref.name}: {{type: string}}"
                parent.error("E502", f"unknown param {ref.name!r}", origin, hint, offset=offset)
            return "any"
        return self._resolve_output(ref, origin, offset)

    def _resolve_output(self, ref: Ref, origin: tuple, offset: int) -> str:
        pipeline, parent = self.parent.pipeline, self.parent
        target = self._find(ref.step)
        if ref.step in pipeline.finally_ and not self.final:
            self._before_finally(ref.step, origin, offset)
            return "any"
        if target == self.name:
            parent.error("E504", f"{self.kind} {groups.local(self.name)!r} refers to its own output {ref.name!r}", origin,
                         offset=offset)
            return "any"
        if target is None:
            if not self._broken(ref.step):
                parent.error("E503", f"unknown step {ref.step!r} in reference {ref.text!r}", origin,
                             did_you_mean(ref.step, self._names()) or self._hidden(ref.step), offset=offset)
            return "any"
        if self._encloses(target, origin, offset):
            return "any"
        self._link(target, origin, offset, ref.name)
        return parent.output_type(target, ref.name, origin, offset, ref.step)

    def _find(self, name: str) -> str | None:
        """The qualified step or group `name` means here: a finally step sees the pipeline's level and the finally steps."""
        pipeline = self.parent.pipeline
        if groups.SEP in name:  # a step inside a group is out of sight: its group's outputs are what is seen
            return None
        if self.final:
            return name if name in pipeline.all_steps or name in pipeline.groups else None
        return groups.lookup(pipeline, self.name, name)

    def _names(self) -> list[str]:
        """The names visible here, for a did-you-mean."""
        pipeline = self.parent.pipeline
        if self.final:
            return [*pipeline.all_steps, *(g for g in pipeline.groups if groups.SEP not in g)]
        seen = {groups.local(n) for scope in groups.scopes(self.name) for n in groups.children(pipeline, scope)}
        return sorted(seen)

    def _hidden(self, name: str) -> str | None:
        """A hint when `name` is a step inside a group, out of sight here."""
        for qualified in self.parent.pipeline.steps:
            if (groups.local(qualified) == name or qualified == name) and groups.parent(qualified):
                name = groups.local(qualified)
                group = groups.parent(qualified)
                return f"{name!r} is inside the group {groups.local(group)!r}: wait for the group (after: " \
                       f"[{groups.local(group)}]) or read an output it declares (steps.{groups.local(group)}.outputs.NAME)"
        return None

    def _broken(self, name: str) -> bool:
        return any(broken == name or groups.local(broken) == name for broken in self.parent.broken_steps)

    def _encloses(self, target: str, origin: tuple, offset: int | None = None) -> bool:
        """A step refers to a group it is inside: refused, said here."""
        if target in self.parent.pipeline.groups and groups.inside(self.name, target):
            self.parent.error("E512", f"{self.kind} {groups.local(self.name)!r} is inside the group "
                              f"{groups.local(target)!r}: it cannot wait for it or read its outputs", origin,
                              "refer to the steps beside it in the group instead", offset=offset)
            return True
        return False

    def _link(self, target: str, origin: tuple, offset: int | None = None, output: str | None = None):
        """The edges of one dependency: a group stands for every step inside it, on either end."""
        pipeline = self.parent.pipeline
        sources = groups.members(pipeline, target) if target in pipeline.groups else [target]
        receivers = groups.members(pipeline, self.name) if self.kind == "group" else [self.name]
        self.edges.extend(Edge(u, d, origin, offset, output) for u in sources for d in receivers)

    def _before_finally(self, name: str, origin: tuple, offset: int | None = None):
        self.parent.error("E511", f"step {self.name!r} cannot depend on the finally step {name!r}: finally steps run "
                          "after every step", origin, "move the step under finally:, or drop the dependency", offset=offset)

    def _foreach(self):
        value = self.step.foreach
        if not isinstance(value, str):
            return
        origin = self.path + ("foreach",)
        try:
            ref = whole_ref(value)
        except RefProblem as err:
            self.parent.error("E501", str(err), origin, err.hint, offset=err.offset)
            return
        if ref is not None and ref.kind == "item" and self.in_fan_out:
            return  # the enclosing fan-out's item, a list for this one (checked when it is known)
        if ref is not None and ref.kind == "run" and ref.name == "failed_steps":
            self._resolve(ref, origin, 0)  # a json list, known in a finally step (E510 elsewhere)
            return
        if ref is None or ref.kind not in ("param", "output"):
            self.error("E507", "foreach takes a list, or one reference to a json param or output", ("foreach",),
                       "foreach: '${{ params.grid }}' with grid of type json, or foreach: [a, b, c]")
            return
        kind = self._resolve(ref, origin, 0)
        if self._is_artifact(ref):
            self.error("E509", f"foreach cannot go over {ref.text}: it is an artifact, a file or a folder", ("foreach",),
                       "fan out over a json output listing the parts, and pass the artifact to each item")
        elif kind not in ("json", "list", "any"):
            self.error("E508", f"foreach needs a list, but {ref.text} is of type {kind}", ("foreach",),
                       "declare it with type: json")

    def _is_artifact(self, ref: Ref) -> bool:
        if ref.kind == "param":  # an artifact param: data fetched by URI, a file or a folder as an output is
            param = self.parent.pipeline.params.get(ref.name)
            return param is not None and param.type == "artifact"
        target = self._find(ref.step) if ref.kind == "output" else None
        return target is not None and is_artifact(self.parent.pipeline, target, ref.name)

    def _when(self):
        text = self.step.when
        if text is None:
            return
        origin = self.path + ("when",)
        try:
            expr = parse_condition(text)
        except ExprProblem as err:
            self.parent.error(err.code or "E601", str(err), origin, err.hint, offset=err.offset)
            return
        types: dict[int, str] = {}
        for node in walk_refs(expr):
            if node.ref.kind == "item" and not self.in_fan_out:
                self.parent.error("E601", "'item' cannot be used in a condition: it is evaluated once, before fan-out"
                                  if self.step.foreach is not None else "'item' is only defined inside a fan-out", origin,
                                  "a condition on each item goes on a step inside a group with foreach", offset=node.offset)
                continue
            types[id(node.ref)] = self._resolve(node.ref, origin, node.offset, True)
            if self._is_artifact(node.ref):
                types[id(node.ref)] = "any"  # said once, here
                self.parent.error("E604", f"a condition cannot compare {node.ref.text}: it is an artifact, a file or a folder",
                                  origin, "compare a value the step outputs beside it (a size, a checksum, a score)",
                                  offset=node.offset)
        for problem in condition_problems(expr, lambda ref: types.get(id(ref), "any")):
            self.parent.error("E602", str(problem), origin, problem.hint, offset=problem.offset)


class _GroupChecker(_StepChecker):
    """A group's own fields: read in its parent's scope; its outputs name outputs of what is directly inside it."""

    def __init__(self, parent: _Checker, name: str, group):
        super().__init__(parent, name, group)
        self.path = ("groups", name)  # located at the group as written (groups.NestedSource)
        self.kind = "group"

    def run(self):
        if self.step.parallelism is not None and self.step.foreach is None:
            self.error("E212", "'parallelism' limits a fan-out and needs 'foreach'", ("parallelism",), at_key=True)
        self._after()
        if isinstance(self.step.foreach, list):
            for sub, text in iter_strings(self.step.foreach, ()):
                if "${{" in text:
                    self._refs_in(text, self.path + ("foreach",) + sub, False)
        self._foreach()
        self._when()
        self._outputs()

    def _outputs(self):
        pipeline = self.parent.pipeline
        self.parent.check_names("output", self.step.outputs, self.path + ("outputs",))
        for output, text in self.step.outputs.items():
            where = self.path + ("outputs", output)
            try:
                ref = whole_ref(text)
            except RefProblem as err:
                self.parent.error("E501", str(err), where, err.hint, offset=err.offset)
                continue
            if ref is None or ref.kind != "output":
                self.parent.error("E513", f"group output {output!r} is one reference to an output of a step inside the "
                                  "group", where, "outputs: {score: '${{ steps.evaluate.outputs.score }}'}")
                continue
            child = groups.qualify(self.name, ref.step)
            if child not in pipeline.steps and child not in pipeline.groups:
                if not self._broken(ref.step):
                    inside = [groups.local(n) for n in groups.children(pipeline, self.name)]
                    self.parent.error("E503", f"group {groups.local(self.name)!r} has no step {ref.step!r}", where,
                                      did_you_mean(ref.step, inside) or f"its steps: {', '.join(inside)}")
                continue
            self.parent.output_type(child, ref.name, where, None, ref.step)
