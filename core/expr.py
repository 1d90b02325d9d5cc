"""Conditions (`when`): parsed with Python's `ast` into a small whitelisted tree.

Never evaluated with `eval`. References are written bare (`steps.train.outputs.accuracy`)
and may hold hyphens, so they are swapped for same-length placeholders before parsing:
column numbers in errors stay those of the user's text. Backends translate the tree.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Union

from .limits import MAX_CONDITION_CHARS, MAX_CONDITION_DEPTH, int_fits, text_problem
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
    """A condition error at `offset` characters into the condition's text; `code` when not E601 (syntax)."""

    def __init__(self, message: str, offset: int, hint: str | None = None, code: str | None = None):
        super().__init__(message)
        self.offset = offset
        self.hint = hint
        self.code = code


_TOO_DEEP = f"the condition nests more than {MAX_CONDITION_DEPTH} levels"
_DEPTH_HINT = "write it flatter: 'a and b and c' rather than nested parentheses or repeated 'not'"


def parse_condition(text: str) -> Expr:
    """The tree of `text`; ExprProblem for anything outside the whitelist."""
    if not isinstance(text, str) or not text.strip():
        raise ExprProblem("a condition must be a non-empty expression", 0)
    if len(text) > MAX_CONDITION_CHARS:
        raise ExprProblem(f"the condition is {len(text):,} characters long; the limit is {MAX_CONDITION_CHARS:,}",
                          MAX_CONDITION_CHARS, "compute the decision in a step and test its output", code="E603")
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
        placeholder = f"_{len(refs)}".ljust(end - start, "_")
        refs[placeholder] = ref
        pieces += [text[pos:start], placeholder]
        pos = end
    pieces.append(text[pos:])
    source = "".join(pieces)
    # The text may span lines in YAML; Python needs it as one parenthesised expression.
    code = f"({source})".replace("\n", " ")
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError as err:
        offset = max(0, (err.offset or 2) - 2)
        if "digits" in err.msg:  # Python's int-digits limit: a literal far beyond 64 bits
            raise ExprProblem("the integer is outside the signed 64-bit range", min(offset, len(text)), code="E110") from None
        if "nested" in err.msg:  # "too many nested parentheses"
            raise ExprProblem(_TOO_DEEP, min(offset, len(text)), _DEPTH_HINT, code="E603") from None
        raise ExprProblem(f"invalid condition: {err.msg}", min(offset, len(text))) from None
    except (RecursionError, MemoryError):  # Python's parser gives up on deep nesting
        raise ExprProblem(_TOO_DEEP, 0, _DEPTH_HINT, code="E603") from None
    return _Builder(refs, code).build(tree.body)


class _Builder:
    """ast -> Expr, at most MAX_CONDITION_DEPTH levels deep (so no recursion runs away)."""

    def __init__(self, refs: dict[str, Ref], code: str):
        self.refs = refs
        self.encoded = code.encode("utf-8") if not code.isascii() else None

    def _characters(self, byte_offset: int) -> int:
        """ast counts columns in UTF-8 bytes; a diagnostic's column counts characters."""
        if self.encoded is None:
            return byte_offset
        return len(self.encoded[:byte_offset].decode("utf-8", "ignore"))

    def build(self, node: ast.AST, depth: int = 1) -> Expr:
        at = max(0, self._characters(getattr(node, "col_offset", 1)) - 1)  # minus the '(' we added
        if depth > MAX_CONDITION_DEPTH:
            raise ExprProblem(_TOO_DEEP, at, _DEPTH_HINT, code="E603")
        inner = depth + 1
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return BoolOp(op, tuple(self.build(v, inner) for v in node.values), at)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return Not(self.build(node.operand, inner), at)
            if isinstance(node.op, (ast.USub, ast.UAdd)) and _is_number(node.operand):
                value = node.operand.value
                return _literal(-value if isinstance(node.op, ast.USub) else value, at)
        if isinstance(node, ast.Compare):
            return self._compare(node, at, inner)
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, int, float, bool))):
            return _literal(node.value, at)
        if isinstance(node, ast.Name):
            if node.id in self.refs:
                return RefNode(self.refs[node.id], at)
            if node.id in _LITERAL_NAMES:
                return Lit(_LITERAL_NAMES[node.id], at)
            raise ExprProblem(f"unknown name {node.id!r}", at, "quote text ('gold'); refer to params.NAME or steps.STEP.outputs.NAME")
        if isinstance(node, (ast.List, ast.Tuple)):
            items = tuple(self.build(item, inner) for item in node.elts)
            if not all(isinstance(item, Lit) for item in items):
                raise ExprProblem("a list in a condition may hold only literal values", at)
            return ListLit(items, at)
        raise ExprProblem(f"{_describe(node)} is not allowed in a condition", at,
                          "conditions use literals, references, == != < <= > >= in, and, or, not, ( )")

    def _compare(self, node: ast.Compare, at: int, inner: int) -> Expr:
        operands = [self.build(node.left, inner)] + [self.build(c, inner) for c in node.comparators]
        parts = []
        for i, op in enumerate(node.ops):
            if type(op) not in _COMPARE:
                raise ExprProblem(f"operator {type(op).__name__} is not allowed in a condition", at)
            parts.append(Compare(_COMPARE[type(op)], operands[i], operands[i + 1], _offset(operands[i], at)))
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts), at)


def _literal(value: Any, at: int) -> Lit:
    """A literal orch can carry: finite, within 64 bits, text without NUL or lone surrogates."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprProblem(f"{value!r} is not a finite number", at, "orch has no NaN or infinity", code="E109")
    if isinstance(value, int) and not isinstance(value, bool) and not int_fits(value):
        raise ExprProblem("the integer is outside the signed 64-bit range", at, code="E110")
    if isinstance(value, str) and (problem := text_problem(value)):
        raise ExprProblem(f"the text {problem[1]}", at, code=problem[0])
    return Lit(value, at)


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
