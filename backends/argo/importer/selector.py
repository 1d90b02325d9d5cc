"""A resource template's `successCondition` / `failureCondition` as a jq program with the same verdict.

Argo's executor (workflow/executor/resource.go, WaitResource) parses each condition with Kubernetes'
label-selector parser (k8s.io/apimachinery/pkg/labels, Parse) and evaluates every requirement over the
resource's JSON, a requirement's key read as a gjson path (`status.phase`: keys split on dots, a number
indexing a list) whose value is gjson's text of it (a string as itself, a number as written, true/false, null
as ""; a missing key is "not there"). The resource has failed once ANY failure requirement matches, succeeded
once ALL success requirements match (none: at once), and is polled again otherwise.

`parse` is that parser (its lexer, grammar and key/value validation), refusing what Argo refuses -- the node
would error -- and `verdict_program` the jq program that prints `failed`, `succeeded` or `waiting` for one
reading of the resource, each operator with Requirement.Matches' meaning.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .tags import Unsupported

SPECIAL = "=!(),><"
TOKENS = {")": "close", ",": "comma", "!": "not", "==": "==", "=": "=", ">": ">", "<": "<", "!=": "!=",
          "(": "open"}
NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Requirement:
    """One requirement: `key op values` (`exists` / `!` take none)."""

    key: str
    op: str  # =, ==, !=, in, notin, >, <, exists, !
    values: tuple[str, ...] = ()

    def text(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return "!" + self.key
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(self.values)})"
        return f"{self.key}{self.op}{self.values[0]}"


def _lex(text: str) -> list[tuple[str, str]]:
    """(token, literal) pairs, as the selector's Lexer reads them: the longest operator among special
    characters, an identifier up to a space or a special character (`in`, `notin` are keywords)."""
    found, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in SPECIAL:
            j, best = i, None
            while j < len(text) and text[j] in SPECIAL and text[i:j + 1] in TOKENS:
                best, j = text[i:j + 1], j + 1
            if best is None:
                raise Unsupported(f"the condition {text!r} does not parse: Argo's executor errors the node")
            found.append((TOKENS[best], best))
            i += len(best)
        else:
            j = i
            while j < len(text) and text[j] not in SPECIAL and text[j] not in " \t\r\n":
                j += 1
            word = text[i:j]
            found.append(("in" if word == "in" else "notin" if word == "notin" else "id", word))
            i = j
    found.append(("end", ""))
    return found


def parse(text: str) -> list[Requirement]:
    """The requirements of a condition, in its order; Unsupported where Argo's parse fails."""
    tokens, pos = _lex(text), 0
    bad = Unsupported(f"the condition {text!r} does not parse as a label selector: Argo's executor errors the node")

    def peek(values: bool = False) -> str:
        kind = tokens[pos][0]
        return "id" if values and kind in ("in", "notin") else kind

    def take(values: bool = False) -> tuple[str, str]:
        nonlocal pos
        kind, literal = tokens[pos]
        pos += 1
        return ("id" if values and kind in ("in", "notin") else kind), literal

    found: list[Requirement] = []
    if peek() == "end":
        return found
    while True:
        if peek() not in ("id", "not"):
            raise bad
        if peek() == "not":
            take()
            kind, key = take()
            if kind != "id":
                raise bad
            found.append(Requirement(key, "!"))
        else:
            _, key = take()
            if peek() in ("end", "comma"):
                found.append(Requirement(key, "exists"))
            else:
                kind, op = take()
                if kind in ("in", "notin"):
                    found.append(Requirement(key, kind, _values(take, peek, bad)))
                elif kind in ("=", "==", "!=", ">", "<"):
                    if peek(True) in ("end", "comma"):
                        found.append(Requirement(key, kind, ("",)))
                    else:
                        vkind, value = take(True)
                        if vkind != "id":
                            raise bad
                        found.append(Requirement(key, kind, (value,)))
                else:
                    raise bad
        kind, _ = take()
        if kind == "end":
            break
        if kind != "comma":
            raise bad
    for requirement in found:
        _validate(requirement, text)
    return found


