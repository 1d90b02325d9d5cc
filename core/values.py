"""Values at run time: params from the command line, references filled in, outputs checked.

Shared by every backend that executes in Python, so a value means the same everywhere:
a whole-string reference keeps its type, a reference inside text becomes text (json as
JSON, booleans as true/false), a command's output file loses one trailing newline.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .errors import Diagnostic, SpecError, did_you_mean
from .refs import Ref, find_refs, whole_ref
from .spec import Pipeline
from .typed import (  # noqa: F401 - re-exported: the runners' side of values lives in typed.py
    OutputError,
    as_declared,
    check_outputs,
    outputs_from_files,
    outputs_from_return,
    parse_text,
    to_text,
    value_fits,
)


def resolve_params(pipeline: Pipeline, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every param's value: given (text from `-p` is parsed to its type) or its default."""
    problems = []
    values: dict[str, Any] = {}
    for name in given:
        if name not in pipeline.params:
            hint = did_you_mean(name, pipeline.params) or "declared params: " + (", ".join(pipeline.params) or "none")
            problems.append(Diagnostic("E701", f"unknown param {name!r}", ("params", name), file="-p", hint=hint))
    for name, param in pipeline.params.items():
        if name in given:
            value = given[name]
            if isinstance(value, str) and param.type != "string":
                try:
                    value = parse_text(value, param.type)
                except ValueError as err:
                    problems.append(Diagnostic("E702", f"param {name!r}: {err}; it is of type {param.type}", ("params", name), file="-p"))
                    continue
            if not value_fits(value, param.type):
                problems.append(Diagnostic("E702", f"param {name!r}: {value!r} is not of type {param.type}", ("params", name), file="-p"))
                continue
            values[name] = as_declared(value, param.type)
        elif param.default is not None:
            values[name] = as_declared(param.default, param.type)
        else:
            problems.append(Diagnostic("E703", f"param {name!r} has no default and was not given", ("params", name), file="-p",
                                       hint=f"pass it: -p {name}=VALUE"))
    if problems:
        raise SpecError(problems)
    return values


def fill(value: Any, resolve: Callable[[Ref], Any]) -> Any:
    """`value` with its references filled in; whole-string references keep their type."""
    if isinstance(value, str):
        if "${{" not in value:
            return value
        ref = whole_ref(value)
        if ref is not None:
            return resolve(ref)
        return fill_text(value, resolve)
    if isinstance(value, dict):
        return {k: fill(v, resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, resolve) for v in value]
    return value


def fill_text(text: str, resolve: Callable[[Ref], Any]) -> str:
    """`text` with every reference replaced by its value as text."""
    if "${{" not in text:
        return text
    pieces, pos = [], 0
    for ref in find_refs(text):
        pieces += [text[pos:ref.start], to_text(resolve(ref))]
        pos = ref.end
    pieces.append(text[pos:])
    return "".join(pieces)
