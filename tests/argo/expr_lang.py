"""The expr-lang that Argo evaluates in `{{= … }}` tags, for the subset orch writes, and Argo's tag substitution.

Read in expr-lang/expr (parser/operator/operator.go for precedence: `??` 500, `-` and `+` unary 90, `!` 50, `*` 60,
`+` 30, comparisons and `in`/`contains` 20, `&&` 15, `||` 10, the conditional lowest; vm/runtime/runtime.go, Fetch:
a missing map key is nil; `?.` and `?.[` give nil on nil) and in argo-workflows (util/expr/env: `toJson`, `asInt`,
`asFloat`; util/template: a simple tag is replaced by its value, an expression by its result, a string as itself and
anything else as its JSON). What it does not know raises `Unknown`, so a test cannot pass on a form orch does not
write.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

_TOKEN = re.compile(r'''\s*(?:(?P<number>\d+\.\d+|\d+)|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')'''
                    r'''|(?P<pointer>\#[a-z]*)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)'''
                    r'''|(?P<op>\?\.|\?\?|==|!=|<=|>=|&&|\|\||[?:<>!+\-*/%.,()\[\]]))''')
_BINARY = {"||": 10, "or": 10, "&&": 15, "and": 15, "==": 20, "!=": 20, "<": 20, ">": 20, "<=": 20, ">=": 20,
           "in": 20, "contains": 20, "+": 30, "-": 30, "*": 60, "/": 60, "%": 60, "??": 500}
_CLOSURES = ("map", "filter", "all", "any")


class Unknown(Exception):
    """A form of expr-lang this model does not read, or an expression expr-lang would refuse."""


def _tokens(text: str) -> list[tuple[str, str]]:
    found, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise Unknown(f"cannot read {text[pos:]!r}")
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        pos = match.end()
    return found + [("end", "")]


def _unquote(token: str) -> str:
    body = token[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] != "\\":
            out.append(body[i])
            i += 1
            continue
        code = body[i + 1]
        if code in "uU":
            width = 4 if code == "u" else 8
            out.append(chr(int(body[i + 2:i + 2 + width], 16)))
            i += 2 + width
            continue
        out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}.get(code) or _refuse(code))
        i += 2
    return "".join(out)


def _refuse(code: str) -> str:
    raise Unknown(f"escape \\{code}")


class _Parser:
    def __init__(self, text: str):
        self.tokens, self.at = _tokens(text), 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at]

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.at]
        if value is not None and token[1] != value:
            raise Unknown(f"expected {value!r}, found {token[1]!r}")
        self.at += 1
        return token

    def expression(self):
        condition = self.binary(0)
        if self.peek() == ("op", "?"):
            self.take()
            yes = self.expression()
            self.take(":")
            return ("if", condition, yes, self.expression())
        return condition

    def binary(self, least: int):
        left = self.unary()
        while True:
            kind, value = self.peek()
            operator = value if kind in ("op", "name") else None
            if operator == "not" and self.tokens[self.at + 1][1] == "in":
                operator = "not in"
            precedence = _BINARY.get("in" if operator == "not in" else operator, -1)
            if precedence < least or precedence < 0:
                return left
            self.take()
            if operator == "not in":
                self.take("in")
            left = ("binary", operator, left, self.binary(precedence + 1))

    def unary(self):
        kind, value = self.peek()
        if value in ("!", "not") and kind in ("op", "name"):
            self.take()
            return ("not", self.binary(50))
        if value == "-" and kind == "op":
            self.take()
            return ("negate", self.binary(90))
        return self.postfix(self.primary())

    def primary(self):
        kind, value = self.take()
        if kind == "number":
            return ("value", float(value) if "." in value else int(value))
        if kind == "string":
            return ("value", _unquote(value))
        if kind == "pointer":
            return ("pointer", value[1:])
        if kind == "name":
            if value in ("true", "false", "nil"):
                return ("value", {"true": True, "false": False, "nil": None}[value])
            if self.peek() == ("op", "("):
                return self.call(value)
            return ("name", value)
        if value == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if value == "[":
            items = []
            while self.peek() != ("op", "]"):
                items.append(self.expression())
                if self.peek() == ("op", ","):
                    self.take()
            self.take("]")
            return ("list", items)
        if value == ".":  # `.x` is `#.x` in a closure
            return ("member", ("pointer", ""), ("value", self.take()[1]), False)
        raise Unknown(f"unexpected {value!r}")

    def call(self, function: str):
        self.take("(")
        args = []
        while self.peek() != ("op", ")"):
            args.append(self.expression())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")
        return ("call", function, args)

    def postfix(self, node):
        while True:
            kind, value = self.peek()
            if value in (".", "?."):
                self.take()
                optional = value == "?."
                if optional and self.peek() == ("op", "["):
                    node = self.index(node, optional=True)
                    continue
                node = ("member", node, ("value", self.take()[1]), optional)
            elif value == "[":
                node = self.index(node, optional=False)
            else:
                return node

    def index(self, node, optional: bool):
        self.take("[")
        start = None if self.peek() == ("op", ":") else self.expression()
        if self.peek() == ("op", ":"):
            self.take()
            end = self.expression()
            self.take("]")
            return ("slice", node, start, end)
        self.take("]")
        return ("member", node, start, optional)


def evaluate(expression: str, env: dict) -> Any:
    parser = _Parser(expression)
    tree = parser.expression()
    if parser.peek()[0] != "end":
        raise Unknown(f"left over: {parser.peek()[1]!r} in {expression!r}")
    return _value(tree, env, [])


def _value(node, env: dict, pointers: list):
    kind = node[0]
    if kind == "value":
        return node[1]
    if kind == "list":
        return [_value(item, env, pointers) for item in node[1]]
    if kind == "name":
        if node[1] not in env:
            raise Unknown(f"unknown name {node[1]}")
        return env[node[1]]
    if kind == "pointer":
        item, index = pointers[-1]
        return index if node[1] == "index" else item
    if kind == "member":
        base = _value(node[1], env, pointers)
        if base is None and node[3]:
            return None
        return _fetch(base, _value(node[2], env, pointers))
    if kind == "slice":
        base = _value(node[1], env, pointers)
        return base[_value(node[2], env, pointers):_value(node[3], env, pointers)]
    if kind == "if":
        condition = _value(node[1], env, pointers)
        if not isinstance(condition, bool):
            raise Unknown(f"a non-boolean condition {condition!r}")
        return _value(node[2] if condition else node[3], env, pointers)
    if kind == "not":
        return not _boolean(_value(node[1], env, pointers))
    if kind == "negate":
        return -_value(node[1], env, pointers)
    if kind == "binary":
        return _binary(node[1], node[2], node[3], env, pointers)
    return _call(node[1], node[2], env, pointers)


def _fetch(base, key):
    if isinstance(base, dict):
        return base.get(key)
    if isinstance(base, (list, str)) and isinstance(key, int):
        return base[key]
    raise Unknown(f"cannot fetch {key!r} from {base!r}")


def _equal(left, right) -> bool:
    """runtime.Equal: numbers by value, a boolean only to a boolean."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return left == right


