"""Reusable steps: `templates:` at pipeline level, `uses:` + `with:` in a step.

A template is a step written once with named `inputs`; a step that `uses` it gets the
template's fields with each `${{ inputs.NAME }}` replaced by its `with` value, then its own
fields on top (mappings such as `env` merged key by key, as `defaults` are). The expansion
happens on the spec's data, before any model sees it, so every backend receives ordinary
steps; each expanded step remembers its template (`template_of`), which Argo renders once.
An error in a field a step took from its template is reported where the template wrote it.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import Diagnostic, did_you_mean
from .names import NAME_RE
from .typed import to_text, value_fits
from .yaml_source import Source

_INPUT = re.compile(r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}")
_TYPES = ("string", "integer", "number", "boolean", "json")
_MERGED = ("env", "resources", "args")  # key by key, as spec.with_defaults merges env; kubernetes one level deeper
_WHOLE = ("pod_spec_patch",)
_NOT_IN_TEMPLATE = ("uses", "with", "steps")


class TemplatedSource(Source):
    """The spec's Source, locating a problem in a field a step took from its template at the template -- or, when
    it lies in a value the step gave in `with`, at that value."""

    def __init__(self, source: Source, written: dict, origins: dict[tuple, str], spans: dict[tuple, dict]):
        super().__init__(source.file, source.text, source._root)
        self._index, self._inner = source._index, source
        self._written, self._origins, self._spans = written, origins, spans

    def diagnostic(self, code, message, path=(), hint=None, *, at_key=False, offset=None) -> Diagnostic:
        path = tuple(path)
        template = self._origins.get(path[:2])
        if template is not None and len(path) > 2 and not _holds(self._written.get(path[:2]), path[2:]):
            filled = self._spans.get(path[:2], {}).get(path[2:])
            if filled:  # the template's text with inputs filled in: find whose text the problem is in
                for start, end, name, whole in filled:
                    if whole or (offset is not None and start <= offset < end):
                        inner = None if whole or offset is None else offset - start
                        return self._inner.diagnostic(code, message, path[:2] + ("with", name), hint, offset=inner)
                offset = None
            path = ("templates", template) + path[2:]
        return self._inner.diagnostic(code, message, path, hint, at_key=at_key, offset=offset)


def template_of(step: Any) -> str | None:
    """The template a step was expanded from, if it was."""
    return getattr(step, "_template", None)


def expand(data: dict, source: Source) -> tuple[dict, Source, list[Diagnostic], set[str], dict[str, str]]:
    """(data with templates expanded, its Source, problems, steps that could not be expanded, step -> template).

    The data is returned unchanged (and the source too) when it uses no template.
    """
    templates = data.get("templates")
    problems: list[Diagnostic] = []
    if templates is None and not _any_uses(data.get("steps")) and not _any_uses(data.get("finally")):
        return data, source, problems, set(), {}
    if not isinstance(templates, dict):
        templates = {}
        if data.get("templates") is not None:
            problems.append(source.diagnostic("E240", "templates is a mapping of name -> step", ("templates",),
                                              "templates: {train: {inputs: {lr: number}, python: pkg.steps:train}}"))
    checked = {name: body for name, body in templates.items() if _template_ok(name, body, source, problems)}
    data = {k: v for k, v in data.items() if k != "templates"}
    broken: set[str] = set()
    origins: dict[tuple, str] = {}  # (section, step) -> its template
    written: dict[tuple, Any] = {}  # (section, step) -> the step as written, for locating
    spans: dict[tuple, dict] = {}  # (section, step) -> field path -> where its `with` values landed in the text
    for section in ("steps", "finally"):
        mapping = data.get(section)
        if not isinstance(mapping, dict) or not _any_uses(mapping):
            continue
        expanded = {}
        for name, raw in mapping.items():
            if isinstance(raw, dict) and "uses" in raw:
                step = _use(section, name, raw, checked, templates, source, problems, spans.setdefault((section, name), {}))
                if step is None:
                    broken.add(name)
                    continue
                origins[(section, name)], written[(section, name)] = raw["uses"], raw
                expanded[name] = step
            else:
                expanded[name] = raw
        data[section] = expanded
    return data, TemplatedSource(source, written, origins, spans), problems, broken, {n: t for (_, n), t in origins.items()}


def _any_uses(mapping: Any) -> bool:
    return isinstance(mapping, dict) and any(isinstance(s, dict) and "uses" in s for s in mapping.values())


def _template_ok(name: str, body: Any, source: Source, problems: list[Diagnostic]) -> bool:
    path = ("templates", name)
    before = len(problems)
    if not NAME_RE.match(name):
        problems.append(source.diagnostic("E301", f"template {name!r} is not a name: lowercase letters, digits, '_' and '-'",
                                          path, at_key=True))
    if not isinstance(body, dict):
        problems.append(source.diagnostic("E240", f"template {name!r} is a step: a mapping of its fields", path))
        return False
    for key in _NOT_IN_TEMPLATE:
        if key in body:
            problems.append(source.diagnostic("E245", f"a template cannot have '{key}'", path + (key,),
                                              "a template is one step; a step that uses it may add its own fields",
                                              at_key=True))
    inputs = body.get("inputs", {})
    if not isinstance(inputs, dict):
        problems.append(source.diagnostic("E240", "inputs is a mapping of name -> type or {type, default}", path + ("inputs",)))
        return False
    for key, decl in inputs.items():
        kind = decl.get("type", "string") if isinstance(decl, dict) else decl
        if kind not in _TYPES or (isinstance(decl, dict) and set(decl) - {"type", "default", "description"}):
            problems.append(source.diagnostic("E240", f"input {key!r} is declared as a type ({', '.join(_TYPES)}) or "
                                              "{type, default, description}", path + ("inputs", key)))
        elif isinstance(decl, dict) and "default" in decl and not value_fits(decl["default"], kind):
            problems.append(source.diagnostic("E243", f"input {key!r}: default {decl['default']!r} is not of type {kind}",
                                              path + ("inputs", key, "default")))
    for where, text in _strings(body, path):
        for match in _INPUT.finditer(text):
            if match.group(1) not in inputs:
                problems.append(source.diagnostic("E244", f"template {name!r} has no input {match.group(1)!r}", where,
                                                  did_you_mean(match.group(1), inputs) or
                                                  f"declare it: inputs: {{{match.group(1)}: string}}", offset=match.start()))
    return len(problems) == before


def _use(section: str, name: str, raw: dict, checked: dict, templates: dict, source: Source,
         problems: list[Diagnostic], spans: dict) -> dict | None:
    """The step `raw` expanded from its template, or None (the problems said) when it cannot be."""
    path = (section, name)
    template = raw["uses"]
    if not isinstance(template, str) or template not in templates:
        hint = did_you_mean(template, templates) if isinstance(template, str) else None
        problems.append(source.diagnostic("E240", f"unknown template {template!r}", path + ("uses",),
                                          hint or f"declare it under templates: (known: {', '.join(templates) or 'none'})"))
        return None
    if template not in checked:
        return None  # its own problems are reported at it
    body = checked[template]
    inputs = body.get("inputs", {})
    given = raw.get("with", {})
    if not isinstance(given, dict):
        problems.append(source.diagnostic("E241", "with is a mapping of input -> value", path + ("with",)))
        return None
    ok = True
    for key, value in given.items():
        if key not in inputs:
            ok = False
            problems.append(source.diagnostic("E241", f"template {template!r} has no input {key!r}", path + ("with", key),
                                              did_you_mean(key, inputs) or f"its inputs: {', '.join(inputs) or 'none'}",
                                              at_key=True))
        elif not _fits(value, _kind(inputs[key])):
            ok = False
            problems.append(source.diagnostic("E243", f"input {key!r} of template {template!r} is {_kind(inputs[key])}, "
                                              f"not {value!r}", path + ("with", key)))
    values = {}
    for key, decl in inputs.items():
        if key in given:
            values[key] = given[key]
        elif isinstance(decl, dict) and "default" in decl:
            values[key] = decl["default"]
        else:
            ok = False
            problems.append(source.diagnostic("E242", f"template {template!r} needs input {key!r}", path + ("uses",),
                                              f"give it: with: {{{key}: …}}"))
    if not ok:
        return None
    for where, text in _strings(raw, path):
        if where[2:3] != ("with",) and _INPUT.search(text):
            problems.append(source.diagnostic("E244", "${{ inputs.NAME }} is defined only inside a template", where,
                                              "give the value here, or move the field into the template"))
            return None
    for key in values:
        if key in given and "when" in body and _INPUT.search(str(body["when"])) and not _condition_fit(given[key]):
            problems.append(source.diagnostic("E243", f"input {key!r} reaches a condition: give a value or one reference",
                                              path + ("with", key), "text around a reference cannot be a condition's operand"))
            return None
    filled = _fill({k: v for k, v in body.items() if k != "inputs"}, values, (), spans)
    own = {k: v for k, v in raw.items() if k not in ("uses", "with")}
    return _merge(filled, own)


def _kind(decl: Any) -> str:
    return decl.get("type", "string") if isinstance(decl, dict) else decl


def _fits(value: Any, kind: str) -> bool:
    """A literal of the input's type, or text holding a reference (checked where it lands)."""
    return (isinstance(value, str) and "${{" in value) or value_fits(value, kind)


