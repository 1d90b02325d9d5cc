"""The report's behaviour check: the manifest played by Argo's rules (backends/argo/play.py) and the spec by
orch's (core/play.py) on the same random draws -- which attempts of which step fail, as failures or errors,
and what the outputs a `when` compares take (the literals it names, and one that is none of them).

Compared coarsely, as the two engines' states meet: ran or not (Argo's Skipped, Omitted or never-started is
orch's skipped or upstream_failed, as is a containerSet's container Argo marks Failed without running its
command because a dependency failed -- the player's DEPENDENCY_FAILED), succeeded or failed (Argo's Error is
a failure), the attempts made, and the run's phase against orch's status.
"""

from __future__ import annotations

from orch.core.fidelity import Behaviour, Space, check as fidelity_check
from orch.core.play import Draw, Ending, Player

from .. import play as argo_play

RAN = {"Succeeded": True, "Failed": False, "Error": False, "succeeded": True, "failed": False}


def same(theirs: Ending, ours: Ending) -> bool:
    """Whether an Argo node and an orch step ended alike: both did not run, or both ran to the same end in as
    many attempts (Argo's Error is a failure)."""
    if theirs.state not in RAN or ours.state not in RAN:
        return theirs.state not in RAN and ours.state not in RAN
    return RAN[theirs.state] == RAN[ours.state] and theirs.attempts == ours.attempts


def same_status(theirs: str, ours: str) -> bool:
    """Argo's phase against orch's status; a run Argo never ends (a task it requeues for ever) is neither."""
    return theirs in ("Succeeded", "Failed", "Error") and (theirs == "Succeeded") == (ours == "succeeded")


def spaces(workflow, graph) -> dict[str, Space]:
    """What each step's draws range over: failed attempts up to its retries, errors apart where Argo retries
    them otherwise, and the values of each output a condition compares (its literals and one other)."""
    found = {}
    pipeline = graph.pipeline
    for name, step in pipeline.all_steps.items():
        retrying = workflow.retrying.get(name)
        limit = step.retries.limit if step.retries else 0
        outputs = {}
        for (qualified, output), literals in workflow.literals.items():
            if qualified == name:
                declared = step.outputs.get(output) if step.outputs else None
                kind = declared if isinstance(declared, str) else getattr(declared, "type", "string")
                outputs[output] = _values(literals, kind)
        found[name] = Space(max_fails=limit, errors=bool(retrying and limit and retrying.policy != "Always"),
                            outputs=outputs)
    return found


def _values(literals: list, kind: str) -> tuple:
    values = []
    for literal in literals:
        if literal is None:
            continue
        if kind in ("integer", "number"):
            try:
                value = float(literal) if kind == "number" else int(literal)
            except (TypeError, ValueError):
                continue
        else:
            value = literal if isinstance(literal, str) else ("true" if literal is True else "false"
                                                               if literal is False else str(literal))
        if value not in values:
            values.append(value)
    other = (max(values) + 1 if values else 0) if kind in ("integer", "number") else "none-of-these"
    return tuple(values + [other])


NEUTRAL = {"string": "", "integer": 0, "number": 0.0, "boolean": False, "json": None, "artifact": ""}


def _types(step) -> dict[str, str]:
    return {name: kind if isinstance(kind, str) else getattr(kind, "type", "string")
            for name, kind in (step.outputs or {}).items()}


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check(document, workflow, graph) -> Behaviour:
    """The manifest and the spec played on the same draws, keyed by orch's step names on both sides."""
    library = {key: d.data for key, d in workflow.library.items()}
    names = {path: step for path, step in workflow.names.items()}
    by_step = {step: path for path, step in names.items()}
    aliases = workflow.aliases

    declared = {name: _types(step) for name, step in graph.pipeline.all_steps.items()}

    def play_source(draw: dict[str, Draw]):
        argo_draws = {}
        for step, one in draw.items():
            path = by_step.get(step)
            if path is None:
                continue
            outputs = {}  # a task that succeeds has every output it declares: those no condition reads, neutral
            for output, kind in declared.get(step, {}).items():
                value = one.outputs.get(output, NEUTRAL.get(kind, ""))
                if value is not None:
                    outputs[aliases.get((step, output), output)] = _text(value)
            argo_draws[path] = Draw(one.fails, one.error, outputs)
        played = argo_play.play(document.data, argo_draws, library)
        return played.status, played.ends

    player = Player(graph)

    def play_spec(draw: dict[str, Draw]):
        played = player.play(draw)
        return played.status, played.ends

    try:
        return fidelity_check(play_source, play_spec, spaces(workflow, graph), names, same, same_status)
    except Exception as err:  # a manifest the player cannot read: said, never a traceback
        return Behaviour(not_checked=f"the Argo player could not play it: {type(err).__name__}: {err}")