def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise Unknown(f"{value!r} is not a boolean")
    return value


def _binary(operator: str, left_node, right_node, env: dict, pointers: list):
    left = _value(left_node, env, pointers)
    if operator in ("&&", "and"):
        return _boolean(left) and _boolean(_value(right_node, env, pointers))
    if operator in ("||", "or"):
        return _boolean(left) or _boolean(_value(right_node, env, pointers))
    if operator == "??":
        return left if left is not None else _value(right_node, env, pointers)
    right = _value(right_node, env, pointers)
    if operator in ("==", "!="):
        return _equal(left, right) == (operator == "==")
    if operator in ("in", "not in"):
        if not isinstance(right, (list, dict)):
            raise Unknown(f"cannot use in on {right!r}")
        return (left in right) == (operator == "in")
    if operator == "contains":
        return right in left
    if operator == "+" and isinstance(left, str) != isinstance(right, str):
        raise Unknown(f"cannot add {left!r} and {right!r}")
    if operator in ("<", ">", "<=", ">="):
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[operator]
    return {"+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
            "/": lambda: left / right, "%": lambda: left % right}[operator]()


def _call(function: str, args: list, env: dict, pointers: list):
    if function in _CLOSURES:
        items = _value(args[0], env, pointers)
        if not isinstance(items, list):
            raise Unknown(f"{function} of {items!r}")
        results = [_value(args[1], env, pointers + [(item, i)]) for i, item in enumerate(items)]
        if function == "map":
            return results
        if function == "filter":
            return [item for item, kept in zip(items, results) if _boolean(kept)]
        return all(results) if function == "all" else any(results)
    values = [_value(arg, env, pointers) for arg in args]
    return _FUNCTIONS[function](*values) if function in _FUNCTIONS else _unknown(function)


