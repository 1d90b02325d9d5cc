"""Argo's `{{= … }}` expressions (expr-lang, github.com/expr-lang/expr), for the player: the subset a condition
or an argument is written in -- literals, `tasks["a"].status`, members and indexes, `? :`, `??`, `!`, `&&`,
`||`, comparisons, `in`, arithmetic, and Argo's and expr's common functions. expr-lang's rules kept here: a
missing key reads nil (vm/runtime Fetch), `==` compares by value and type (an int and a float by value),
ordering needs two numbers or two strings, `&&`/`||` need booleans. What this does not read raises
ExprError, which the player treats as Argo treats an expression that fails: the node errors.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

_TOKEN = re.compile(r'''\s*(?:(?P<num>\d+\.\d+|\d+)|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')'''
                    r'''|(?P<pointer>\#[a-z]*)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\?\.|\?\?|==|!=|<=|>=|&&|\|\||[?:<>!+\-*/%.,()\[\]]))''')
_BINARY = {"??": 500, "*": 60, "/": 60, "%": 60, "+": 30, "-": 30, "==": 20, "!=": 20, "<": 20, ">": 20,
           "<=": 20, ">=": 20, "in": 20, "&&": 15, "and": 15, "||": 10, "or": 10}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


class ExprError(ValueError):
    """An expression this reader cannot evaluate, or one expr-lang would fail on."""


def evaluate(text: str, env: dict) -> Any:
    """The value of expr-lang `text` over `env` (tasks, workflow, inputs, item)."""
    parser = _Parser(tokens(text))
    node = parser.expression(0)
    if parser.at < len(parser.tokens):
        raise ExprError(f"unexpected {parser.tokens[parser.at][1]!r} in {text!r}")
    return _value(node, env)


def as_text(value: Any) -> str:
    """How Argo writes an expression's result into text: a string as itself, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def tokens(text: str, pattern: re.Pattern = _TOKEN, unread=None) -> list[tuple[str, str]]:
    """(kind, text) of each token of `text`, its kind the name of the pattern's group that matched; where none
    matches, `unread(rest)` (an exception to raise), else ExprError."""
    found, at = [], 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = pattern.match(text, at)
        if not match or match.end() == at:
            raise (unread or (lambda rest: ExprError(f"cannot read {rest[:20]!r}")))(text[at:])
        kind = match.lastgroup
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def _unquote(token: str) -> str:
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


class _Parser:
    def __init__(self, tokens):
        self.tokens, self.at = tokens, 0

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None)

    def take(self, value=None):
        token = self.peek()
        if token[0] is None or value is not None and token[1] != value:
            raise ExprError(f"expected {value!r}, found {token[1]!r}")
        self.at += 1
        return token

    def expression(self, floor: int):
        left = self.unary()
        while True:
            kind, value = self.peek()
            if value == "?" and floor == 0:
                self.take("?")
                yes = self.expression(0)
                self.take(":")
                return ("if", left, yes, self.expression(0))
            if value not in _BINARY or _BINARY[value] <= floor or kind == "str":
                return left
            self.take()
            left = ("bin", value, left, self.expression(_BINARY[value]))

    def unary(self):
        kind, value = self.peek()
        if value in ("!", "not"):
            self.take()
            return ("not", self.expression(50))
        if value == "-":
            self.take()
            return ("neg", self.expression(90))
        return self.postfix(self.atom())

    def atom(self):
        kind, value = self.take()
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "str":
            return ("lit", _unquote(value))
        if value == "(":
            inner = self.expression(0)
            self.take(")")
            return inner
        if value == "[":
            items = []
            while self.peek()[1] != "]":
                items.append(self.expression(0))
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("]")
            return ("list", items)
        if kind == "pointer":  # inside a closure: the element (#) or its index (#index)
            return ("pointer", value[1:] or "element")
        if kind == "name":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value == "nil":
                return ("lit", None)
            if self.peek()[1] == "(":
                self.take("(")
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expression(0))
                    if self.peek()[1] == ",":
                        self.take(",")
                self.take(")")
                return ("call", value, args)
            return ("name", value)
        raise ExprError(f"unexpected {value!r}")

    def postfix(self, node):
        while True:
            value = self.peek()[1]
            if value in (".", "?."):
                self.take()
                node = ("get", node, ("lit", self.take()[1]), value == "?.")
            elif value == "[":
                self.take("[")
                key = self.expression(0)
                self.take("]")
                node = ("get", node, key, False)
            else:
                return node


