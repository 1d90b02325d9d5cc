"""No name a user writes can meet a name a rendered flow module or DAG file uses (pycode.Names).

A property over generated pipelines whose params and steps are named like everything the rendered
code names itself: the module's scopes are checked with `ast` -- each name bound once per scope, no
user-named parameter where Prefect passes its own arguments, no function reading a name that one of
its scopes binds for another purpose. The hostile-names conformance case runs such a pipeline on
every backend.
"""

from __future__ import annotations

import ast
import builtins
import keyword

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orch.backends.airflow.render import dag_source
from orch.backends.airflow import render as airflow_render
from orch.backends.embed import helper_names
from orch.backends.prefect import render as prefect_render
from orch.backends.prefect.render import module_source
from orch.backends.pycode import FIXED, KINDS, NOT_PARAMETERS, Names, ident
from orch.core.load import build
from orch.core.yaml_source import Source

HOSTILE = sorted({
    "stop", "self", "cls", "wait-for", "return-state", "gate", "run", "item", "index", "compare", "output", "to-text",
    "float", "int", "str", "list", "dict", "task", "flow", "dag", "step", "steps", "params", "param", "context", "ti",
    "a", "a-future", "a-outputs", "a-task", "a-item", "a-items", "a-may-start", "x-task-task", "verdict", "orch-verdict",
    "json", "copy", "schema", "model-config", "model-dump", "v--args", "if", "for", "class", "lambda", "none", "true",
    "datetime", "k8s", "any", "run-id", "run-date", "skipped", "upstream-failed", "call-python", "outcome", "values",
    "after", "trigger", "name", "deployment", "serve", "results", "pipeline", "items", "fan-out", "text", "python",
})
NAME = st.one_of(st.sampled_from(HOSTILE), st.from_regex(r"[a-z][a-z0-9_]{0,8}[a-z0-9]", fullmatch=True))


@st.composite
def pipelines(draw):
    """A valid spec: hostile params and steps, each step reading some params and upstream outputs."""
    params = draw(st.lists(NAME, min_size=2, max_size=6, unique_by=lambda n: n.replace("_", "-")))
    steps = draw(st.lists(NAME, min_size=1, max_size=6, unique_by=lambda n: n.replace("_", "-")))
    spec_steps = {}
    for i, name in enumerate(steps):
        reads = {f"p{j}": "${{ params.%s }}" % p for j, p in enumerate(params) if draw(st.booleans())}
        reads.update({f"u{j}": "${{ steps.%s.outputs.out }}" % u for j, u in enumerate(steps[:i]) if draw(st.booleans())})
        step = {"outputs": {"out": "string"}}
        if draw(st.booleans()):
            step.update(python="mod:fn", args=reads)
        else:
            step["command"] = ["echo", *reads.values()]
        if i and "foreach" not in spec_steps[steps[i - 1]] and draw(st.booleans()):
            step["when"] = f"steps.{steps[i - 1]}.outputs.out == params.{params[0]}"
        if draw(st.integers(0, 3)) == 0:
            step["foreach"] = "${{ params.%s }}" % params[-1]
        spec_steps[name] = step
    pipeline = draw(NAME)
    spec = {"apiVersion": "orch/v1", "name": pipeline,
            "params": {p: {"type": "json" if p == params[-1] else "string", "default": [1] if p == params[-1] else "v"}
                       for p in params},
            "steps": spec_steps}
    return build(spec, Source("<generated>", None))


def _scopes(tree: ast.Module):
    """(function node, enclosing function nodes) for every function of the pipeline part (orch's
    helpers bind no user's name)."""
    found = []

    def visit(node, outer):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef):
                found.append((child, outer))
                visit(child, outer + [child])
            else:
                visit(child, outer)

    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name not in HELPERS:
            found.append((node, []))
            visit(node, [node])
    return found


def _bindings(function: ast.FunctionDef) -> list[str]:
    """Every binding of the function's own scope, in order (parameters, assignments, inner defs)."""
    names = [a.arg for a in function.args.args + function.args.kwonlyargs]
    for node in _own_nodes(function):
        if isinstance(node, ast.FunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
    return names


def _own_nodes(function: ast.FunctionDef):
    """The nodes of the function's body, not those of functions inside it (their defs themselves yes)."""
    stack = list(function.body) + function.args.defaults
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef):
            stack.extend(ast.iter_child_nodes(node))
        else:
            stack.extend(node.decorator_list)