def _unknown(function: str):
    raise Unknown(f"unknown function {function}")


def go_json(value) -> str:
    """Go's json.Marshal: no spaces, map keys sorted, <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _int(value) -> int:
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?\d+", value):
            raise Unknown(f"int({value!r})")
        return int(value)
    return int(value)


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Unknown(f"float({value!r})") from None


def _type(value) -> str:
    for kind, name in ((bool, "bool"), (str, "string"), (int, "int"), (float, "float"), (list, "array"), (dict, "map")):
        if isinstance(value, kind):
            return name
    return "nil"


def _from_json(text):
    if not isinstance(text, str):
        raise Unknown(f"fromJSON({text!r})")
    try:
        return json.loads(text)
    except ValueError:
        raise Unknown(f"fromJSON({text!r}): not JSON") from None


_FUNCTIONS = {
    "fromJSON": _from_json, "toJson": go_json, "toJSON": go_json,
    "toBase64": lambda text: base64.b64encode(text.encode("utf-8")).decode("ascii"),
    "fromBase64": lambda text: base64.b64decode(text).decode("utf-8"),
    "replace": lambda text, old, new: text.replace(old, new), "trim": lambda text, chars=" ": text.strip(chars),
    "string": lambda value: value if isinstance(value, str) else go_json(value), "int": _int, "asInt": _int,
    "float": _float, "asFloat": _float, "len": len, "join": lambda items, sep="": sep.join(items), "type": _type,
    "lower": lambda text: text.lower(),
}

_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)


def as_text(value) -> str:
    """An expression's result as Argo writes it into the template: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else go_json(value)


def substitute(text: str, env: dict, simple: dict[str, str], lenient: bool = False) -> str:
    """`text` with each tag replaced: `{{=…}}` by its result over `env`, `{{a.b}}` by `simple["a.b"]`. A tag that cannot
    be resolved raises Unknown, or, `lenient`, stays as it is (what the model cannot know yet)."""
    def one(match: re.Match) -> str:
        body = match.group(1)
        try:
            if body.startswith("="):
                return as_text(evaluate(body[1:], env))
            if body.strip() not in simple:
                raise Unknown(f"unknown tag {{{{{body}}}}}")
            return simple[body.strip()]
        except (Unknown, KeyError, TypeError, ValueError, IndexError, AttributeError):
            if lenient:
                return match.group(0)
            raise
    return _TAG.sub(one, text)


def flat(env: dict, prefix: str = "") -> dict[str, str]:
    """A nested env as Argo's flat tags: `workflow.parameters.P`, `tasks.s.outputs.parameters.o`."""
    found = {}
    for key, value in env.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(flat(value, name + "."))
        elif isinstance(value, str):
            found[name] = value
    return found
