"""Python source for names, values, references and conditions, as rendered flow modules and DAG files spell them.

Every literal is written by `literal` (repr, or float('inf')-style for the odd float), so a
user's string reaches the step byte for byte and never becomes code.
"""

from __future__ import annotations

import builtins
import keyword
import math
from typing import Any, Callable

from orch.core.expr import BoolOp, Compare, Expr, ListLit, Lit, Not, RefNode, parse_condition, walk_refs
from orch.core.graph import PipelineGraph
from orch.core.refs import Ref, find_refs, iter_strings, whole_ref
from orch.core.spec import Pipeline, Step

PYTHON_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "json": "Any"}


def literal(value: Any) -> str:
    """A Python expression for a plain value (YAML data: str, numbers, bools, None, lists, dicts)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


def identifier(name: str, taken: set[str] = frozenset()) -> str:
    """A Python name for an orch name ('gives-up' -> 'gives_up'), clear of keywords and `taken`."""
    text = name.replace("-", "_")
    while keyword.iskeyword(text) or text in taken:
        text += "_"
    return text


def docstring(text_: str) -> str:
    """`text_` as a module docstring: backslashes and triple quotes of a user's text stay text."""
    return '"""' + text_.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""'


def value(data: Any, ref: Callable[[Ref], str]) -> str:
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
            pieces.append(f"to_text({ref(found)})")
            pos = found.end
        if data[pos:]:
            pieces.append(literal(data[pos:]))
        return " + ".join(pieces)
    if isinstance(data, dict):
        return "{" + ", ".join(f"{literal(k)}: {value(v, ref)}" for k, v in data.items()) + "}"
    if isinstance(data, list):
        return "[" + ", ".join(value(v, ref) for v in data) + "]"
    return literal(data)


def text(data: Any, ref: Callable[[Ref], str]) -> str:
    """The expression for `data` as text (env values, argv)."""
    expression = value(data, ref)
    if isinstance(data, str) and ("${{" not in data or whole_ref(data) is None):
        return expression
    return f"to_text({expression})"


def condition(expr: Expr, ref: Callable[[Ref], str]) -> str:
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
    return f"compare({condition(expr.left, ref)}, {expr.op!r}, {condition(expr.right, ref)})"


def _grouped(expr: Expr, ref: Callable[[Ref], str]) -> str:
    inner = condition(expr, ref)
    return f"({inner})" if isinstance(expr, (BoolOp, Not)) or " is " in inner else inner


class Names:
    """The Python names of a pipeline's flow (or DAG), tasks and params, clear of each other and of `reserved`."""

    def __init__(self, pipeline: Pipeline, reserved: frozenset[str]):
        taken = set(reserved) | set(dir(builtins))
        self.params = {name: identifier(name, taken) for name in pipeline.params}
        taken |= set(self.params.values())
        self.flow = identifier(pipeline.name, taken)
        taken.add(self.flow)
        self.steps: dict[str, str] = {}
        for name in pipeline.steps:
            self.steps[name] = identifier(name, taken)
            taken.add(self.steps[name])
            taken.update(self.steps[name] + suffix for suffix in ("_item", "__item", "__items"))

    def outputs(self, step: str) -> str:
        """The task parameter holding an upstream step's outputs."""
        return f"{self.steps[step]}_outputs"

    def future(self, step: str) -> str:
        return f"{self.steps[step]}_future"


class Refs:
    """How one task's body spells the references of its step (`run.id`, `run.date` and `item` as given)."""

    def __init__(self, names: Names, item: str = "item", run_id: str = "run_id()", run_date: str = "run_date()"):
        self.names = names
        self.spelling = {"item": item, "id": run_id, "date": run_date}

    def __call__(self, ref: Ref) -> str:
        if ref.kind == "param":
            return self.names.params[ref.name]
        if ref.kind == "output":
            return f"output({self.names.outputs(ref.step)}, {ref.name!r})"
        return self.spelling[ref.name]


def inputs(graph: PipelineGraph, name: str, names: Names) -> list[str]:
    """The task's parameters after `gate`: the params it reads, then the upstream outputs it reads."""
    step = graph.pipeline.steps[name]
    refs = [ref for _, s in iter_strings([step.args, step.env, step.command or [], step.foreach]) for ref in find_refs(s)]
    if step.when is not None:
        refs += [node.ref for node in walk_refs(parse_condition(step.when))]
    params = dict.fromkeys(names.params[r.name] for r in refs if r.kind == "param")
    outputs = dict.fromkeys(names.outputs(r.step) for r in refs if r.kind == "output")
    return list(params) + list(outputs)


def step_call(step: Step, refs: Refs, python: str, command: str, leading: list[str], indent: str) -> str:
    """`return <python>(...)` or `return <command>(...)`: the step's own call, its references filled in,
    after the runtime's `leading` arguments."""
    if step.python:
        callee, arguments = python, [*leading, repr(step.python), value(step.args, refs)]
    else:
        callee, arguments = command, [*leading, "[" + ", ".join(text(arg, refs) for arg in step.command) + "]"]
    arguments.append(f"outputs={literal(dict(step.outputs))}")
    if step.env:
        arguments.append("env={" + ", ".join(f"{literal(k)}: {text(v, refs)}" for k, v in step.env.items()) + "}")
    if step.timeout is not None:
        arguments.append(f"timeout={step.timeout!r}")
    return wrapped(f"return {callee}", arguments, indent=indent)


def wrapped(callee: str, arguments: list[str], indent: str = "") -> str:
    """`callee(a, b, ...)` on one line, or one argument a line when that passes 110 characters."""
    line = f"{indent}{callee}({', '.join(arguments)})"
    if len(line) <= 110:
        return line
    inner = indent + "    "
    return f"{indent}{callee}(\n" + "".join(f"{inner}{argument},\n" for argument in arguments) + f"{indent})"
