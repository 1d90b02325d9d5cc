"""Values at run time: params from the command line, references filled in, outputs checked.

Shared by every backend that executes in Python, so a value means the same everywhere:
a whole-string reference keeps its type, a reference inside text becomes text (json as
JSON, booleans as true/false), a command's output file loses one trailing newline.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .errors import Diagnostic, SpecError, did_you_mean
from .limits import NUL_HINT, text_problem
from .refs import Ref, find_refs, whole_ref
from .spec import Pipeline
from .typed import (  # noqa: F401 - re-exported: the runners' side of values lives in typed.py
    OutputError,
    as_declared,
    check_outputs,
    json_problem,
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
            value, problem = _given_value(name, given[name], param.type)
            if problem is not None:
                problems.append(problem)
                continue
            values[name] = as_declared(value, param.type)
        elif not param.required:
            values[name] = None if param.default is None else as_declared(param.default, param.type)
        else:
            problems.append(Diagnostic("E703", f"param {name!r} has no default and was not given", ("params", name), file="-p",
                                       hint=f"pass it: -p {name}=VALUE"))
    if problems:
        raise SpecError(problems)
    return values


def _given_value(name: str, value: Any, kind: str) -> tuple[Any, Diagnostic | None]:
    """A given param's value of type `kind`, or the located reason it is not one."""
    def refuse(code: str, message: str, hint: str | None = None):
        return None, Diagnostic(code, f"param {name!r}: {message}", ("params", name), file="-p", hint=hint)

    if isinstance(value, str):
        problem = text_problem(value)
        if problem and problem[0] == "E108":  # from argv: bytes that were not UTF-8 (surrogateescape)
            return refuse("E704", "the value is not UTF-8 text", "pass text encoded as UTF-8")
        if problem:
            return refuse(problem[0], "the value holds a NUL character", NUL_HINT)
        if kind != "string":
            try:
                value = parse_text(value, kind)
            except ValueError as err:
                return refuse("E702", f"{err}; it is of type {kind}")
    if kind == "json":
        problem = json_problem(value)
        if problem:
            return refuse("E702", f"not a json value orch accepts: {problem}")
    elif not value_fits(value, kind):
        return refuse("E702", f"{_short(value)} is not of type {kind}")
    elif kind == "artifact":
        from .artifacts import PARAM_URI_HINT, param_uri_problem

        problem = param_uri_problem(value)
        if problem:
            return refuse("E702", problem, PARAM_URI_HINT)
    return value, None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:38] + "…" + text[-38:]


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
