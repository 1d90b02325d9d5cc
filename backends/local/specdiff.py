"""Resume only with the spec a run was started with: its meaning is recorded, and compared.

The canonical form is the validated pipeline as JSON data, so whitespace, comments, key
order and YAML spelling (`30s` or `30`) do not count; descriptions do not either (they
change nothing a step does). Any other difference refuses the resume, located in the new spec.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from orch.core.errors import Diagnostic, SpecError
from orch.core.graph import PipelineGraph

CODE = "E710"
HINT = "a resumed run reuses outputs made under the old spec; start a new run with this spec, or restore the old one"


def canonical(graph: PipelineGraph) -> dict:
    """{"pipeline": every top-level field but steps, "steps": {name: the step's fields}}."""
    data = graph.pipeline.model_dump(mode="json", by_alias=True)
    data.pop("description", None)
    for param in data.get("params", {}).values():
        param.pop("description", None)
    steps = data.pop("steps")
    for step in steps.values():
        step.pop("description", None)
    return {"pipeline": data, "steps": steps}


def refuse_changes(graph: PipelineGraph, recorded: Optional[dict], run_id: str) -> None:
    """SpecError (exit 2) with one located diagnostic per change since the run started."""
    if recorded is None:
        return  # a run recorded before specs were kept: nothing to compare with
    current = canonical(graph)
    problems = [_at(graph, (key,), f"{key!r} changed since run {run_id} started{_was(old, new)}")
                for key, old, new in _changed(recorded["pipeline"], current["pipeline"])]
    old_steps, new_steps = recorded["steps"], current["steps"]
    for name in old_steps:
        if name not in new_steps:
            problems.append(_at(graph, ("steps",), f"step {name!r} of run {run_id} was removed from the spec"))
    for name, step in new_steps.items():
        if name not in old_steps:
            problems.append(_at(graph, ("steps", name), f"step {name!r} is new since run {run_id} started"))
            continue
        changed = _changed(old_steps[name], step)
        if changed:
            fields = ", ".join(key for key, _, _ in changed)
            key, old, new = changed[0]
            problems.append(_at(graph, ("steps", name, key),
                                f"step {name!r} changed since run {run_id} started ({fields}){_was(old, new)}"))
    if problems:
        raise SpecError(problems)


def _changed(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """The keys whose values differ as JSON text: `1` and `true`, `0` and `0.0` are not the same value."""
    return [(key, old.get(key), new.get(key)) for key in dict.fromkeys([*old, *new])
            if _canonical(old.get(key)) != _canonical(new.get(key))]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _was(old: Any, new: Any, limit: int = 60) -> str:
    def short(value):
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 3] + "..."

    return f": was {short(old)}, now {short(new)}"


def _at(graph: PipelineGraph, path: tuple, message: str) -> Diagnostic:
    """Located at the field's key in the new spec (or the nearest enclosing one that is there)."""
    if graph.source is None:
        return Diagnostic(CODE, message, path, hint=HINT)
    return graph.source.diagnostic(CODE, message, path, HINT, at_key=True)
