"""`when` conditions as Argo expression tags (`{{= … }}`, expr-lang), built from the tree.

Not govaluate text: govaluate mis-compares (`2 == '2'` is false, `'10' > '9'` is false)
and breaks on values holding quotes. Each reference is decoded to its declared type:
outputs travel as JSON text (`fromJSON`), params as the text a user submits (`asFloat`,
`asInt`, `== 'true'`, `fromJSON`). A comparison with a null operand is false (orch's rule),
so references are guarded with `!= nil`.

Literals are written in ASCII that expr-lang reads back exactly (parser/lexer/utils.go, `unescape`):
`{` and `}`, which would end the tag early, as \\u007b and \\u007d; other non-ASCII characters as
\\uXXXX, and those beyond the BMP as \\UXXXXXXXX -- expr-lang reads a \\u escape as one code
point, so a JSON surrogate pair would become two U+FFFD. What expr-lang cannot hold (a lone
surrogate, an integer beyond 64 bits, a non-finite number) raises `Unrepresentable`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Callable

from orch.core.expr import BoolOp, Compare, Expr, ListLit, Lit, Not, RefNode
from orch.core.limits import int_fits
from orch.core.names import argo_name
from orch.core.refs import Ref
from orch.core.typed import text_problem


class Unrepresentable(ValueError):
    """A literal of the condition that expr-lang cannot hold exactly."""


def literal(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        if not int_fits(value):  # expr-lang parses an integer literal with strconv.ParseInt(_, 10, 64)
            raise Unrepresentable("an integer beyond 64 bits, which Argo's expressions cannot hold")
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise Unrepresentable(f"{value!r} is not a finite number")
    return repr(value)


def _string(text: str) -> str:
    """A double-quoted expr-lang string, in ASCII, that unescapes to `text` exactly."""
    problem = text_problem(text)
    if problem:
        raise Unrepresentable(f"the text {problem}")
    return _ESCAPED.sub(_escape, json.dumps(text, ensure_ascii=False))


_ESCAPED = re.compile(r"[{}\x7f-\U0010ffff]")


def _escape(match: re.Match) -> str:
    point = ord(match.group())
    return f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}"


def task_output(step: str, name: str) -> str:
    return f"tasks[{literal(argo_name(step))}].outputs.parameters[{literal(name)}]"


def run_value(name: str, outcome=None) -> str:
    """`run.id` and `run.date` from the workflow; `run.status` and `run.failed_steps`, which only finally steps read,
    from the exit handler's `outcome` (final.py)."""
    if name == "id":
        return "workflow.name"
    if name == "date":
        return "workflow.creationTimestamp[0:10]"
    if outcome is None:
        raise ValueError(f"run.{name} is read only in a finally step")
    return outcome.status() if name == "status" else outcome.failed_steps()


def reference(ref: Ref, param_type: Callable[[str], str], output: Callable[[str, str], str] = task_output,
              outcome=None) -> str:
    """The expr-lang value of a reference, decoded to its type."""
    if ref.kind == "output":
        return f"fromJSON({output(ref.step, ref.name)})"
    if ref.kind == "run":
        return run_value(ref.name, outcome)
    raw = f"workflow.parameters[{literal(ref.name)}]"
    kind = param_type(ref.name)
    return {"number": f"asFloat({raw})", "integer": f"asInt({raw})", "boolean": f"({raw} == 'true')",
            "json": f"fromJSON({raw})"}.get(kind, raw)


class ExprLang:
    def __init__(self, param_type: Callable[[str], str], types: Callable[[Ref], str],
                 output: Callable[[str, str], str] = task_output, outcome=None):
        self.param_type = param_type
        self.types = types  # a reference's declared type ('list' for a fan-out's output)
        self.output = output  # where an output is read: its task, or an input of a nested DAG
        self.outcome = outcome  # the run as a finally step sees it (final.py), None elsewhere

    def tag(self, expr: Expr, gate: str | None = None) -> str:
        """The tag; `gate` (expr-lang) must also hold, for a trigger read from step statuses."""
        text = self.text(expr) if expr is not None else None
        both = " && ".join(part for part in (gate, text) if part)
        return "{{= " + both + " }}"

    def text(self, expr: Expr) -> str:
        if isinstance(expr, Lit):
            return literal(expr.value)
        if isinstance(expr, RefNode):
            if expr.ref.kind == "output" and self.types(expr.ref) == "list":
                return self._items(expr.ref)
            return reference(expr.ref, self.param_type, self.output, self.outcome)
        if isinstance(expr, ListLit):
            return "[" + ", ".join(literal(item.value) for item in expr.items) + "]"
        if isinstance(expr, Not):
            return f"!({self.text(expr.operand)})"
        if isinstance(expr, BoolOp):
            joiner = " && " if expr.op == "and" else " || "
            return "(" + joiner.join(self.text(value) for value in expr.values) + ")"
        return self.compare(expr)

    def _items(self, ref: Ref) -> str:
        """A fan-out's output as its list of values. Argo aggregates the items' JSON texts as a list of
        those texts -- or, when every one is an object or a list, of the values themselves
        (workflow/controller/operator.go, `aggregatedJSONValueList`)."""
        return f"map(fromJSON({self.output(ref.step, ref.name)}), type(#) == 'string' ? fromJSON(#) : #)"

    def compare(self, expr: Compare) -> str:
        left, right = self.text(expr.left), self.text(expr.right)
        nulls = [side for side in (expr.left, expr.right) if isinstance(side, Lit) and side.value is None]
        if nulls and expr.op in ("==", "!="):
            return f"({left} {expr.op} {right})"
        if expr.op in ("in", "not in"):
            test = self._contains(expr, left, right)
            test = test if expr.op == "in" else f"!{test}"
        else:
            test = f"({left} {expr.op} {right})"
        guards = [f"{self.text(side)} != nil" for side in (expr.left, expr.right)
                  if isinstance(side, RefNode) and side.ref.kind == "output"]  # only outputs can be null
        return "(" + " && ".join(guards + [test]) + ")" if guards else test

    def _contains(self, expr: Compare, left: str, right: str) -> str:
        kind = self.types(expr.right.ref) if isinstance(expr.right, RefNode) else "list"
        if kind == "string":
            return f"({right} contains {left})"
        if kind == "json":
            return f"(type({right}) == 'string' ? {right} contains {left} : {left} in {right})"
        return f"({left} in {right})"
