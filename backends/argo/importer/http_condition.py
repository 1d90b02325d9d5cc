"""An http template's `successCondition` as sh text with the same verdict.

Argo's agent (workflow/executor/agent.go, executeHTTPTemplate) evaluates the condition with expr-lang
(util/expr/argoexpr.EvalBool) over `response: {statusCode: int, body: string, headers: http.Header}` (and the
`request`, not read here). The node succeeds when it is true and fails when it is false -- and fails too when
the evaluation errors (processTask turns any error into Failed), as reading a header the response lacks does:
`response.headers["X"]` is then nil and `[0]` of it is out of range. expr-lang's precedence (parser/operator):
`||`/`or` 10, `&&`/`and` 15, the comparisons and `in`/`contains` 20, `!`/`not` 50; `&&` and `||` stop at the
first operand that decides, left to right, so a header read past that point never errors.

The forms read here, each exact: `response.statusCode` compared (== != < <= > >=) with an integer or `in` a
list of them; `response.body` `contains`, `==` or `!=` a string; `response.headers["Name"][0]` (or
`response.headers.Name[0]`) `==`, `!=` or `contains` a string; joined by `&&`, `||`, `!( … )` and parentheses.
The sh text reads $code (the status), the file "$dir/response" (the body) and the function `header NAME`
(the script's; it ends the script, failing the step, where the header is missing, as expr-lang's error fails the
node). Go's http.Header holds each name as textproto.CanonicalMIMEHeaderKey wrote it (`Content-Type`) and looks
a key up as written: a key that is not itself canonical is never found, and a canonical one matches a received
name that is the same in any case.
"""

from __future__ import annotations

import re

from . import command as cmd
from ..expr import tokens
from .tags import Unsupported

_TOKEN = re.compile(r'''\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)'''
                    r'''|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')'''
                    r'''|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,]))''')
_WORDS = {"and": "&&", "or": "||", "not": "!"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
_TOKEN_CHARS = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP token: what a header name is made of
# Go's transport drops these from a gzip response it decoded itself (net/http/transport.go: DisableCompression)
DROPPED = ("Content-Encoding", "Content-Length")


def canonical(name: str) -> str:
    """textproto.CanonicalMIMEHeaderKey: the first letter and each one after '-' upper case, the rest lower."""
    out, upper = [], True
    for c in name:
        out.append(c.upper() if upper and "a" <= c <= "z" else c.lower() if not upper and "A" <= c <= "Z" else c)
        upper = c == "-"
    return "".join(out)


def _unquote(token: str) -> str:
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise Unsupported(f"successCondition: the string {token} holds the escape \\{nxt}, which the importer "
                                  "does not read")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _tokens(text: str) -> list[tuple[str, str]]:
    """expr-lang's tokens (backends/argo/expr.py reads them), its word operators as operators."""
    def unread(rest: str) -> Unsupported:
        return Unsupported(f"successCondition {text!r}: expr-lang the importer does not read (at {rest[:12]!r})")

    found = []
    for kind, value in tokens(text, _TOKEN, unread):
        if kind == "name" and value in _WORDS:
            kind, value = "op", _WORDS[value]
        elif kind == "name" and value in ("contains", "in", "startsWith", "endsWith", "matches"):
            kind = "op"
        found.append((kind, value))
    return found


class _Parser:
    """expr-lang's precedence climbing, for the subset above; what is beyond it raises Unsupported."""

    def __init__(self, text: str):
        self.text, self.items, self.at = text, _tokens(text), 0

    def refuse(self, why: str):
        raise Unsupported(f"successCondition {self.text!r}: {why}")

    def peek(self) -> tuple[str, str]:
        return self.items[self.at] if self.at < len(self.items) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end" or (value is not None and token[1] != value):
            self.refuse(f"expected {value or 'more'} at {token[1] or 'its end'!r}")
        self.at += 1
        return token

    def whole(self):
        tree = self.logic(10)
        if self.peek()[0] != "end":
            self.refuse(f"unexpected {self.peek()[1]!r}")
        return tree

    def logic(self, least: int):
        """`||` (10) over `&&` (15) over a comparison or a `!( … )`/`( … )`."""
        left = self.logic(15) if least == 10 else self.operand()
        op = "||" if least == 10 else "&&"
        while self.peek() == ("op", op):
            self.take()
            right = self.logic(15) if least == 10 else self.operand()
            left = (op, left, right)
        return left

    def operand(self):
        token = self.peek()
        if token == ("op", "!"):
            self.take()
            if self.peek() != ("op", "("):
                self.refuse("`!` binds tighter than a comparison in expr-lang: only `!( … )` is read")
            return ("!", self.operand())
        if token == ("op", "("):
            self.take()
            inner = self.logic(10)
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self):
        subject = self.subject()
        kind, op = self.take()
        if kind != "op":
            self.refuse(f"expected an operator after {subject[0]}, not {op!r}")
        if subject[0] == "status":
            if op == "in":
                self.take("[")
                values = [self.integer()]
                while self.peek() == ("op", ","):
                    self.take()
                    values.append(self.integer())
                self.take("]")
                return ("status-in", tuple(values))
            if op not in ("==", "!=", "<", "<=", ">", ">="):
                self.refuse(f"response.statusCode {op} …: only ==, !=, <, <=, >, >= and `in` a list of integers "
                            "are read")
            return ("status", op, self.integer())
        allowed = ("contains", "==", "!=")
        if op not in allowed:
            self.refuse(f"{subject[0]} {op} …: only contains, == and != a string are read")
        kind, literal = self.take()
        if kind != "string":
            self.refuse(f"{subject[0]} {op} {literal}: only a string literal is read (expr-lang compares a string "
                        "with another type as unequal, or errors)")
        value = _unquote(literal)
        if subject[0] == "body" and op == "contains" and ("\n" in value or "\x00" in value):
            self.refuse("a `contains` of a text holding a newline or NUL: the script reads the body by lines")
        return (subject[0], op, value, *subject[1:])

    def integer(self) -> int:
        kind, value = self.take()
        if kind == "op" and value == "-" or kind != "number" or not value.isdigit():
            self.refuse(f"{value!r}: a status code is compared with an integer literal here")
        return int(value)

    def subject(self) -> tuple:
        """('status',) | ('body',) | ('header', NAME)."""
        kind, word = self.take()
        if kind != "name" or word != "response":
            self.refuse(f"{word!r}: only response.statusCode, response.body and response.headers[NAME][0] are read "
                        "(not request.*, functions or variables)")
        self.take(".")
        kind, field = self.take()
        if field == "statusCode":
            return ("status",)
        if field == "body":
            return ("body",)
        if field != "headers":
            self.refuse(f"response.{field}: Argo's agent gives statusCode, body and headers")
        if self.peek() == ("op", "["):
            self.take()
            kind, key = self.take()
            if kind != "string":
                self.refuse("a header named by other than a string literal")
            name = _unquote(key)
            self.take("]")
        else:
            self.take(".")
            kind, name = self.take()
            if kind != "name":
                self.refuse("response.headers. followed by other than a name")
        self.take("[")
        if self.take() != ("number", "0"):
            self.refuse("only a header's first value ([0]) is read")
        self.take("]")
        if not _TOKEN_CHARS.match(name):
            self.refuse(f"the header name {name!r} is not an HTTP token")
        return ("header", name)