def _fill(value: Any, values: dict, path: tuple, spans: dict) -> Any:
    """`value` with each `${{ inputs.X }}` replaced: a whole reference by the value itself, one in text by its text,
    one in a condition by a literal of the value (or the reference it is). Where each value landed is kept in `spans`:
    (start, end, input, whole)."""
    if isinstance(value, str):
        whole = _INPUT.fullmatch(value.strip()) if value.strip().startswith("${{") else None
        if whole and whole.group(0) == value.strip() and path[:1] != ("when",):
            spans[path] = [(0, 0, whole.group(1), True)]
            return values[whole.group(1)]
        if not _INPUT.search(value):
            return value
        text, landed, end = "", [], 0
        for match in _INPUT.finditer(value):
            name = match.group(1)
            piece = _operand(values[name]) if path[:1] == ("when",) else to_text(values[name])
            text += value[end:match.start()]
            landed.append((len(text), len(text) + len(piece), name, False))
            text += piece
            end = match.end()
        spans[path] = landed
        return text + value[end:]
    if isinstance(value, dict):
        return {k: _fill(v, values, path + (k,), spans) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values, path + (i,), spans) for i, v in enumerate(value)]
    return value


def _condition_fit(value: Any) -> bool:
    """A `with` value a condition can hold: a literal, or exactly one reference."""
    return not isinstance(value, str) or "${{" not in value or whole_ref_text(value) is not None


