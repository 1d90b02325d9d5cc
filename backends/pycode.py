"""Python source for names, values, references and conditions, as rendered flow modules and DAG files spell them.

Every literal is written by `literal` (repr), so a user's string reaches the step byte for
byte and never becomes code; and no user's name can meet one orch writes (`Names`).
"""

from __future__ import annotations

import keyword
import math
import re
from typing import Any

from orch.core.artifacts import artifact_names, artifact_params
from orch.core.expr import BoolOp, Compare, Expr, ListLit, Lit, Not, RefNode, parse_condition, walk_refs
from orch.core.graph import PipelineGraph
from orch.core.refs import Ref, find_refs, iter_strings, whole_ref
from orch.core.spec import Pipeline, Step

PYTHON_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "json": "Any", "artifact": "str"}


def literal(value: Any) -> str:
    """A Python expression for a plain value (YAML data: str, numbers, bools, None, lists, dicts)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a value of a spec (validation refuses non-finite numbers)")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


def docstring(text_: str) -> str:
    """`text_` as a module docstring: backslashes, triple quotes and control characters of a user's
    text stay text (a carriage return would end a line of source; a NUL is no source at all)."""
    escaped = text_.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return '"""' + _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", escaped) + '"""'


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def value(data: Any, ref: "Refs") -> str:
    """The expression building `data` with its references: a whole reference keeps its type,
    a reference inside text is joined as text."""
    if isinstance(data, str):
        if "${{" not in data:
            return literal(data)
        whole = whole_ref(data)
        if whole is not None:
            return ref(whole)
        pieces, pos = [], 0
        for found in find_refs(data):
            if data[pos:found.start]:
                pieces.append(literal(data[pos:found.start]))
            pieces.append(ref.call("text", ref(found)))
            pos = found.end
        if data[pos:]:
            pieces.append(literal(data[pos:]))
        return " + ".join(pieces)
    if isinstance(data, dict):
        return "{" + ", ".join(f"{literal(k)}: {value(v, ref)}" for k, v in data.items()) + "}"
    if isinstance(data, list):
        return "[" + ", ".join(value(v, ref) for v in data) + "]"
    return literal(data)


def text(data: Any, ref: "Refs") -> str:
    """The expression for `data` as text (env values, argv)."""
    expression = value(data, ref)
    if isinstance(data, str) and ("${{" not in data or whole_ref(data) is None):
        return expression
    return ref.call("text", expression)


def condition(expr: Expr, ref: "Refs") -> str:
    """A Python expression for a `when` tree; comparisons go through `compare`, which is false
    when an operand is null (except `== null`) or the operands cannot be compared."""
    if isinstance(expr, Lit):
        return literal(expr.value)
    if isinstance(expr, RefNode):
        return ref(expr.ref)
    if isinstance(expr, ListLit):
        return literal([item.value for item in expr.items])
    if isinstance(expr, Not):
        return f"not {_grouped(expr.operand, ref)}"
    if isinstance(expr, BoolOp):
        return f" {expr.op} ".join(_grouped(v, ref) for v in expr.values)
    assert isinstance(expr, Compare)
    for side, other in ((expr.left, expr.right), (expr.right, expr.left)):
        if isinstance(side, Lit) and side.value is None and expr.op in ("==", "!="):
            return f"{condition(other, ref)} is {'' if expr.op == '==' else 'not '}None"
    return ref.call("compare", condition(expr.left, ref), repr(expr.op), condition(expr.right, ref))


def _grouped(expr: Expr, ref: "Refs") -> str:
    inner = condition(expr, ref)
    return f"({inner})" if isinstance(expr, (BoolOp, Not)) or " is " in inner else inner


KINDS = ("task", "item", "items", "outputs", "future", "may_start", "steps")  # what a step-derived name stands for
FIXED = frozenset({"_gate", "_run", "_stop", "_step", "_item", "_verdict", "_inputs"})  # orch's own locals and parameters


# Names a flow's parameter cannot have: Python's keywords; Prefect refuses `return_state` and `wait_for`
# and leaves `self` and `cls` out of a flow's parameters (prefect/flows.py, utilities/callables); it
# validates parameters with a pydantic model, which refuses `model_*` and `v__*` fields and warns on
# fields named like its methods, BaseModel's and its own validators (prefect/_internal/pydantic/validated_func.py).
NOT_PARAMETERS = frozenset(keyword.kwlist) | {
    "self", "cls", "return_state", "wait_for",
    "copy", "dict", "json", "schema", "schema_json", "construct", "validate", "parse_obj", "parse_raw", "parse_file",
    "from_orm", "update_forward_refs", "check_args", "check_kwargs", "check_positional_only", "check_duplicate_kwargs"}
NOT_PARAMETER_PREFIXES = ("model_", "v__")


def ident(name: str) -> str:
    """A user's name as a Python identifier: '-' -> '_', and one Python or Prefect keeps for itself
    (NOT_PARAMETERS) gets a trailing '_'. One to one: the validator refuses two names that differ only
    in '-' and '_', and no user's name ends in '_'."""
    text = name.replace("-", "_")
    return text + "_" if text in NOT_PARAMETERS or text.startswith(NOT_PARAMETER_PREFIXES) else text


def stem(name: str) -> str:
    """The stem of a step's or group's Python names: `_<name>`; inside a group each part after the first starts
    with a capital (`sweep.train` -> `_sweep_Train`), which no user's name holds, so `sweep_train` stays apart."""
    first, *inner = name.split(".")
    return "_" + "_".join([ident(first), *(part[0].upper() + part[1:].replace("-", "_") for part in inner)])