def _values(take, peek, bad) -> tuple[str, ...]:
    """`( a, b )` as parseValues reads it: `()` is the empty value, and so is an empty place between commas."""
    if take(True)[0] != "open":
        raise bad
    if peek(True) == "close":
        take(True)
        return ("",)
    found: list[str] = []
    while True:
        kind, literal = take(True)
        if kind == "id":
            found.append(literal)
            if peek(True) == "comma":
                continue
            if peek(True) == "close":
                take(True)
                break
            raise bad
        if kind == "comma":
            if not found:
                found.append("")
            if peek(True) == "close":
                found.append("")
                take(True)
                break
            if peek(True) == "comma":
                take(True)
                found.append("")
            continue
        raise bad
    return tuple(sorted(set(found)))


def _validate(requirement: Requirement, text: str) -> None:
    """NewRequirement's checks: a qualified-name key, label values, an integer for > and <."""
    key = requirement.key
    parts = key.split("/")
    name = parts[-1]
    ok = len(parts) <= 2 and 0 < len(name) <= 63 and NAME.fullmatch(name)
    if len(parts) == 2:
        ok = ok and 0 < len(parts[0]) <= 253 and SUBDOMAIN.fullmatch(parts[0])
    if not ok:
        raise Unsupported(f"the condition {text!r}: {key!r} is not a label key, which Argo's executor refuses "
                          "(the node errors)")
    for value in requirement.values:
        if len(value) > 63 or (value and not NAME.fullmatch(value)):
            raise Unsupported(f"the condition {text!r}: {value!r} is not a label value, which Argo's executor "
                              "refuses (the node errors)")
    if requirement.op in (">", "<") and not INTEGER.fullmatch(requirement.values[0]):
        raise Unsupported(f"the condition {text!r}: > and < take an integer; Argo's executor errors the node")


# jq: the value at a gjson path of plain keys (`present`: whether it is there), as gjson's String() gives it
JQ_DEFS = (
    'def present($p): reduce $p[] as $k ({v: ., ok: true}; '
    'if .ok and (.v | type) == "object" and (.v | has($k)) then {v: .v[$k], ok: true} '
    'elif .ok and (.v | type) == "array" and ($k | test("^[0-9]+$")) and ($k | tonumber) < (.v | length) '
    'then {v: .v[$k | tonumber], ok: true} else {v: null, ok: false} end); '
    'def text: if type == "string" then . elif type == "null" then "" elif type == "number" or type == "boolean" '
    'then tostring else tojson end; '
    'def int: test("^[+-]?[0-9]+$");'
)


def _matches(requirement: Requirement) -> str:
    """A jq expression, true where Requirement.Matches is, over the resource as `.`."""
    path = json.dumps(requirement.key.split("."))
    values = json.dumps(list(requirement.values))
    read = f"(present({path}))"
    if requirement.op in ("=", "==", "in"):
        return f"({read} | .ok and ((.v | text) as $t | {values} | any(.[]; . == $t)))"
    if requirement.op in ("!=", "notin"):
        return f"({read} | (.ok | not) or ((.v | text) as $t | {values} | any(.[]; . == $t) | not))"
    if requirement.op == "exists":
        return f"({read} | .ok)"
    if requirement.op == "!":
        return f"({read} | .ok | not)"
    number = int(requirement.values[0])
    return (f"({read} | .ok and ((.v | text) as $t | ($t | int) and "
            f"(($t | ltrimstr(\"+\") | tonumber) {requirement.op} {number})))")


def verdict_program(success: list[Requirement], failure: list[Requirement]) -> str:
    """The jq program printing `failed` (a failure requirement matches), `succeeded` (every success
    requirement does) or `waiting`, in matchConditions' order."""
    failed = " or ".join(_matches(r) for r in failure) or "false"
    succeeded = " and ".join(_matches(r) for r in success) or "true"
    return f'{JQ_DEFS} if {failed} then "failed" elif {succeeded} then "succeeded" else "waiting" end'
