"""Whether a top-level step of an orch spec ran, as a condition a finally step can test.

A task's exit hook runs in Argo only when the task's node completed (Succeeded, Failed or Error: dag.go and
steps.go call runOnExitNode under `node.Completed()`), never for a Skipped or Omitted task nor one never started.
The importer makes such a hook a finally step, so its `when` must say "the step ran". A finally step sees which
steps failed (`run.failed_steps`) and the outputs of those that succeeded; a step's own start is decided by its
trigger over its upstream steps' ends, its `when`, and its scope's fail_fast (docs/semantics.md) -- each of them,
step by step, a condition on which steps failed. This module writes that condition out.

It is exact where the step's start depends only on those: none of the steps involved is a group or a fan-out,
and under fail_fast no step runs side by side with it (neither before nor after it): such a step's failure stops
it only when it comes before its start, which depends on timing and free slots, not on how steps ended. Then the
condition is the one without that stop (the step ran unless its own upstream kept it from starting): `Ran.exact`
says which, `Ran.why` why not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

TRUE, FALSE = ("const", True), ("const", False)
MAX_TEXT = 4000  # well under a condition's 10,000 characters


@dataclass
class Ran:
    condition: str | None  # the orch condition; None: always
    exact: bool
    why: str = ""


class _NotExpressible(Exception):
    pass


def _and(*parts):
    parts = [p for p in parts if p != TRUE]
    if FALSE in parts:
        return FALSE
    flat = []
    for p in parts:
        flat += p[1] if p[0] == "and" else [p]
    unique = list(dict.fromkeys(flat))
    return unique[0] if len(unique) == 1 else (("and", tuple(unique)) if unique else TRUE)


def _or(*parts):
    parts = [p for p in parts if p != FALSE]
    if TRUE in parts:
        return TRUE
    flat = []
    for p in parts:
        flat += p[1] if p[0] == "or" else [p]
    unique = list(dict.fromkeys(flat))
    return unique[0] if len(unique) == 1 else (("or", tuple(unique)) if unique else FALSE)


def _not(part):
    if part[0] == "const":
        return ("const", not part[1])
    if part[0] == "not":
        return part[1]
    if part[0] == "or" and all(p[0] == "failed" for p in part[1]):  # none of them failed: each not failed
        return _and(*[("not", p) for p in part[1]])
    return ("not", part)


def failed(name: str):
    return ("failed", name)


def text(node) -> str:
    kind = node[0]
    if kind == "const":
        return "true" if node[1] else "false"
    if kind == "failed":
        return f"'{node[1]}' in run.failed_steps"
    if kind == "when":
        return f"({node[1]})"
    if kind == "not":
        inner = node[1]
        if inner[0] == "failed":
            return f"'{inner[1]}' not in run.failed_steps"
        return f"not ({text(inner)})"
    joined = f" {kind} ".join(text(p) if p[0] not in ("and", "or") else f"({text(p)})" for p in node[1])
    return joined


def upstream(steps: dict, name: str) -> list[str]:
    """The steps of `steps` that `name` waits for: its `after` and the steps its fields refer to."""
    step = steps[name]
    found = list(step.get("after") or [])
    refs = re.findall(r"steps\.([a-z0-9][a-z0-9_-]*)\.outputs", json.dumps({k: v for k, v in step.items()
                                                                          if k not in ("after", "outputs")}))
    for ref in refs:
        if ref in steps and ref not in found and ref != name:
            found.append(ref)
    return [u for u in found if u in steps]


def ancestors(steps: dict, name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(upstream(steps, name))
    while todo:
        one = todo.pop()
        if one not in seen:
            seen.add(one)
            todo += upstream(steps, one)
    return seen


class _Conditions:
    def __init__(self, steps: dict, fail_fast: bool):
        self.steps, self.fail_fast = steps, fail_fast
        self.memo: dict[tuple[str, str], tuple] = {}
        self.timing: list[str] = []  # why fail_fast makes a start depend on timing

    def ran(self, name: str):
        return self._get("ran", name)

    def _get(self, what: str, name: str):
        key = (what, name)
        if key not in self.memo:
            self.memo[key] = self._build(name)[what]
        return self.memo[key]

    def _build(self, name: str) -> dict:
        step = self.steps[name]
        if "steps" in step or "foreach" in step:
            raise _NotExpressible(f"{name!r} is a {'group' if 'steps' in step else 'fan-out'}: run.failed_steps "
                                  "does not tell whether it ran")
        ups = upstream(self.steps, name)
        bad = [_or(failed(u), self._get("upstream_failed", u)) for u in ups]  # failed or upstream_failed
        trigger = step.get("trigger") or "all_succeeded"
        if trigger == "all_succeeded":
            run, stops = _and(*[self._get("succeeded", u) for u in ups]), _or(*bad)
        elif trigger == "none_failed":
            run = _not(_or(*bad))
            stops = _or(*bad)
        elif trigger == "all_done":
            run, stops = TRUE, FALSE
        elif trigger == "any_failed":
            run, stops = _or(*bad), FALSE
        else:
            raise _NotExpressible(f"trigger {trigger!r}")
        stopped = FALSE
        if self.fail_fast:
            before = ancestors(self.steps, name)
            stopped = _or(*[failed(a) for a in sorted(before)])
            racing = [o for o in self.steps if o != name and o not in before and name not in ancestors(self.steps, o)]
            if racing:  # side by side with it: a failure there may come before its start or after (slots, timing)
                named = ", ".join(repr(r) for r in racing[:4]) + (", …" if len(racing) > 4 else "")
                self.timing.append(f"under fail_fast a failure of {named} stops "
                                   f"{name!r} if it comes before {name!r} started (timing, free slots), which no "
                                   "condition on the ended steps can tell")
        when = step.get("when")
        condition = TRUE if when in (None, True) else FALSE if when is False else ("when", str(when))
        ran = _and(run, _not(stopped), condition)
        return {"ran": ran, "succeeded": _and(ran, _not(failed(name))),
                "upstream_failed": _or(stops, _and(run, stopped))}


def ran(steps: dict, name: str, fail_fast: bool) -> Ran:
    """The condition under which top-level step `name` of `steps` (the spec's `steps:`) ran."""
    conditions = _Conditions(steps, fail_fast)
    try:
        node = conditions.ran(name)
    except _NotExpressible as err:
        return Ran(None, False, str(err))
    if node == TRUE:
        return Ran(None, not conditions.timing, "; ".join(conditions.timing))
    written = text(node) if node != FALSE else "false"
    if len(written) > MAX_TEXT:
        return Ran(None, False, f"the condition that {name!r} ran is longer than {MAX_TEXT} characters")
    return Ran(written, not conditions.timing, "; ".join(conditions.timing))
