"""Conditions (`when`): parsed with Python's `ast` into a small whitelisted tree.

Never evaluated with `eval`. References are written bare (`steps.train.outputs.accuracy`)
and may hold hyphens, so they are swapped for same-length placeholders before parsing:
column numbers in errors stay those of the user's text. Backends translate the tree.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Callable, Union

from .refs import Ref, RefProblem, parse_ref_body

_TOKENS = re.compile(
    r"""(?P<str>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")"""
    r"""|(?P<ref>(?<![\w.])(?:params|steps|run|item)(?:\.[A-Za-z0-9_-]+)*)"""
)
_LITERAL_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_COMPARE = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}
ORDERING = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Lit:
    value: Any
    offset: int


@dataclass(frozen=True)
class RefNode:
    ref: Ref
    offset: int


@dataclass(frozen=True)
class ListLit:
    items: tuple[Lit, ...]
    offset: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: "Expr"
    right: "Expr"
    offset: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # 'and' | 'or'
    values: tuple["Expr", ...]
    offset: int


@dataclass(frozen=True)
class Not:
    operand: "Expr"
    offset: int


Expr = Union[Lit, RefNode, ListLit, Compare, BoolOp, Not]


class ExprProblem(ValueError):
    """A condition error at `offset` characters into the condition's text."""

    def __init__(self, message: str, offset: int, hint: str | None = None):
        super().__init__(message)
        self.offset = offset
        self.hint = hint


def parse_condition(text: str) -> Expr:
    """The tree of `text`; ExprProblem for anything outside the whitelist."""
    if not isinstance(text, str) or not text.strip():
        raise ExprProblem("a condition must be a non-empty expression", 0)
    if "${{" in text:
        raise ExprProblem("write references in a condition without ${{ }}", text.index("${{"),
                          "when: steps.train.outputs.accuracy > params.threshold")
    refs: dict[str, Ref] = {}
    pieces, pos = [], 0
    for match in _TOKENS.finditer(text):
        if match.group("ref") is None:
            continue
        start, end = match.span()
        try:
            ref = parse_ref_body(match.group(), start, end)
        except RefProblem as err:
            raise ExprProblem(str(err), start, err.hint) from None
        if ref.kind == "item":
            raise ExprProblem("'item' cannot be used in a condition: it is evaluated once, before fan-out", start)
        placeholder = f"_{len(refs)}".ljust(end - start, "_")
        refs[placeholder] = ref
        pieces += [text[pos:start], placeholder]
        pos = end
    pieces.append(text[pos:])
    source = "".join(pieces)
    # The text may span lines in YAML; Python needs it as one parenthesised expression.
    try:
        tree = ast.parse(f"({source})".replace("\n", " "), mode="eval")
    except SyntaxError as err:
        offset = max(0, (err.offset or 2) - 2)
        raise ExprProblem(f"invalid condition: {err.msg}", min(offset, len(text))) from None
    return _Builder(refs).build(tree.body)


class _Builder:
    def __init__(self, refs: dict[str, Ref]):
        self.refs = refs

    def build(self, node: ast.AST) -> Expr:
        at = max(0, getattr(node, "col_offset", 1) - 1)  # minus the '(' we added
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return BoolOp(op, tuple(self.build(v) for v in node.values), at)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return Not(self.build(node.operand), at)
            if isinstance(node.op, (ast.USub, ast.UAdd)) and _is_number(node.operand):
                value = node.operand.value
                return Lit(-value if isinstance(node.op, ast.USub) else value, at)
        if isinstance(node, ast.Compare):
            return self._compare(node, at)
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, int, float, bool))):
            return Lit(node.value, at)
        if isinstance(node, ast.Name):
            if node.id in self.refs:
                return RefNode(self.refs[node.id], at)
            if node.id in _LITERAL_NAMES:
                return Lit(_LITERAL_NAMES[node.id], at)
            raise ExprProblem(f"unknown name {node.id!r}", at, "quote text ('gold'); refer to params.NAME or steps.STEP.outputs.NAME")
        if isinstance(node, (ast.List, ast.Tuple)):
            items = tuple(self.build(item) for item in node.elts)
            if not all(isinstance(item, Lit) for item in items):
                raise ExprProblem("a list in a condition may hold only literal values", at)
            return ListLit(items, at)
        raise ExprProblem(f"{_describe(node)} is not allowed in a condition", at,
                          "conditions use literals, references, == != < <= > >= in, and, or, not, ( )")

    def _compare(self, node: ast.Compare, at: int) -> Expr:
        operands = [self.build(node.left)] + [self.build(c) for c in node.comparators]
        parts = []
        for i, op in enumerate(node.ops):
            if type(op) not in _COMPARE:
                raise ExprProblem(f"operator {type(op).__name__} is not allowed in a condition", at)
            parts.append(Compare(_COMPARE[type(op)], operands[i], operands[i + 1], _offset(operands[i], at)))
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts), at)


def _offset(expr: Expr, default: int) -> int:
    return getattr(expr, "offset", default)


def _is_number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _describe(node: ast.AST) -> str:
    names = {ast.Call: "a function call", ast.BinOp: "arithmetic", ast.Attribute: "attribute access",
             ast.Subscript: "indexing", ast.Lambda: "a lambda", ast.IfExp: "an if-expression",
             ast.Dict: "a mapping", ast.Set: "a set", ast.NamedExpr: "assignment"}
    return names.get(type(node), f"'{type(node).__name__}'")


def walk_refs(expr: Expr):
    """Every RefNode in the tree."""
    if isinstance(expr, RefNode):
        yield expr
    elif isinstance(expr, Compare):
        yield from walk_refs(expr.left)
        yield from walk_refs(expr.right)
    elif isinstance(expr, BoolOp):
        for value in expr.values:
            yield from walk_refs(value)
    elif isinstance(expr, Not):
        yield from walk_refs(expr.operand)


def evaluate(expr: Expr, resolve: Callable[[Ref], Any]) -> Any:
    """The condition's value. A comparison with a null operand is false, except `== null`."""
    if isinstance(expr, Lit):
        return expr.value
    if isinstance(expr, RefNode):
        return resolve(expr.ref)
    if isinstance(expr, ListLit):
        return [item.value for item in expr.items]
    if isinstance(expr, Not):
        return not evaluate(expr.operand, resolve)
    if isinstance(expr, BoolOp):
        if expr.op == "and":
            return all(evaluate(v, resolve) for v in expr.values)
        return any(evaluate(v, resolve) for v in expr.values)
    left, right = evaluate(expr.left, resolve), evaluate(expr.right, resolve)
    return _compare(expr.op, left, right, expr)


def _compare(op: str, left: Any, right: Any, expr: Compare) -> bool:
    if left is None or right is None:
        literal_null = any(isinstance(side, Lit) and side.value is None for side in (expr.left, expr.right))
        if literal_null and op in ("==", "!="):
            return (left is None and right is None) == (op == "==")
        return False
    try:
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        if op == ">=":
            return left >= right
        if op == "in":
            return left in right
        return left not in right
    except TypeError:
        return False
