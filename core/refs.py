"""References: `${{ params.P }}`, `${{ steps.S.outputs.O }}`, `${{ item }}`, `${{ run.id }}`.

Everything outside `${{ … }}` is literal text and must reach the step byte for byte, so
this module is the only place that decides what is a reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

_OPEN = "${{"
_REF = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_NAME = r"[A-Za-z0-9_-]+"
_PARAM = re.compile(rf"params\.({_NAME})")
_OUTPUT = re.compile(rf"steps\.({_NAME})\.outputs\.({_NAME})")
RUN_FIELDS = ("id", "date", "status", "failed_steps")  # status and failed_steps: in finally steps only
REF_FORMS = "params.NAME, steps.STEP.outputs.NAME, item, run.id, run.date, run.status or run.failed_steps"


@dataclass(frozen=True)
class Ref:
    """One reference: kind is 'param', 'output', 'item' or 'run'."""

    kind: str
    name: str  # the param, the output, 'item', or the run field
    step: str | None = None
    start: int = 0  # offset of the reference in its string
    end: int = 0

    @property
    def text(self) -> str:
        if self.kind == "param":
            return f"params.{self.name}"
        if self.kind == "output":
            return f"steps.{self.step}.outputs.{self.name}"
        if self.kind == "run":
            return f"run.{self.name}"
        return "item"


class RefProblem(ValueError):
    """A malformed reference; `offset` is where it starts in its string."""

    def __init__(self, message: str, offset: int, hint: str | None = None):
        super().__init__(message)
        self.offset = offset
        self.hint = hint


def parse_ref_body(body: str, start: int = 0, end: int = 0) -> Ref:
    """The meaning of the text inside `${{ }}` (or a bare reference in a condition)."""
    text = body.strip()
    if text == "item":
        return Ref("item", "item", None, start, end)
    if match := _PARAM.fullmatch(text):
        return Ref("param", match.group(1), None, start, end)
    if match := _OUTPUT.fullmatch(text):
        return Ref("output", match.group(2), match.group(1), start, end)
    if text.startswith("run.") and text[4:] in RUN_FIELDS:
        return Ref("run", text[4:], None, start, end)
    hint = None
    if re.fullmatch(rf"steps\.{_NAME}\.{_NAME}", text):
        step, name = text.split(".")[1:]
        hint = f"outputs are referenced as steps.{step}.outputs.{name}"
    elif re.fullmatch(rf"inputs\.{_NAME}", text):
        hint = "inputs.NAME is defined only inside a template (templates:), filled in by a step's 'with'"
    elif re.fullmatch(rf"(param|parameters)\.{_NAME}", text):
        hint = f"params are referenced as params.{text.split('.', 1)[1]}"
    raise RefProblem(f"unknown reference {text!r}: use {REF_FORMS}", start, hint)


_WELL_FORMED = re.compile(
    rf"\$\{{\{{\s*(?:params\.(?P<param>{_NAME})|steps\.(?P<step>{_NAME})\.outputs\.(?P<output>{_NAME})"
    rf"|(?P<item>item)|run\.(?P<run>id|date|status|failed_steps))\s*\}}\}}"
)


def find_refs(text: str) -> list[Ref]:
    """Every reference in `text`, in order; RefProblem for the first malformed one."""
    if _OPEN not in text:
        return []
    refs = []
    for match in _WELL_FORMED.finditer(text):
        param, step, output, item, run = match.groups()
        start, end = match.span()
        if param is not None:
            refs.append(Ref("param", param, None, start, end))
        elif step is not None:
            refs.append(Ref("output", output, step, start, end))
        else:
            refs.append(Ref("item" if item else "run", item or run, None, start, end))
    if text.count(_OPEN) != len(refs):
        _raise_first_malformed(text, {r.start for r in refs})
    return refs


def _raise_first_malformed(text: str, good: set[int]) -> None:
    pos = 0
    while (start := text.find(_OPEN, pos)) != -1:
        pos = start + len(_OPEN)
        if start in good:
            continue
        match = _REF.match(text, start)
        if match is None:
            raise RefProblem("'${{' opens a reference that is never closed with '}}'", start, "write references as ${{ params.NAME }}")
        parse_ref_body(match.group(1), start, match.end())  # raises with the reason and a hint


def whole_ref(text: str) -> Ref | None:
    """The reference when `text` is exactly one `${{ … }}` (its value keeps its type)."""
    if not text.startswith(_OPEN) or not text.endswith("}}"):
        return None
    refs = find_refs(text)
    if len(refs) == 1 and refs[0].start == 0 and refs[0].end == len(text):
        return refs[0]
    return None


def iter_strings(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, text) for every string nested in lists and mappings."""
    if isinstance(value, str):
        yield path, value
        return
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        if isinstance(item, str):
            yield path + (key,), item
        elif isinstance(item, (dict, list, tuple)):
            yield from iter_strings(item, path + (key,))
