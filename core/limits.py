"""Every size a spec may ask for, bounded: one named constant per bound (docs/limits.md lists them).

A spec that validates must render and run in time and memory linear in its file, so
each bound is enforced at validation with a located error and its own code. This module
holds the numbers and the walk over free-form values (args, defaults, foreach items) that
a spec built in Python needs (a YAML spec is checked as it is read). It imports only
`typed` (standard library, shipped inside rendered files), which holds the same numbers.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from . import typed

# --- the spec file
MAX_SPEC_BYTES = 64 * 2**20  # E115: a bigger file is refused before it is read
MAX_STEPS = 100_000  # E219: steps in one pipeline
MAX_NESTING = typed.MAX_NESTING  # E112: mappings and lists nested in a spec or a json value (64)
# E113: values reached through YAML aliases, counted once per use, may add up to at most
# this many, or the spec's length in characters if that is more (an alias bomb is refused).
MAX_ALIAS_VALUES = 100_000

# --- numbers (E110, E109)
INT_MIN, INT_MAX = typed.INT_MIN, typed.INT_MAX  # integers anywhere (spec, -p, outputs): signed 64-bit
MAX_QUANTITY = 2**63 - 1  # E218: a cpu/memory quantity in base units (what Kubernetes accepts)

# --- time (E216, E217)
MAX_TIMEOUT_SECONDS = 366 * 86400  # a step's or the pipeline's timeout: > 0 and at most this
MAX_DELAY_SECONDS = 366 * 86400  # a retry delay or max_delay; no retry ever waits longer
MAX_RETRIES = 100  # E215: retries.limit
CRON_HORIZON_YEARS = 28  # E222: a cron must fire within this many years (every leap-day cycle)

# --- conditions (E603) and fan-out (E220)
MAX_CONDITION_CHARS = 10_000
MAX_CONDITION_DEPTH = 32  # nested not / and / or / comparisons / parentheses
MAX_FOREACH_ITEMS = typed.MAX_FOREACH_ITEMS  # a foreach list: literal (E220), or at run time (the step fails)

# --- outputs: one read from a command's stdout, without one trailing newline, is under 256 KiB, what
# Argo keeps of a container's stdout as its result; past it the step fails (backends/steprun.py has a copy)
MAX_STDOUT_OUTPUT_BYTES = 256 * 1024 - 1

# --- diagnostics (not spec bounds: how much of the spec an error message repeats)
MAX_EXCERPT_CHARS = 120  # the source line shown under an error, around its column
MAX_MESSAGE_CHARS = 400  # a message or hint quoting a user's value is cut in the middle


def int_fits(value: int) -> bool:
    return INT_MIN <= value <= INT_MAX


def value_problems(value: Any, path: tuple = (), depth: int = 0) -> Iterator[tuple[tuple, str, str, bool]]:
    """(path, code, message, at_key) for each value no spec may hold, nested anywhere in `value`.

    `depth` is how many mappings and lists already enclose `value`. Iterative, so no nesting
    can exhaust the stack; a container nested too deep is reported once and not entered.
    """
    stack = [(value, path, depth, False)]
    while stack:
        item, where, level, is_key = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                yield where, problem[0], problem[1], is_key
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not int_fits(item):
                yield where, "E110", f"integer {_short(repr(item))} is outside the signed 64-bit range", is_key
        elif isinstance(item, float):
            if not math.isfinite(item):
                yield where, "E109", f"{item!r} is not a finite number", is_key
        elif isinstance(item, (dict, list, tuple)):
            if level + 1 > MAX_NESTING:
                yield where, "E112", f"values are nested more than {MAX_NESTING} levels deep", False
                continue
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    stack.append((key, where + (key,), level + 1, True))
                stack.append((child, where + (key,), level + 1, False))


def text_problem(text: str) -> tuple[str, str] | None:
    """(code, message) when `text` cannot be a string in orch: a NUL (E107), or a lone surrogate (E108)."""
    problem = typed.text_problem(text)
    return None if problem is None else ("E107" if "\x00" in text else "E108", problem)


NUL_HINT = "a NUL character cannot reach a command's argv, its environment or a Kubernetes object; remove it"
SURROGATE_HINT = "a lone surrogate (half of a UTF-16 pair) is not text; write the character itself"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "…" + text[-limit // 2:]

# --- where a step runs (#13): its code, its packages, its pod
DEFAULT_CODE_BYTES = 100 * 10**6  # code.max_size when unset: a pack past it is refused (E232), never uploaded
MAX_CODE_BYTES = 10 * 10**9  # E232: code.max_size itself
MAX_PACKAGES = 100  # E233: requirements of one step
MAX_REQUIREMENT_CHARS = 1_000  # E233: one requirement
MAX_VOLUMES = 64  # E234: volumes of one pod
MAX_POD_SPEC_PATCH_BYTES = 256 * 1024  # E235: a pod_spec_patch as JSON
