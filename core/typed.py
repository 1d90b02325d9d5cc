"""Typed values as text and back: what every backend's step runner agrees on.

Standard library only and free of relative imports, because this file's source is also
shipped verbatim inside rendered artifacts (the Argo bootstrap), which need nothing of orch.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

_INTEGER = re.compile(r"^[+-]?\d+$")


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
    """A value of `kind` from text (a command-line param, a command's output); ValueError if it is not one."""
    if kind == "string":
        return text
    stripped = text.strip()
    if kind == "integer":
        if not _INTEGER.match(stripped):
            raise ValueError(f"{text!r} is not an integer")
        return int(stripped)
    if kind == "number":
        try:
            number = float(stripped)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{text!r} is not a finite number")
        return number
    if kind == "boolean":
        if stripped.lower() in ("true", "false"):
            return stripped.lower() == "true"
        raise ValueError(f"{text!r} is not true or false")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{text!r} is not JSON: {err.msg}") from None


def value_fits(value: Any, kind: str) -> bool:
    """Whether `value` is a valid value of the declared type."""
    if kind == "json":
        return True
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


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
    return check_outputs(values, declared, single=len(declared) == 1)


def outputs_from_files(texts: Mapping[str, str | None], declared: Mapping[str, str]) -> dict[str, Any]:
    """A command step's outputs from the text of its $ORCH_OUTPUTS files (None: not written)."""
    values = {}
    for name, kind in declared.items():
        text = texts.get(name)
        if text is None:
            raise OutputError(f"output {name!r} was not written to $ORCH_OUTPUTS/{name}")
        text = text[:-1] if text.endswith("\n") else text
        try:
            values[name] = parse_text(text, kind)
        except ValueError as err:
            raise OutputError(f"output {name!r}: {err}; it is declared {kind}") from None
    return values


def check_outputs(values: Mapping[str, Any], declared: Mapping[str, str], single: bool = False) -> dict[str, Any]:
    missing = [name for name in declared if name not in values]
    if missing:
        raise OutputError(f"missing output{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
    for name, kind in declared.items():
        value = values[name]
        if (value is None and kind != "json") or not value_fits(value, kind) or (kind == "json" and not _is_json(value)):
            hint = " (a step with one output returns the bare value)" if single and isinstance(value, dict) and kind != "json" else ""
            raise OutputError(f"output {name!r} is {_describe(value)}, not {kind}{hint}")
    return {name: as_declared(value, declared[name]) for name, value in values.items()}


def as_declared(value: Any, kind: str) -> Any:
    """A `number` is a float everywhere (an integer given for one included), as Python's type hints read it."""
    return float(value) if kind == "number" else value


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
