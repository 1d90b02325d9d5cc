"""Step groups: a step with `steps:` of its own is a group of them.

A group is run as one node of its scope (its trigger, `when`, `after` and `foreach` are the
group's), and its steps as a pipeline of their own, once per item under `foreach`. The spec's
nesting is flattened here, before any model reads it: each step inside a group gets its
qualified name, `group.step` (no orch name holds a `.`, so none can collide), and each group
its fields under the same name in `Pipeline.groups`. `nest` gives the nesting back, so a dump
reads as it was written. Problems are located where they were written (`NestedSource`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from .errors import Diagnostic
from .refs import RefProblem, whole_ref
from .yaml_source import Source

if TYPE_CHECKING:
    from .graph import PipelineGraph

SEP = "."
MAX_DEPTH = 8  # E246: groups inside groups; deeper nesting reads as a pipeline to split
GROUP_FIELDS = ("steps", "outputs", "after", "when", "trigger", "foreach", "parallelism", "fail_fast", "description")


def parent(name: str) -> str:
    """The qualified name of the group holding `name` ('' at the pipeline's level)."""
    return name.rpartition(SEP)[0]


def local(name: str) -> str:
    return name.rpartition(SEP)[2]


def scopes(name: str) -> Iterator[str]:
    """`name`'s enclosing groups, innermost first, then '' (the pipeline)."""
    scope = parent(name)
    while scope:
        yield scope
        scope = parent(scope)
    yield ""


def qualify(scope: str, name: str) -> str:
    return f"{scope}{SEP}{name}" if scope else name


def inside(name: str, group: str) -> bool:
    """Whether `name` is (at any depth) inside `group`."""
    return name.startswith(group + SEP)


def is_group(raw: Any) -> bool:
    return isinstance(raw, dict) and "steps" in raw


def flatten(data: dict, source: Source) -> tuple[dict, Source, list[Diagnostic]]:
    """(data with groups flattened into `steps` and `groups`, a Source locating flat names, problems)."""
    steps = data.get("steps")
    problems: list[Diagnostic] = []
    if "groups" in data:
        problems.append(source.diagnostic("E201", "unknown field 'groups'", ("groups",),
                                          "a group is a step with steps of its own: steps: {sweep: {foreach: …, steps: {…}}}",
                                          at_key=True))
        data = {k: v for k, v in data.items() if k != "groups"}
    data = _refuse_in_finally(data, source, problems)
    if not isinstance(steps, dict) or not any(is_group(s) for s in steps.values()):
        return data, source, problems
    flat, groups = {}, {}
    _walk(steps, "", 1, flat, groups, source, problems)
    return {**data, "steps": flat, "groups": groups}, NestedSource(source), problems


def _walk(steps: dict, scope: str, depth: int, flat: dict, groups: dict, source: Source, problems: list) -> None:
    for name, raw in steps.items():
        qualified = qualify(scope, str(name))
        if not is_group(raw):
            flat[qualified] = raw
            continue
        inner = raw["steps"]
        path = NestedSource.path_of(qualified)
        if depth > MAX_DEPTH:
            problems.append(source.diagnostic("E246", f"groups are nested more than {MAX_DEPTH} deep", path,
                                              "split the pipeline, or flatten the innermost groups", at_key=True))
            continue
        if not isinstance(inner, dict) or not inner:
            problems.append(source.diagnostic("E247", f"group {name!r} needs at least one step under 'steps'",
                                              path + ("steps",), at_key=True))
            continue
        groups[qualified] = {k: v for k, v in raw.items() if k != "steps"}
        _walk(inner, qualified, depth + 1, flat, groups, source, problems)


def _refuse_in_finally(data: dict, source: Source, problems: list) -> dict:
    """The data without a group under `finally` (refused here, once: no other error about it)."""
    final = data.get("finally")
    refused = [name for name, raw in (final.items() if isinstance(final, dict) else ()) if is_group(raw)]
    for name in refused:
        problems.append(source.diagnostic("E248", "a finally step cannot be a group", ("finally", name, "steps"),
                                          "list the finally steps one by one", at_key=True))
    return {**data, "finally": {k: v for k, v in final.items() if k not in refused}} if refused else data


def written_order(steps: dict, scope: str = "") -> list[str]:
    """The qualified names of a spec's steps and groups as written (nested), a group before its steps."""
    names = []
    for name, raw in steps.items():
        names.append(qualify(scope, name))
        if is_group(raw) and isinstance(raw["steps"], dict):
            names += written_order(raw["steps"], qualify(scope, name))
    return names


def nest(steps: dict, groups: dict) -> dict:
    """Flat dumped steps (qualified names) and groups, as the spec nests them."""
    if not groups:
        return steps
    nested: dict = {}
    holders = {"": nested}
    for name in _in_order(steps, groups):
        holder = holders[parent(name)]
        if name in groups:  # its own fields, its steps, then its outputs (which name them)
            fields = {k: v for k, v in groups[name].items() if k != "outputs"}
            holder[local(name)] = {**fields, "steps": {}, **({"outputs": groups[name]["outputs"]} if "outputs" in groups[name] else {})}
            holders[name] = holder[local(name)]["steps"]
        else:
            holder[local(name)] = steps[name]
    return nested


def _in_order(steps: dict, groups: dict) -> list[str]:
    """Groups and steps as written: a group just before its first step."""
    order: list[str] = []
    seen: set[str] = set()
    for name in steps:
        chain = [g for g in reversed(list(scopes(name))) if g]
        for group in chain:
            if group not in seen:
                seen.add(group)
                order.append(group)
        order.append(name)
    return order


class NestedSource(Source):
    """The spec's Source, locating `steps.a.b` (a flat name) and `groups.a` at `steps.a.steps.b`, `steps.a` as written."""

    def __init__(self, source: Source):
        super().__init__(source.file, source.text, source._root)
        self._index, self._inner = source._index, source

    @staticmethod
    def path_of(qualified: str) -> tuple:
        path: tuple = ()
        for part in qualified.split(SEP):
            path += ("steps", part)
        return path

    def diagnostic(self, code, message, path=(), hint=None, *, at_key=False, offset=None) -> Diagnostic:
        path = tuple(path)
        if len(path) > 1 and path[0] in ("steps", "groups") and isinstance(path[1], str):
            path = self.path_of(path[1]) + path[2:]
        return self._inner.diagnostic(code, message, path, hint, at_key=at_key, offset=offset)


def lookup(pipeline, name: str, ref: str) -> str | None:
    """The qualified step or group that `ref` (a name as written) means in `name`'s fields: the child of the
    nearest enclosing scope that has one by that name (a group's own fields are read in its parent's scope)."""
    for scope in scopes(name):
        candidate = qualify(scope, ref)
        if candidate in pipeline.steps or candidate in pipeline.groups:
            return candidate
    return None


def members(pipeline, group: str) -> list[str]:
    """The steps inside `group`, at any depth, in spec order."""
    return [name for name in pipeline.steps if inside(name, group)]


def children(pipeline, scope: str) -> list[str]:
    """The steps and groups directly in `scope` ('' for the pipeline), in spec order."""
    return [name for name in order(pipeline) if parent(name) == scope]


def order(pipeline) -> list[str]:
    """Every group and step as written: a group just before its first step."""
    return _in_order(pipeline.steps, pipeline.groups)


def fails_fast(pipeline, scope: str) -> bool:
    """Whether `scope` ('' or a group) fails fast: after one of its direct members failed, none of the others starts
    (docs/semantics.md#failure). A group's own `fail_fast`, else its nearest enclosing group's, else the pipeline's."""
    while scope:
        own = pipeline.groups[scope].fail_fast
        if own is not None:
            return own
        scope = parent(scope)
    return pipeline.fail_fast


def fan_out_groups(pipeline, name: str) -> list[str]:
    """The groups around `name` with a `foreach`, outermost first."""
    return [g for g in reversed(list(scopes(name))) if g and pipeline.groups[g].foreach is not None]


def source_of(pipeline, group: str, output: str) -> tuple[str, str] | None:
    """(qualified step or group directly inside `group`, its output) that the group's `output` names, or None."""
    text = pipeline.groups[group].outputs.get(output)
    try:
        ref = whole_ref(text) if isinstance(text, str) else None
    except RefProblem:
        return None
    if ref is None or ref.kind != "output":
        return None
    child = qualify(group, ref.step)
    return (child, ref.name) if child in pipeline.steps or child in pipeline.groups else None


def leaf_source(pipeline, group: str, output: str) -> tuple[str, str] | None:
    """The step (not a group) whose output a group's output is, through any groups between."""
    source = source_of(pipeline, group, output)
    while source is not None and source[0] in pipeline.groups:
        source = source_of(pipeline, *source)
    return source


def scope_edges(graph: PipelineGraph) -> dict[str, dict[str, list[str]]]:
    """scope -> node -> the nodes of that scope it waits for (spec order): every edge of the graph, lifted to the
    nodes of the two steps' nearest common scope that hold them (what each backend and core/play.py wait on)."""
    pipeline = graph.pipeline
    position = {name: i for i, name in enumerate(order(pipeline))}
    lifted: dict[str, dict[str, dict[str, None]]] = {}
    for edge in graph.edges:
        up = [*reversed([g for g in scopes(edge.upstream) if g]), edge.upstream]
        down = [*reversed([g for g in scopes(edge.downstream) if g]), edge.downstream]
        common = 0
        while common < min(len(up), len(down)) - 1 and up[common] == down[common]:
            common += 1
        scope = up[common - 1] if common else ""
        lifted.setdefault(scope, {}).setdefault(down[common], {})[up[common]] = None
    return {scope: {node: sorted(ups, key=position.__getitem__) for node, ups in nodes.items()} for scope, nodes in lifted.items()}


def judged(graph: PipelineGraph) -> list[str] | None:
    """The members whose end decides the pipeline's state under `state_from: leaves` -- the top-level steps and
    groups nothing runs after, in spec order -- or None under `steps`, where every step and group does
    (docs/semantics.md#failure)."""
    if graph.pipeline.state_from != "leaves":
        return None
    waited_on = {up for ups in scope_edges(graph).get("", {}).values() for up in ups}
    return [name for name in children(graph.pipeline, "") if name not in waited_on]