def parse(text: str):
    """The condition's tree (Unsupported beyond the forms above)."""
    return _Parser(str(text)).whole()


def headers(tree) -> list[str]:
    """The header names the condition reads."""
    if tree[0] in ("&&", "||"):
        return headers(tree[1]) + headers(tree[2])
    if tree[0] == "!":
        return headers(tree[1])
    return [tree[3]] if tree[0] == "header" else []


TEST = {"==": "-eq", "!=": "-ne", "<": "-lt", "<=": "-le", ">": "-gt", ">=": "-ge"}


def to_sh(tree) -> str:
    """sh text whose exit status is the condition's verdict, evaluated left to right as expr-lang does."""
    kind = tree[0]
    if kind in ("&&", "||"):
        return f"{{ {to_sh(tree[1])}; }} {kind} {{ {to_sh(tree[2])}; }}"
    if kind == "!":
        return f"! {{ {to_sh(tree[1])}; }}"
    if kind == "status":
        return f"[ \"$code\" {TEST[tree[1]]} {tree[2]} ]"
    if kind == "status-in":
        return " || ".join(f"[ \"$code\" -eq {v} ]" for v in tree[1])
    _, op, value, *rest = tree
    if kind == "body":
        if op == "contains":
            return ":" if value == "" else f"LC_ALL=C grep -qF -e {cmd.quoted(value)} \"$dir/response\""
        same = f"printf %s {cmd.quoted(value)} | cmp -s - \"$dir/response\""
        return same if op == "==" else f"! {{ {same}; }}"
    name = rest[0]
    if name != canonical(name):  # Go's http.Header has canonical keys only: never found, the evaluation errors
        read = f"missing {cmd.quoted(name)}"
    else:
        read = f"value=$(header {cmd.quoted(name)}) || missing {cmd.quoted(name)}"
    if op == "contains":
        test = f"case \"$value\" in *{_glob(value)}*) true ;; *) false ;; esac"
    else:
        test = f"[ \"$value\" {'=' if op == '==' else '!='} {cmd.quoted(value)} ]"
    return f"{read}; {test}"


def _glob(text: str) -> str:
    """`text` as a case pattern matching itself only: every character quoted."""
    return cmd.quoted(text) if text else "''"