class Names:
    """The Python names of a rendered module. A user's name and a name orch writes can never meet:

    - a user's name is a Python identifier (`ident`) only where Python needs that very name: a flow's
      parameters; the flow (or DAG) function is `<pipeline>_flow` (`_dag`), and no helper's name ends so;
    - every other name the pipeline part binds starts with '_', which no user's name does: a step's
      are `_<step>_<kind>` (`_train_task`, `_train_outputs`, ...; no kind is another's `_`-suffix), orch's
      own are the few in FIXED, which end in no kind;
    - the helpers a task calls are methods of `_gate` (Prefect) or `_step` (Airflow), or capitalised
      (`Run`, `Step`): no lower-case parameter can shadow them.
    """

    def __init__(self, pipeline: Pipeline, suffix: str):
        self.params = {name: ident(name) for name in pipeline.params}
        self.flow = f"{ident(pipeline.name)}_{suffix}"
        self.steps = {name: stem(name) for name in [*pipeline.groups, *pipeline.all_steps]}  # finally steps' and groups' too
        self.pipeline = pipeline
        self.artifacts = artifact_names(pipeline)  # (step, output) of each artifact: a reference to one is a copy
        self.artifact_params = artifact_params(pipeline)  # so is a reference to one of these params

    def of(self, step: str, kind: str) -> str:
        """`_<step>_<kind>`: the name of one of the step's things."""
        assert kind in KINDS
        return f"{self.steps[step]}_{kind}"

    def task(self, step: str) -> str:
        return self.of(step, "task")

    def outputs(self, step: str) -> str:
        """The task parameter (or local) holding an upstream step's outputs."""
        return self.of(step, "outputs")

    def future(self, step: str) -> str:
        return self.of(step, "future")


class Refs:
    """How one task's body spells its step's references and helpers: everything through `helper`
    (`_gate` or `_step`), so no user-named local can shadow it."""

    def __init__(self, names: Names, helper: str, qualify=None):
        self.names = names
        self.helper = helper
        self.qualify = qualify or (lambda written: written)  # a step name as written -> the step or group it means

    def __call__(self, ref: Ref) -> str:
        if ref.kind == "param":
            if ref.name in self.names.artifact_params:  # a local copy of its URI, fetched for this attempt
                return f"_inputs.param({self.helper}.param({ref.name!r}), {ref.name!r})"
            return f"{self.helper}.param({ref.name!r})"
        if ref.kind == "output":
            read = f"{self.helper}.output({self.names.outputs(self.qualify(ref.step))}, {ref.name!r})"
            if self.is_artifact(ref):  # a local copy, fetched for this attempt (step_call)
                return f"_inputs.fetch({read}, {ref.step!r}, {ref.name!r})"
            return read
        if ref.kind == "item":
            return "_item"
        return f"{self.helper}.run_{ref.name}()"

    def call(self, function: str, *arguments: str) -> str:
        return f"{self.helper}.{function}({', '.join(arguments)})"

    def is_artifact(self, ref: Ref) -> bool:
        if ref.kind == "param":
            return ref.name in self.names.artifact_params
        return ref.kind == "output" and (self.qualify(ref.step), ref.name) in self.names.artifacts

    def reads_artifacts(self, step: Step) -> bool:
        """Whether the step's args, env or command read an artifact (its attempt fetches copies first)."""
        reads = self.names.artifacts or self.names.artifact_params
        strings = iter_strings([step.args, step.env, step.command or []]) if reads else ()
        return any(self.is_artifact(ref) for _, text_ in strings for ref in find_refs(text_))


def upstream_read(graph: PipelineGraph, name: str) -> list[str]:
    """The upstream steps whose outputs the step reads (args, env, command, foreach, when), in order."""
    step = graph.pipeline.all_steps[name]
    refs = [ref for _, s in iter_strings([step.args, step.env, step.command or [], step.foreach]) for ref in find_refs(s)]
    if step.when is not None:
        refs += [node.ref for node in walk_refs(parse_condition(step.when))]
    return list(dict.fromkeys(r.step for r in refs if r.kind == "output"))


def step_call(step: Step, refs: Refs, python: str, command: str, leading: list[str], indent: str) -> str:
    """`return <python>(...)` or `return <command>(...)`: the step's own call, its references filled in,
    after the runtime's `leading` arguments."""
    if step.python:
        callee, arguments = python, [*leading, repr(step.python), value(step.args, refs)]
    else:
        callee, arguments = command, [*leading, "[" + ", ".join(text(arg, refs) for arg in step.command) + "]"]
    arguments.append(f"outputs={literal(dict(step.outputs))}")
    if step.command and step.stdout_output:
        arguments.append(f"stdout={step.stdout_output!r}")
    if step.env:
        arguments.append("env={" + ", ".join(f"{literal(k)}: {text(v, refs)}" for k, v in step.env.items()) + "}")
    if step.timeout is not None:
        arguments.append(f"timeout={step.timeout!r}")
    if not refs.reads_artifacts(step):
        return wrapped(f"return {callee}", arguments, indent=indent)
    # it reads artifacts: copies fetched for this attempt, in a folder removed when it ends
    return f"{indent}with {refs.helper}.inputs() as _inputs:\n" + wrapped(f"return {callee}", arguments, indent=indent + "    ")


def wrapped(callee: str, arguments: list[str], indent: str = "") -> str:
    """`callee(a, b, ...)` on one line, or one argument a line when that passes 110 characters."""
    line = f"{indent}{callee}({', '.join(arguments)})"
    if len(line) <= 110:
        return line
    inner = indent + "    "
    return f"{indent}{callee}(\n" + "".join(f"{inner}{argument},\n" for argument in arguments) + f"{indent})"
