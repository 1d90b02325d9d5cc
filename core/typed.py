"""Typed values as text and back: what every backend's step runner agrees on.

Standard library only and free of relative imports, because this file's source is also
shipped verbatim inside rendered artifacts (the Argo bootstrap), which need nothing of orch.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Mapping, Optional

# Bounds that orch.core.limits takes from here (this file may import nothing of orch).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_NESTING = 64
MAX_FOREACH_ITEMS = 10_000  # a fan-out's items, whether its list is written in the spec or comes at run time

# Strict ASCII grammars: `\d` and float() would also read '٣' (Arabic-Indic three) or '1_000'.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")  # JSON's number
SPACE = " \t\r\n"  # what JSON allows around a value; nothing else is stripped
TRUE_WORDS, FALSE_WORDS = ("true", "True", "TRUE"), ("false", "False", "FALSE")  # a boolean's text


class OutputError(ValueError):
    """A step's outputs do not match what it declares."""


def to_text(value: Any) -> str:
    """How a value reads inside text, an env variable or argv."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


def parse_text(text: str, kind: str) -> Any:
    """A value of `kind` from text (a command-line param, a command's output); ValueError if it is not one.

    integer is [+-]?[0-9]+ within signed 64 bits, number is JSON's number grammar and finite,
    boolean is true or false, json is JSON without NaN or Infinity; ASCII spaces around are allowed.
    """
    if kind in ("string", "artifact"):  # an artifact's text is its path, or its URI once stored
        return text
    stripped = text.strip(SPACE)
    if kind == "integer":
        if not _INTEGER.fullmatch(stripped):
            raise ValueError(f"{_quote(text)} is not an integer")
        if len(stripped.lstrip("+-").lstrip("0")) > 19 or not INT_MIN <= int(stripped) <= INT_MAX:
            raise ValueError(f"{_quote(text)} is outside the signed 64-bit integer range")
        return int(stripped)
    if kind == "number":
        if not _NUMBER.fullmatch(stripped):
            raise ValueError(f"{_quote(text)} is not a number")
        number = float(stripped)
        if not math.isfinite(number):
            raise ValueError(f"{_quote(text)} is not a finite number")
        return number
    if kind == "boolean":
        if stripped in TRUE_WORDS or stripped in FALSE_WORDS:
            return stripped in TRUE_WORDS
        raise ValueError(f"{_quote(text)} is not true or false")
    try:
        value = strict_json(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{_quote(text)} is not JSON: {err.msg}") from None
    except (ValueError, RecursionError) as err:  # NaN, Infinity, a 5,000-digit integer, deep nesting
        raise ValueError(f"{_quote(text)} is not JSON orch accepts: {_reason(err)}") from None
    problem = json_problem(value)
    if problem:
        raise ValueError(f"{_quote(text)} is not JSON orch accepts: {problem}")
    return value


def strict_json(text: str) -> Any:
    """`json.loads`, refusing (ValueError) what a spec refuses too: a key twice, NaN and Infinity."""
    return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)


def _unique_keys(pairs: list) -> dict:
    """A JSON object whose keys are unique, as a spec's mappings must be: `{"a": 1, "a": 2}` is refused."""
    value = dict(pairs)
    if len(value) != len(pairs):
        duplicate = next(key for i, (key, _) in enumerate(pairs) if key in dict(pairs[:i]))
        raise ValueError(f"duplicate key {duplicate!r}")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def _reason(err: BaseException) -> str:
    return "nested too deeply" if isinstance(err, RecursionError) else str(err).split(":")[0]


def json_problem(value: Any) -> Optional[str]:
    """Why a JSON-like value is not one orch carries (non-finite, beyond 64 bits, too deep, not text), or None."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return f"a string {problem}"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                return "an integer is outside the signed 64-bit range"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{item!r} is not a finite number"
        elif isinstance(item, (dict, list, tuple)):
            if depth >= MAX_NESTING:
                return f"it is nested more than {MAX_NESTING} levels deep"
            if isinstance(item, dict):
                if not all(isinstance(key, str) for key in item):
                    return "a mapping has a key that is not text"
                stack.extend((key, depth + 1) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
        else:
            return f"{type(item).__name__} is not a JSON value"
    return None


def text_problem(text: str) -> Optional[str]:
    """Why `text` is not text orch carries, or None: a lone surrogate (what no decoder gives for
    bytes) is not text, and a NUL can reach no argv, environment or Kubernetes object."""
    if "\x00" in text:
        return "holds a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            return f"holds a lone surrogate {text[err.start]!r} at character {err.start}, which is not text"
    return None


def _quote(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:38] + "…" + shown[-38:]


def foreach_problem(items: Any) -> Optional[str]:
    """Why a fan-out cannot run over `items` (the step fails with it), or None."""
    if not isinstance(items, list):
        return f"foreach needs a list, got {type(items).__name__}"
    if len(items) > MAX_FOREACH_ITEMS:
        return f"foreach got {len(items)} items; a fan-out runs at most {MAX_FOREACH_ITEMS}"
    return None


def value_fits(value: Any, kind: str) -> bool:
    """Whether `value` is a valid value of the declared type (json: any value; see json_problem).

    Numbers are finite, integers signed 64-bit, strings valid text.
    """
    if kind == "json":
        return True
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) and INT_MIN <= value <= INT_MAX
    if kind == "number":
        if isinstance(value, int):
            return value.bit_length() <= 1023  # float() of it is finite
        return isinstance(value, float) and math.isfinite(value)
    return isinstance(value, str) and text_problem(value) is None


def outputs_from_return(returned: Any, declared: Mapping[str, str]) -> dict[str, Any]:
    """A python step's outputs from what its function returned; OutputError if they do not match."""
    if not declared:
        return {}
    if len(declared) == 1:
        (name,) = declared
        values = {name: returned}
    elif isinstance(returned, dict):
        values = {name: returned[name] for name in declared if name in returned}
    else:
        raise OutputError(f"declares outputs {', '.join(declared)} but returned {type(returned).__name__}, not a dict of them")
    for name, value in values.items():  # an artifact may be returned as a path object (pathlib.Path)
        if declared[name] == "artifact" and hasattr(value, "__fspath__"):
            values[name] = os.fspath(value)
    return check_outputs(values, declared, single=len(declared) == 1)


def outputs_from_files(files: Mapping[str, Optional[bytes]], declared: Mapping[str, str]) -> dict[str, Any]:
    """A command step's outputs from the raw bytes of its $ORCH_OUTPUTS files (None: not written).

    The bytes are strict UTF-8 and kept as written (`\r` and `\r\n` too); only one trailing
    newline is dropped. Bytes that do not decode, or text orch cannot carry (a NUL), fail the
    step (OutputError), never the runner.
    """
    values = {}
    for name, kind in declared.items():
        text = _output_text(name, files.get(name))
        text = text[:-1] if text.endswith("\n") else text
        try:
            values[name] = parse_text(text, kind)
        except ValueError as err:
            raise OutputError(f"output {name!r}: {err}; it is declared {kind}") from None
    return values


def _output_text(name: str, data: Optional[bytes]) -> str:
    if data is None:
        raise OutputError(f"output {name!r} was not written to $ORCH_OUTPUTS/{name}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as err:
        raise OutputError(f"output {name!r} is not UTF-8 text: byte 0x{err.object[err.start]:02x} at offset {err.start} "
                          "cannot be decoded; write UTF-8, or base64 for binary data") from None
    problem = text_problem(text)
    if problem:
        raise OutputError(f"output {name!r} {problem}")
    return text


def check_outputs(values: Mapping[str, Any], declared: Mapping[str, str], single: bool = False) -> dict[str, Any]:
    missing = [name for name in declared if name not in values]
    if missing:
        raise OutputError(f"missing output{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
    for name, kind in declared.items():
        value = values[name]
        if kind == "json":
            problem = json_problem(value)
            if problem:
                raise OutputError(f"output {name!r} is not a json value orch accepts: {problem}")
            continue
        if isinstance(value, float) and not math.isfinite(value) and kind in ("number", "integer"):
            raise OutputError(f"output {name!r} is {value!r}, not a finite number")
        if value is None or not value_fits(value, kind):
            hint = " (a step with one output returns the bare value)" if single and isinstance(value, dict) else \
                " (the path of the file or folder the step wrote)" if kind == "artifact" else ""
            raise OutputError(f"output {name!r} is {_describe(value)}, not {kind}{hint}")
    return {name: as_declared(value, declared[name]) for name, value in values.items()}


def as_declared(value: Any, kind: str) -> Any:
    """A `number` is a float everywhere (an integer given for one included), as Python's type hints read it."""
    return float(value) if kind == "number" else value


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
