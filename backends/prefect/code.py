"""Python source for values, references and conditions, as the rendered flow module spells them.

Every literal is written by `literal` (repr, or float('inf')-style for the odd float), so a
user's string reaches the step byte for byte and never becomes code.
"""

from __future__ import annotations

import keyword
import math
from typing import Any, Callable

from orch.core.expr import BoolOp, Compare, Expr, ListLit, Lit, Not, RefNode
from orch.core.refs import Ref, find_refs, whole_ref

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