def _loads(function: ast.FunctionDef) -> set[str]:
    return {node.id for node in _own_nodes(function) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _check_module(source: str, graph, flow_parameters: bool):
    tree = ast.parse(source)
    module_level = [n for node in tree.body for n in _module_binding(node)]
    pipeline_part = [n for n in module_level if n not in HELPERS]
    assert len(pipeline_part) == len(set(pipeline_part)), f"a module name bound twice: {pipeline_part}"
    user = {ident(p) for p in graph.pipeline.params}  # bound as Python names only as the flow's parameters
    defined = set(module_level) | set(dir(builtins))
    for function, outer in _scopes(tree):
        bound = _bindings(function)
        rebinds = {t.id for node in _own_nodes(function) if isinstance(node, ast.Assign)
                   for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value, ast.Call)
                   and isinstance(node.value.func, ast.Name) and node.value.func.id == t.id}
        twice = [n for n in set(bound) if bound.count(n) > 1 and n not in rebinds]
        assert not twice, f"{function.name} binds {twice} twice"
        parameters = [a.arg for a in function.args.args]
        is_flow = function.name == Names(graph.pipeline, "flow").flow
        if is_flow and flow_parameters:
            assert set(parameters) == user
            packed = next(node for node in ast.walk(function) if isinstance(node, ast.Dict))  # Run({'p': p, ...})
            as_values = {id(v) for v in packed.values}
            elsewhere = [n.id for n in _own_nodes(function) if isinstance(n, ast.Name) and id(n) not in as_values]
            assert not user & set(elsewhere), f"the flow reads a user's name outside its params: {user & set(elsewhere)}"
        else:
            assert all(p.startswith("_") or p == "context" for p in parameters), f"{function.name}{parameters}"
        enclosing = {n for o in outer for n in _bindings(o)}
        for name in _loads(function) - set(bound):
            assert name not in enclosing, f"{function.name} reads {name!r}, which an enclosing scope binds"
            assert name in defined, f"{function.name} reads {name!r}, defined nowhere"


def _module_binding(node) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    return []


HELPERS = helper_names(prefect_render.RUNTIME) | helper_names(airflow_render.RUNTIME) | {
    "flow", "task", "Any", "annotations", "dag", "Param", "datetime", "CronTriggerTimetable", "KubernetesPodOperator",
    "k8s", "BOOTSTRAP", "RESULTS", "STEPS", "PIPELINE", "deployment"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines())
def test_rendered_python_keeps_user_names_apart(graph):
    _check_module(module_source(graph), graph, flow_parameters=True)
    _check_module(dag_source(graph), graph, flow_parameters=False)


def test_the_scheme_cannot_collide():
    """The facts `Names` rests on, over orch's own names (not over users' names: those it never lists)."""
    helpers = HELPERS | FIXED
    assert not [h for h in helpers if h.endswith(("_flow", "_dag"))]
    step_shaped = [h for h in helpers for k in KINDS if h.startswith("_") and h.endswith("_" + k) and len(h) > len(k) + 2]
    assert not step_shaped  # `_<step>_<kind>` needs a step's name between the underscores
    assert not [k for k in KINDS for other in KINDS if k != other and k.endswith("_" + other)]
    assert all(f.startswith("_") and f[1].isalpha() for f in FIXED)
    assert all(ident(word) != word for word in keyword.kwlist if word.islower())
    assert all(ident(word).endswith("_") for word in NOT_PARAMETERS)


def test_no_two_helper_files_bind_one_name():
    """The files pasted into a flow module or DAG file (typed, artifacts, steprun, transfer, the runtime) share
    one namespace: a name two of them bind would silently be the later one's (transfer's `_cause` was once
    typed's `_reason`)."""
    from collections import Counter

    from orch.backends.embed import CORE, _units

    for runtime in (prefect_render.RUNTIME, airflow_render.RUNTIME):
        bound = Counter(name for unit in _units(CORE + (runtime,)) if not unit.is_import for name in unit.binds)
        assert [name for name, count in bound.items() if count > 1] == [], runtime
