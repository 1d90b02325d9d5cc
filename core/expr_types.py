"""Type-checking of conditions against the declared types of params and outputs.

Catches what would silently be always-false on some backend (`string > 3`, a number
compared with text) before any backend renders it.
"""

from __future__ import annotations

from typing import Callable

from .expr import ORDERING, BoolOp, Compare, Expr, ExprProblem, ListLit, Lit, Not, RefNode
from .refs import Ref
from .spec import type_of_value

NUMERIC = {"integer", "number"}
# 'list' is a fan-out step's output; 'any' is a reference whose type is not known.
_OPAQUE = {"json", "any"}


def condition_problems(expr: Expr, type_of: Callable[[Ref], str]) -> list[ExprProblem]:
    """Every type problem in the condition; empty when it is sound."""
    checker = _Checker(type_of)
    result = checker.type(expr)
    if result not in ("boolean", "any", "json"):
        checker.problems.append(ExprProblem(
            f"a condition must be true or false, but this is {_a(result)}", _at(expr),
            "compare it, as in params.mode == 'full'",
        ))
    return checker.problems


class _Checker:
    def __init__(self, type_of: Callable[[Ref], str]):
        self.type_of = type_of
        self.problems: list[ExprProblem] = []

    def type(self, expr: Expr) -> str:
        if isinstance(expr, Lit):
            return _literal_type(expr.value)
        if isinstance(expr, RefNode):
            return self.type_of(expr.ref)
        if isinstance(expr, ListLit):
            return "list"
        if isinstance(expr, Not):
            self._boolean(expr.operand)
            return "boolean"
        if isinstance(expr, BoolOp):
            for value in expr.values:
                self._boolean(value)
            return "boolean"
        self._compare(expr)
        return "boolean"

    def _boolean(self, expr: Expr) -> None:
        kind = self.type(expr)
        if kind not in ("boolean", "any", "json"):
            self.problems.append(ExprProblem(f"'and', 'or' and 'not' need true or false, not {_a(kind)}", _at(expr)))

    def _compare(self, expr: Compare) -> None:
        left, right = self.type(expr.left), self.type(expr.right)
        op = expr.op
        if "null" in (left, right):
            if op not in ("==", "!="):
                self.problems.append(ExprProblem(f"'{op}' cannot compare with null", expr.offset, "use == null or != null"))
            return
        if op in ("in", "not in"):
            if right == "string" and left not in ("string", "any", "json"):
                self.problems.append(ExprProblem(f"'{op}' on text needs text on the left, not {_a(left)}", expr.offset))
            elif right not in {"list", "string"} | _OPAQUE:
                self.problems.append(ExprProblem(f"'{op}' needs a list, json or text on the right, not {_a(right)}", _at(expr.right)))
            return
        if left in _OPAQUE or right in _OPAQUE:
            if op in ORDERING and "json" in (left, right):
                self.problems.append(ExprProblem(f"'{op}' cannot order a json value", expr.offset,
                                                 "declare the output as number, integer or string to compare it"))
            return
        if op in ORDERING:
            if not ((left in NUMERIC and right in NUMERIC) or (left == right == "string")):
                self.problems.append(ExprProblem(f"'{op}' cannot compare {_a(left)} with {_a(right)}", expr.offset,
                                                 _order_hint(left, right)))
        elif _family(left) != _family(right):
            self.problems.append(ExprProblem(f"'{op}' compares {_a(left)} with {_a(right)}; they are never equal",
                                             expr.offset, _order_hint(left, right)))


def _literal_type(value) -> str:
    return "null" if value is None else type_of_value(value)


def _family(kind: str) -> str:
    return "number" if kind in NUMERIC else kind


def _order_hint(left: str, right: str) -> str | None:
    if "string" in (left, right) and (left in NUMERIC or right in NUMERIC):
        return "quote nothing that should be a number, or declare the output's type as number"
    return None


def _a(kind: str) -> str:
    return {"integer": "an integer", "any": "a value", "list": "a list"}.get(kind, f"a {kind}")


def _at(expr: Expr) -> int:
    return getattr(expr, "offset", 0)
