"""Rules that span fields and steps: names, references, conditions, edges and cycles.

Every problem is collected (never just the first) and located in the spec's text.
Steps or params that already failed field validation are `broken`: references to them
are not reported again, so one typo gives one error.
"""

from __future__ import annotations

import re

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
        self.check_names("step", pipeline.steps, ("steps",))
        if not pipeline.steps and not self.broken_steps:
            self.error("E202", "a pipeline needs at least one step", ("steps",), at_key=True)
        for name, step in pipeline.steps.items():
            _StepChecker(self, name, step).run()
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

    def check_names(self, kind: str, mapping: dict, path: tuple):
        seen: dict[str, str] = {}
        for name in mapping:
            if not (NAME_RE.match(name) and len(name) <= MAX_NAME):
                self._name(kind, name, path + (name,))
            other = seen.setdefault(collision_key(name), name)
            if other != name:
                self.error("E302", f"{kind} names {other!r} and {name!r} collide: backends map '_' and '-' to one another",
                           path + (name,), f"rename one of them, e.g. {name.replace('_', '').replace('-', '')!r}", at_key=True)

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
        steps = self._visible()
        for i, upstream in enumerate(self.step.after):
            path = ("after", i)
            if upstream == self.name:
                self.error("E402", f"step {self.name!r} cannot come after itself", path)
            elif upstream in self.parent.pipeline.finally_ and not self.final:
                self._before_finally(upstream, self.path + path)
            elif upstream in steps:
                self.edges.append(Edge(upstream, self.name, self.path + path))
            elif upstream not in self.parent.broken_steps:
                self.error("E401", f"unknown step {upstream!r} in 'after'", path, did_you_mean(upstream, steps))

    def _references(self):
        step = self.step
        allow_item = step.foreach is not None
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
        steps = self._visible()
        source = steps.get(ref.step)
        if ref.step in pipeline.finally_ and not self.final:
            self._before_finally(ref.step, origin, offset)
            return "any"
        if ref.step == self.name:
            parent.error("E504", f"step {self.name!r} refers to its own output {ref.name!r}", origin, offset=offset)
            return "any"
        if source is None:
            if ref.step not in parent.broken_steps:
                parent.error("E503", f"unknown step {ref.step!r} in reference {ref.text!r}", origin,
                             did_you_mean(ref.step, steps), offset=offset)
            return "any"
        self.edges.append(Edge(ref.step, self.name, origin, offset, ref.name))
        if ref.name not in source.outputs:
            hint = did_you_mean(ref.name, source.outputs)
            if hint is None:
                declared = ", ".join(source.outputs) or "none"
                hint = f"step {ref.step!r} declares outputs: {declared}; add '{ref.name}' under its outputs"
            parent.error("E505", f"step {ref.step!r} has no output {ref.name!r}", origin, hint, offset=offset)
            return "any"
        return "list" if source.foreach is not None else source.outputs[ref.name]

    def _visible(self) -> dict:
        """The steps this one may name: a finally step sees the finally steps too."""
        return self.parent.pipeline.all_steps if self.final else self.parent.pipeline.steps

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
        return ref.kind == "output" and is_artifact(self.parent.pipeline, ref.step, ref.name)

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
            types[id(node.ref)] = self._resolve(node.ref, origin, node.offset)
            if self._is_artifact(node.ref):
                types[id(node.ref)] = "any"  # said once, here
                self.parent.error("E604", f"a condition cannot compare {node.ref.text}: it is an artifact, a file or a folder",
                                  origin, "compare a value the step outputs beside it (a size, a checksum, a score)",
                                  offset=node.offset)
        for problem in condition_problems(expr, lambda ref: types.get(id(ref), "any")):
            self.parent.error("E602", str(problem), origin, problem.hint, offset=problem.offset)