def _value(node, env: dict) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "list":
        return [_value(n, env) for n in node[1]]
    if kind == "name":
        return env.get(node[1])
    if kind == "get":
        base = _value(node[1], env)
        key = _value(node[2], env)
        if base is None:
            if node[3]:
                return None
            raise ExprError(f"cannot fetch {key!r} from nil")
        if isinstance(base, dict):
            return base.get(key)
        if isinstance(base, (list, str)) and isinstance(key, int) and not isinstance(key, bool):
            return base[key] if -len(base) <= key < len(base) else _out_of_range(key)
        raise ExprError(f"cannot fetch {key!r} from {type(base).__name__}")
    if kind == "not":
        return not _boolean(_value(node[1], env))
    if kind == "neg":
        value = _value(node[1], env)
        if not _number(value):
            raise ExprError("'-' needs a number")
        return -value
    if kind == "if":
        return _value(node[2] if _boolean(_value(node[1], env)) else node[3], env)
    if kind == "pointer":
        if "#" not in env:
            raise ExprError("# outside a closure")
        return env["#"][node[1]]
    if kind == "call" and node[1] in CLOSURES and len(node[2]) == 2:
        return _closure(node[1], _value(node[2][0], env), node[2][1], env)
    if kind == "call":
        return _call(node[1], [_value(a, env) for a in node[2]])
    return _binary(node[1], node[2], node[3], env)


CLOSURES = ("map", "filter", "all", "any")


def _closure(name: str, items, body, env: dict):
    """map/filter/all/any over a list, `#` its element and `#index` its index in the body."""
    if not isinstance(items, list):
        raise ExprError(f"{name} needs a list")
    values = [_value(body, {**env, "#": {"element": item, "index": i}}) for i, item in enumerate(items)]
    if name == "map":
        return values
    if name == "filter":
        return [item for item, keep in zip(items, values) if _boolean(keep)]
    return all(map(_boolean, values)) if name == "all" else any(map(_boolean, values))


def _out_of_range(key):
    raise ExprError(f"index {key} out of range")


def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"{value!r} is not a boolean")
    return value


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _binary(op: str, left_node, right_node, env: dict):
    if op in ("&&", "and"):
        return _boolean(_value(left_node, env)) and _boolean(_value(right_node, env))
    if op in ("||", "or"):
        return _boolean(_value(left_node, env)) or _boolean(_value(right_node, env))
    left = _value(left_node, env)
    if op == "??":
        return left if left is not None else _value(right_node, env)
    right = _value(right_node, env)
    if op in ("==", "!="):
        same = left == right and (type(left) is type(right) or _number(left) and _number(right))
        return same if op == "==" else not same
    if op == "in":
        if isinstance(right, dict):
            return left in right
        if isinstance(right, list):
            return any(left == r and (type(left) is type(r) or _number(left) and _number(r)) for r in right)
        raise ExprError("'in' needs a list or a map")
    if op in ("<", ">", "<=", ">="):
        if not (_number(left) and _number(right) or isinstance(left, str) and isinstance(right, str)):
            raise ExprError(f"cannot order {left!r} and {right!r}")
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if not (_number(left) and _number(right)):
        raise ExprError(f"{op!r} needs numbers")
    if op in ("/", "%") and right == 0:
        raise ExprError("division by zero")
    return {"+": left + right, "-": left - right, "*": left * right, "/": left / right,
            "%": left % right if isinstance(left, int) and isinstance(right, int) else _mod()}[op]


def _mod():
    raise ExprError("'%' needs integers")


def _call(name: str, args: list):
    try:
        if name in ("int", "asInt"):
            return int(args[0].strip()) if isinstance(args[0], str) else int(args[0])
        if name in ("float", "asFloat"):
            return float(args[0])
        if name == "string":
            return args[0] if isinstance(args[0], str) else as_text(args[0])
        if name == "trim":
            return args[0].strip(args[1]) if len(args) > 1 else args[0].strip()
        if name == "len":
            return len(args[0])
        if name == "lower":
            return args[0].lower()
        if name == "upper":
            return args[0].upper()
        if name == "replace":
            return args[0].replace(args[1], args[2])
        if name == "toBase64":
            return base64.b64encode(args[0].encode()).decode()
        if name == "fromBase64":
            return base64.b64decode(args[0]).decode()
        if name in ("toJson", "toJSON"):
            return as_text(args[0])
        if name in ("fromJSON", "fromJson"):
            return json.loads(args[0])
    except (TypeError, ValueError, IndexError, AttributeError) as err:
        raise ExprError(f"{name}: {err}") from None
    raise ExprError(f"the function {name!r} is not one this reader knows")
