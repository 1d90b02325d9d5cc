"""A DAG task's `depends` (or `dependencies`) as an orch trigger, checked over every combination of states.

Argo (workflow/common/ancestry.go) reads `dependencies: [A]` and a bare `A` in `depends` as
`(A.Succeeded || A.Skipped || A.Daemoned)`, adding `A.Failed` / `A.Errored` where A has `continueOn`; a task
whose expression is false is Omitted (dag.go, evaluateDependsLogic). orch decides by a trigger over its
upstream states. The two states meet as: Succeeded = succeeded, Failed and Error = failed, Skipped (a false
`when`) = skipped, Omitted = upstream_failed -- the state an orch step that did not run after a failure has, and
the one every `none_failed` step that does not run takes. The trigger kept is the one agreeing with the
expression on the most combinations; it is exact only when it agrees on all of them.
"""

from __future__ import annotations

import itertools
import random
import re
from functools import lru_cache

from orch.core.triggers import RUN, decide

from .tags import Unsupported

RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed")
PHASES = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")
AS_ORCH = {"Succeeded": "succeeded", "Failed": "failed", "Error": "failed", "Skipped": "skipped",
           "Omitted": "upstream_failed"}
TRIGGERS = ("all_succeeded", "none_failed", "any_failed", "all_done")  # ties: the default first (no line written)
_TOKEN = re.compile(r"\s*(?:(?P<op>&&|\|\||!|\(|\))|(?P<word>and|or|not)(?![\w-])|(?P<name>[A-Za-z0-9][-A-Za-z0-9_]*)"
                    r"(?:\.(?P<result>[A-Za-z]+))?)")


def expression(task: dict, tasks: dict[str, dict]) -> str:
    """The task's depends logic as Argo builds it (getTaskDependsLogic, expandDependency)."""
    if task.get("depends"):
        text = str(task["depends"])
        return re.sub(r"(?<![\w.-])([A-Za-z0-9][-A-Za-z0-9_]*)(?![\w.-])(?!\s*\.)",
                      lambda m: m.group(0) if m.group(1) in ("and", "or", "not") else _expanded(m.group(1), tasks), text)
    return " && ".join(_expanded(name, tasks) for name in task.get("dependencies") or [])


def _expanded(name: str, tasks: dict[str, dict]) -> str:
    parts = [f"{name}.Succeeded", f"{name}.Skipped", f"{name}.Daemoned"]
    on = (tasks.get(name) or {}).get("continueOn") or {}
    if on.get("error"):
        parts.append(f"{name}.Errored")
    if on.get("failed"):
        parts.append(f"{name}.Failed")
    return "(" + " || ".join(parts) + ")"


def names(logic: str) -> list[str]:
    """The tasks an expression names, in order of first mention."""
    found: dict[str, None] = {}
    for kind, value, _ in _tokens(logic):
        if kind == "name":
            found[value[0]] = None
    return list(found)


def _tokens(text: str):
    at, found = 0, []
    while at < len(text.rstrip()):
        match = _TOKEN.match(text, at)
        if not match or match.end() == at:
            raise Unsupported(f"depends {text!r} is not Argo's depends syntax (at {text[at:at + 10]!r})")
        if match.group("op"):
            found.append(("op", match.group("op"), at))
        elif match.group("word"):
            found.append(("op", {"and": "&&", "or": "||", "not": "!"}[match.group("word")], at))
        else:
            result = match.group("result")
            if result is None or result not in RESULTS:
                raise Unsupported(f"depends {text!r}: {match.group(0).strip()!r} is not task.Result")
            found.append(("name", (match.group("name"), result), at))
        at = match.end()
    return found


def evaluate(logic: str, phases: dict[str, str], items: dict[str, list[str]] | None = None) -> bool:
    """Argo's value of `logic` with each named task in `phases` (TaskResults; `items`: a task group's children)."""
    return _value(compiled(logic), phases, items or {})


@lru_cache(maxsize=4096)
def compiled(logic: str):
    """The expression's tree, read once: ('or'|'and', parts), ('not', part), ('result', task, result)."""
    toks = _tokens(logic)
    tree, at = _or(toks, 0)
    if at != len(toks):
        raise Unsupported(f"depends {logic!r}: unexpected text")
    return tree


def _value(tree, phases, items) -> bool:
    kind = tree[0]
    if kind == "result":
        return _result(phases.get(tree[1], "Omitted"), tree[2], items.get(tree[1]))
    if kind == "not":
        return not _value(tree[1], phases, items)
    values = (_value(part, phases, items) for part in tree[1])
    return all(values) if kind == "and" else any(values)


def _or(toks, at):
    return _joined(toks, at, "||", "or", _and)


def _and(toks, at):
    return _joined(toks, at, "&&", "and", _not)