def whole_ref_text(value: str) -> str | None:
    """The reference's own text when `value` is exactly one `${{ … }}` (`params.p`)."""
    from .refs import RefProblem, whole_ref

    try:
        ref = whole_ref(value)
    except RefProblem:
        return None
    return ref.text if ref is not None else None


def _operand(value: Any) -> str:
    """A value as a condition writes it: a reference bare, text quoted, json as its literal."""
    import json

    if isinstance(value, str):
        ref = whole_ref_text(value) if "${{" in value else None
        return ref if ref is not None else json.dumps(value)
    return json.dumps(value)


def _merge(template: dict, own: dict) -> dict:
    """The template's fields, the step's own on top: args, env and resources key by key, kubernetes one level deeper."""
    merged = dict(template)
    for key, value in own.items():
        base = merged.get(key)
        if key in _MERGED and isinstance(base, dict) and isinstance(value, dict):
            merged[key] = {**base, **value}
        elif key == "kubernetes" and isinstance(base, dict) and isinstance(value, dict):
            merged[key] = {k: {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) and k not in _WHOLE
                           else v for k, v in {**base, **value}.items()}
        else:
            merged[key] = value
    return merged


def _strings(value: Any, path: tuple):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, path + (i,))


def _holds(data: Any, path: tuple) -> bool:
    """Whether `data` (a step as written) has a value at `path`."""
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return False
    return True
