"""pydantic's validation errors, turned into located diagnostics with hints."""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError

from .errors import Diagnostic, Refusal, did_you_mean, format_path
from .yaml_source import Source

_QUOTED = re.compile(r"'([^']*)'")


def diagnostics_from(error: ValidationError, source: Source, root: type[BaseModel], prefix: tuple = ()) -> list[Diagnostic]:
    """One diagnostic per pydantic error, in the spec's own terms."""
    out = []
    for item in error.errors(include_url=False):
        path, at_key = _clean(prefix + tuple(item["loc"]))
        kind, message, hint, code = item["type"], item["msg"], None, "E201"
        refusal = item.get("ctx", {}).get("error")
        if isinstance(refusal, Refusal):  # a rule with its own code (a bound, a finite number)
            code, message, hint = refusal.code, str(refusal), refusal.hint
        elif kind == "finite_number":
            code, message = "E109", "must be a finite number (not nan or infinity)"
        elif kind == "extra_forbidden":
            field = path[-1]
            parent = _model_at(root, path[len(prefix):-1])
            message = f"unknown field {field!r}"
            hint = did_you_mean(field, _field_names(parent)) if parent else None
            if hint is None and parent:
                hint = "known fields: " + ", ".join(_field_names(parent))
            at_key = True
        elif kind == "missing":
            message = f"missing required field {path[-1]!r}"
            path = path[:-1]
            at_key = True
        elif kind == "literal_error":
            choices = _QUOTED.findall(str(item.get("ctx", {}).get("expected", "")))
            message = "must be one of " + ", ".join(repr(c) for c in choices)
            hint = did_you_mean(item.get("input"), choices)
            if hint is None and path[-2:] == ("retries", "on"):
                hint = "'any' retries every failed attempt (Argo's Always), 'failure' one that ran and failed " \
                       "(OnFailure), 'error' one that could not run or was lost (OnError)"
            if hint is None and path[-1:] == ("from",):
                hint = "an output comes from $ORCH_OUTPUTS/NAME (from: file, the default) or from the command's stdout (from: stdout)"
        elif kind.startswith("value_error") or kind == "assertion_error":
            message = re.sub(r"^(Value|Assertion) error, ", "", message)
        elif kind == "model_type" or kind == "dict_type":
            message = "must be a mapping of fields" if kind == "model_type" else "must be a mapping"
        elif kind == "list_type" and path[-1:] == ("command",):
            message = "a command is a list of arguments (argv), not one string"
            hint = "command: [python, train.py]; for a shell line: [sh, -c, 'python train.py | tee log']"
        else:
            message = message[0].lower() + message[1:]
        out.append(source.diagnostic(code, message, path, hint, at_key=at_key))
    return _dedupe(out)


def _clean(loc: tuple) -> tuple[tuple, bool]:
    """The data path of a pydantic loc; whether the error is about a mapping key.

    The models use no unions, so pydantic adds no member names to locs: every part but
    the '[key]' marker is a key or index of the user's data (brackets and all).
    """
    at_key = bool(loc) and loc[-1] == "[key]"
    loc = tuple("env" if part == "secrets" and i and _holds_secrets(loc, i) else part for i, part in enumerate(loc))  # spec.py
    return (loc[:-1] if at_key else loc), at_key


def _holds_secrets(loc: tuple, i: int) -> bool:
    return loc[i - 1] == "defaults" or (i >= 2 and loc[i - 2] == "steps")


def _dedupe(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diagnostics:
        key = (d.path, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items() if not f.exclude]  # (secrets: written in env)


def _model_at(root: type[BaseModel], path: tuple) -> type[BaseModel] | None:
    """The model class that holds the field at `path` (walking dicts and lists by type)."""
    current: Any = root
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {f.alias or n: f for n, f in current.model_fields.items()} | current.model_fields
            if part == "env" and "secrets" in fields:  # (a secret is written in env and kept in secrets: spec.py)
                part = "secrets"
            if part not in fields:
                return None
            current = fields[part].annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Optional[X] and Annotated[X, ...] -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


__all__ = ["diagnostics_from", "format_path"]