def _joined(toks, at, op: str, kind: str, operand):
    """`operand (op operand)*`: one operand as itself, more as a (kind, parts) node."""
    part, at = operand(toks, at)
    parts = [part]
    while at < len(toks) and toks[at][:2] == ("op", op):
        part, at = operand(toks, at + 1)
        parts.append(part)
    return (parts[0] if len(parts) == 1 else (kind, tuple(parts))), at


def _not(toks, at):
    if at < len(toks) and toks[at][:2] == ("op", "!"):
        part, at = _not(toks, at + 1)
        return ("not", part), at
    if at < len(toks) and toks[at][:2] == ("op", "("):
        part, at = _or(toks, at + 1)
        if at >= len(toks) or toks[at][:2] != ("op", ")"):
            raise Unsupported("depends: unbalanced parenthesis")
        return part, at + 1
    if at >= len(toks) or toks[at][0] != "name":
        raise Unsupported("depends: a task result was expected")
    name, result = toks[at][1]
    return ("result", name, result), at + 1


def _result(phase: str, result: str, children: list[str] | None) -> bool:
    if result == "AnySucceeded":
        return bool(children) and "Succeeded" in children if children is not None else phase == "Succeeded"
    if result == "AllFailed":
        return bool(children) and all(c == "Failed" for c in children) if children is not None else phase == "Failed"
    return {"Succeeded": phase == "Succeeded", "Failed": phase == "Failed", "Errored": phase == "Error",
            "Skipped": phase == "Skipped", "Omitted": phase == "Omitted", "Daemoned": False}[result]


def possible(task: dict | None) -> tuple[str, ...]:
    """The phases a task can end in: Skipped only with a `when` or a loop (an empty list), Omitted only with
    upstream tasks; Succeeded, Failed and Error always."""
    task = task or {}
    found = ["Succeeded", "Failed", "Error"]
    if "when" in task or any(k in task for k in ("withItems", "withParam", "withSequence")):
        found.append("Skipped")
    if task.get("depends") or task.get("dependencies"):
        found.append("Omitted")
    return tuple(found)


def trigger(logic: str, phases_of: dict[str, tuple[str, ...]] | None = None,
            shortcut: bool = True) -> tuple[str, int, int]:
    """(trigger, weighted disagreements, combinations tried) over the upstream tasks' possible phases. The trigger
    agrees where it runs the step exactly when the expression holds, and where it does not, leaves it
    upstream_failed -- Argo's Omitted, as the next steps read it. A disagreement counts less where it needs an
    Omitted or Error upstream (rarer)."""
    upstream = names(logic)
    tree = compiled(logic)
    known = _conjunction(tree, {u: (phases_of or {}).get(u, PHASES) for u in upstream}) if shortcut else None
    if known is not None:
        return known, 0, 0
    combos = _combinations([(phases_of or {}).get(u, PHASES) for u in upstream])
    argo_runs = [_value(tree, dict(zip(upstream, combo)), {}) for combo in combos]
    best = None
    for candidate in TRIGGERS:
        wrong = 0
        for combo, argo in zip(combos, argo_runs):
            decided = decide(candidate, [AS_ORCH[p] for p in combo])
            orch = decided == RUN
            differs = argo != orch or (not argo and decided != "upstream_failed")
            wrong += differs * (1 if {"Omitted", "Error"} & set(combo) else 3)
        if best is None or wrong < best[1]:
            best = (candidate, wrong)
        if not wrong:
            break
    return best[0], best[1], len(combos)


BARE = ("Succeeded", "Skipped", "Daemoned")


def _conjunction(tree, phases_of: dict[str, tuple[str, ...]]) -> str | None:
    """The exact trigger of the two common forms, without enumerating: a conjunction of bare dependencies
    (`dependencies: [A, B]`) is none_failed -- all_succeeded where no upstream task can be skipped -- and a
    conjunction of `X.Succeeded` is all_succeeded where none can be skipped. None: enumerate."""
    terms = tree[1] if tree[0] == "and" else (tree,)
    skippable = any("Skipped" in phases for phases in phases_of.values())
    if all(t[0] == "or" and {p[:1] for p in t[1]} == {("result",)} and len({p[1] for p in t[1]}) == 1
           and sorted(p[2] for p in t[1]) == sorted(BARE) for t in terms):
        return "none_failed" if skippable else "all_succeeded"
    if all(t[0] == "result" and t[2] == "Succeeded" for t in terms) and not skippable:
        return "all_succeeded"
    return None


def _combinations(choices: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    total = 1
    for options in choices:
        total *= len(options)
    if total <= 1024:
        return list(itertools.product(*choices))
    rng = random.Random(len(choices))
    return [tuple(rng.choice(options) for options in choices) for _ in range(1024)]
