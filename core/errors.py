"""One error hierarchy for orch, each error carrying located, structured diagnostics.

The CLI maps the classes to exit codes once (0 ok, 1 run failed, 2 invalid input,
3 backend unavailable); library users get `.diagnostics` to inspect programmatically.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Iterable, Sequence

from .limits import MAX_EXCERPT_CHARS, MAX_MESSAGE_CHARS

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

    def __post_init__(self):
        # A message may quote a user's value (a 5 MB line, say): never repeat all of it.
        object.__setattr__(self, "message", shorten(self.message))
        if self.hint is not None:
            object.__setattr__(self, "hint", shorten(self.hint))

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
            shown, caret = excerpt(self.source_line, self.col - 1)
            text += f"\n  {gutter}{shown}\n  {' ' * len(gutter)}{' ' * caret}^"
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


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text`, cut in the middle with '…' when longer than `limit`."""
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[len(text) - half:]


def excerpt(line: str, col: int, width: int = MAX_EXCERPT_CHARS) -> tuple[str, int]:
    """At most `width` characters of `line` around 0-based `col` ('…' where cut), and the caret's offset in them."""
    if len(line) <= width:
        return line, col
    start = max(0, min(col - width // 2, len(line) - width))
    end = start + width
    prefix = "…" if start > 0 else ""
    return prefix + line[start:end] + ("…" if end < len(line) else ""), len(prefix) + col - start


class Refusal(ValueError):
    """A field's value breaks a rule with its own error code (a bound, a finite number).

    Raised inside the models' validators; `model_errors` reports it under `code`.
    """

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.hint = hint


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


class MachineError(OrchError):
    """The machine is in the way, not the input: a full disk, a folder orch may not write."""

    exit_code = 3


_WRITABLE = "set ORCH_HOME (or the path named) to a folder you can write, with free space"
MACHINE_ERRNOS = {
    errno.ENOSPC: "the disk is full: " + _WRITABLE, errno.EDQUOT: "over the disk quota: " + _WRITABLE,
    errno.EROFS: "a read-only file system: " + _WRITABLE, errno.EACCES: _WRITABLE, errno.EPERM: _WRITABLE,
    errno.ENOTDIR: "a file stands where a folder must be: " + _WRITABLE,
    errno.EISDIR: "a folder stands where a file must be: " + _WRITABLE,
    errno.EEXIST: "a file stands where a folder must be: " + _WRITABLE,
    errno.EFBIG: "a file grew past the size this process may write: " + _WRITABLE,
    errno.ENOENT: "a folder on the way does not exist and cannot be made: " + _WRITABLE,
}
_SQLITE_WORDS = {"disk is full": MACHINE_ERRNOS[errno.ENOSPC],
                 "disk I/O error": "the disk may be full, or the folder gone: " + _WRITABLE,
                 "readonly database": MACHINE_ERRNOS[errno.EROFS], "unable to open database": _WRITABLE}


def machine_error(error: BaseException, doing: str) -> OrchError | None:
    """`error` (an OSError, a sqlite3 error) as what the user can act on, while `doing` something:
    MachineError (exit 3) with a hint when the machine is in the way, UsageError (exit 2) for a
    path that cannot be (too long a name, say); None when it is no such error (a bug: let it out)."""
    where = getattr(error, "filename", None)
    if isinstance(error, OSError):
        reason = f"cannot {doing}{f': {where}' if where else ''}: {error.strerror or error}"
        if error.errno in MACHINE_ERRNOS:
            return MachineError(f"{reason}\n  hint: {MACHINE_ERRNOS[error.errno]}")
        if error.errno in (errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL):
            return UsageError(reason)
        return None
    hint = next((h for words, h in _SQLITE_WORDS.items() if words in str(error)), None)
    if type(error).__module__ == "sqlite3" and hint is not None:
        return MachineError(f"cannot {doing}: {error}\n  hint: {hint}")
    return None


class RunInterrupted(OrchError):
    """A run was stopped (Ctrl-C, SIGTERM) and can be resumed; `result` is what happened before (for --json)."""

    exit_code = 130
    result = None  # a RunResult, where the backend read one


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
        elif not str(part).isprintable():  # a key holding a NUL or a newline: shown escaped
            text += f"[{str(part)!r}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known choice, or None when nothing is close."""
    match = get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None
