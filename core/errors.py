"""One error hierarchy for orch, each error carrying located, structured diagnostics.

The CLI maps the classes to exit codes once (0 ok, 1 run failed, 2 invalid input,
3 backend unavailable); library users get `.diagnostics` to inspect programmatically.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from typing import Iterable, Sequence

Path = tuple  # a field path into the spec: ("steps", "train", "after", 0)

MAX_SHOWN = 50  # diagnostics printed in full before "... and N more"


@dataclass(frozen=True)
class Diagnostic:
    """One problem: what is wrong, where, and how to fix it."""

    code: str
    message: str
    path: Path = ()
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    hint: str | None = None
    source_line: str | None = None  # the spec's text at `line`, for the caret excerpt

    @property
    def field(self) -> str:
        return format_path(self.path)

    def location(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}:{self.col or 1}"
        return where

    def render(self) -> str:
        field = f" {self.field}:" if self.path else ""
        text = f"{self.location()}: error[{self.code}]{field} {self.message}"
        if self.source_line is not None and self.col is not None:
            gutter = f"{self.line} | "
            text += f"\n  {gutter}{self.source_line}\n  {' ' * len(gutter)}{' ' * (self.col - 1)}^"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "hint": self.hint,
        }


class OrchError(Exception):
    """Root of every error orch raises on purpose."""

    exit_code = 70

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()):
        super().__init__(message)
        self.diagnostics = list(diagnostics)


class SpecError(OrchError):
    """The spec is invalid; all of its problems are in `diagnostics`."""

    exit_code = 2

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        ordered = sorted(diagnostics, key=_reading_order)
        super().__init__(_summary(ordered), ordered)

    def __str__(self) -> str:
        shown = [d.render() for d in self.diagnostics[:MAX_SHOWN]]
        rest = len(self.diagnostics) - MAX_SHOWN
        if rest > 0:
            shown.append(f"... and {rest} more")
        return "\n".join(shown) + "\n" + _summary(self.diagnostics)


class UsageError(OrchError):
    """Bad command-line input that is not a spec problem (a missing file, a bad flag value)."""

    exit_code = 2


class RunInterrupted(OrchError):
    """A run was stopped (Ctrl-C, SIGTERM) and can be resumed."""

    exit_code = 130


class BackendUnavailable(OrchError):
    """A backend's engine is not installed or its server cannot be reached."""

    exit_code = 3


def _reading_order(d: Diagnostic):
    return (d.file or "", d.line if d.line is not None else 1 << 30, d.col or 0, d.code)


def _summary(diagnostics: Sequence[Diagnostic]) -> str:
    n = len(diagnostics)
    return f"{n} error{'s' if n != 1 else ''} found"


def format_path(path: Iterable) -> str:
    """("steps", "train", "after", 0) -> "steps.train.after[0]"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known choice, or None when nothing is close."""
    match = get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None
