"""Argo's `when`: govaluate text after tag substitution (workflow/controller/steps.go, shouldExecute).

Argo substitutes the tags, then govaluate reads the text; a bare word is a variable there, which Argo turns
into a string (`heads == heads`), so `{{steps.flip.outputs.result}} == heads` compares text, while `5` reads as
a number. This module reads that language both ways: `parse` + `to_orch` write an orch condition (a tag becomes
a reference, typed by what it is compared with), and `evaluate` plays Argo's own reading of substituted text
for the behaviour check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .tags import Unsupported

_TOKEN = re.compile(r"""\s*(?:(?P<ref>\x00\d+\x00)|(?P<num>\d+(?:\.\d+)?(?![\w.]))|(?P<str>"[^"]*"|'[^']*')"""
                    r"""|(?P<op>==|!=|>=|<=|=~|!~|&&|\|\||[<>!()])|(?P<word>[A-Za-z_][\w.\-/:]*))""")
COMPARE = ("==", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class Operand:
    kind: str  # ref | num | str | bool
    value: object


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Logic:
    op: str  # && | || | !
    parts: tuple


def tokens(text: str) -> list[tuple[str, str]]:
    found, at = [], 0
    text = text.strip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if not match or match.end() == at:
            raise Unsupported(f"'when' text {text!r} is not govaluate orch can read (at {text[at:at + 12]!r})")
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        at = match.end()
        while at < len(text) and text[at].isspace():
            at += 1
    return found


def parse(text: str):
    """The expression tree of govaluate `text` (tags already replaced by \\x00N\\x00 markers or values)."""
    items = tokens(text)
    tree, at = _or(items, 0)
    if at != len(items):
        raise Unsupported(f"'when' text {text!r}: unexpected {items[at][1]!r}")
    return tree


def _or(items, at):
    return _joined(items, at, "||", _and)


def _and(items, at):
    return _joined(items, at, "&&", _not)


def _joined(items, at, op: str, operand):
    """`operand (op operand)*`: one operand as itself, more as one Logic node."""
    part, at = operand(items, at)
    parts = [part]
    while at < len(items) and items[at] == ("op", op):
        part, at = operand(items, at + 1)
        parts.append(part)
    return (parts[0] if len(parts) == 1 else Logic(op, tuple(parts))), at


def _not(items, at):
    if at < len(items) and items[at] == ("op", "!"):
        inner, at = _not(items, at + 1)
        return Logic("!", (inner,)), at
    return _compare(items, at)


def _compare(items, at):
    left, at = _atom(items, at)
    if at < len(items) and items[at][0] == "op" and items[at][1] in COMPARE + ("=~", "!~"):
        op = items[at][1]
        if op in ("=~", "!~"):
            raise Unsupported("a regular-expression match (=~, !~) has no orch condition")
        right, at = _atom(items, at + 1)
        if not isinstance(left, Operand) or not isinstance(right, Operand):
            raise Unsupported("a comparison of expressions has no orch condition")
        return Cmp(op, left, right), at
    return left, at


def _atom(items, at):
    if at >= len(items):
        raise Unsupported("'when' text ends early")
    kind, text = items[at]
    if (kind, text) == ("op", "("):
        inner, at = _or(items, at + 1)
        if at >= len(items) or items[at] != ("op", ")"):
            raise Unsupported("'when' text: unbalanced parenthesis")
        return inner, at + 1
    if kind == "ref":
        return Operand("ref", int(text.strip("\x00"))), at + 1
    if kind == "num":
        return Operand("num", float(text) if "." in text else int(text)), at + 1
    if kind == "str":
        return Operand("str", text[1:-1]), at + 1
    if kind == "word":
        if text in ("true", "false"):
            return Operand("bool", text == "true"), at + 1
        return Operand("str", text), at + 1  # govaluate's variable, which Argo reads as a string
    raise Unsupported(f"'when' text: unexpected {text!r}")


# --- Argo's reading, for the behaviour check -------------------------------------------------------------


def evaluate(text: str) -> bool:
    """What Argo decides for substituted `text`; ValueError where Argo would fail the node (an Error)."""
    try:
        tree = parse(text)
    except Unsupported as err:
        raise ValueError(str(err)) from None
    value = _value(tree)
    if not isinstance(value, bool):
        raise ValueError(f"expected a boolean from {text!r}")
    return value


def _value(node):
    if isinstance(node, Operand):
        return node.value
    if isinstance(node, Cmp):
        left, right = node.left.value, node.right.value
        if node.op in ("==", "!="):
            same = type(left) is type(right) and left == right or (_number(left) and _number(right) and left == right)
            return same if node.op == "==" else not same
        if _number(left) and _number(right) or isinstance(left, str) and isinstance(right, str):
            return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[node.op]
        raise ValueError(f"cannot order {left!r} and {right!r}")
    values = [_value(part) for part in node.parts]
    if any(not isinstance(v, bool) for v in values):
        raise ValueError("a logical operator over a value that is not a boolean")
    return not values[0] if node.op == "!" else (all(values) if node.op == "&&" else any(values))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- the orch condition -----------------------------------------------------------------------------------


def to_orch(tree, refs: list[str], typed) -> str:
    """orch condition text of `tree`; `refs[i]` is marker i's reference, `typed(ref, literal)` says the type
    the reference is read as once compared with `literal` (and records it)."""
    if isinstance(tree, Operand):
        if tree.kind == "bool":
            return "true" if tree.value else "false"
        if tree.kind == "ref":
            ref = refs[tree.value]
            typed(ref, "true")
            return f"{ref} == 'true'"
        raise Unsupported(f"a bare value {tree.value!r} is not a condition")
    if isinstance(tree, Cmp):
        left, right = tree.left, tree.right
        if "ref" not in (left.kind, right.kind):  # two literals (inputs filled in): decided here, as Argo would
            try:
                return "true" if _value(tree) else "false"
            except ValueError:
                raise Unsupported(f"Argo cannot compare {left.value!r} with {right.value!r}") from None
        return f"{_operand(left, right, refs, typed)} {tree.op} {_operand(right, left, refs, typed)}"
    if tree.op == "!":
        return f"not ({to_orch(tree.parts[0], refs, typed)})"
    joiner = " and " if tree.op == "&&" else " or "
    return joiner.join(f"({to_orch(part, refs, typed)})" for part in tree.parts)


def _operand(operand: Operand, other: Operand, refs: list[str], typed) -> str:
    if operand.kind == "ref":
        ref = refs[operand.value]
        typed(ref, other.value if other.kind != "ref" else "")
        return ref
    if operand.kind == "num":
        return repr(operand.value)
    text = operand.value if operand.kind == "str" else ("true" if operand.value else "false")
    if other.kind == "ref" and refs[other.value] == "run.status" and text in RUN_STATUS:
        return _quoted(RUN_STATUS[text])  # Argo's workflow.status as orch's run.status says it
    return _quoted(str(text))


RUN_STATUS = {"Succeeded": "succeeded", "Failed": "failed", "Error": "failed"}


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
