"""What a task's Python function does with what Airflow hands it, read from its source with `ast` (never run):
which context keys it takes out of its `**kwargs`, whether a parameter only reaches a log line, and whether a
`@task.bash` function returns one constant command.

Airflow fills a function's `**kwargs` (and parameters named after context keys) with its task context; orch
passes only the step's args. Where the body reads a key orch supplies (`ds`, `run_id`, `params`), the step gets
it as an arg; where it reads any other, or uses the mapping in a way no reading of the tree can follow, the
function would not get what it reads -- and the importer says so.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

LOG_CALLS = {"print", "debug", "info", "warning", "warn", "error", "exception", "critical", "log"}


@lru_cache(maxsize=64)
def _tree(file: str) -> ast.Module | None:
    try:
        return ast.parse(Path(file).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None


def function_node(function: dict) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The definition of the described callable (load.callable_of): by its name and first line (a decorated
    function's first line is its first decorator's)."""
    file, name, line = function.get("file"), function.get("name"), function.get("line")
    tree = _tree(file) if file else None
    if tree is None or not name:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if line in (first, node.lineno):
                return node
    return None


@dataclass
class Uses:
    """How a function's body uses one name: the constant keys it reads from it (`kw['ti']`, `kw.get('ds')`),
    whether it only logs it (an argument of print or a logger call), and any other use (`other`)."""

    keys: set = field(default_factory=set)
    logged: bool = False
    other: list = field(default_factory=list)  # line numbers of uses no reading follows

    @property
    def unused(self) -> bool:
        return not self.keys and not self.logged and not self.other


def uses_of(node: ast.AST, name: str, dead: frozenset = frozenset()) -> Uses:
    """Every load of `name` in the function's body (its own, not a nested function's rebinding of it), but those
    under `if D:` for a name D in `dead` (a parameter that always holds a falsy default: that branch never runs)."""
    found = Uses()
    parents = {child: parent for parent in ast.walk(node) for child in ast.iter_child_nodes(parent)}
    body = [one for statement in node.body for one in ast.walk(statement)]  # not its decorators (`@task`)
    for one in body:
        if not (isinstance(one, ast.Name) and one.id == name and isinstance(one.ctx, ast.Load)):
            continue
        if dead and _under_dead_if(one, parents, dead):
            continue
        parent = parents.get(one)
        if isinstance(parent, ast.Subscript) and parent.value is one and constant_text(parent.slice) is not None:
            found.keys.add(constant_text(parent.slice))
        elif isinstance(parent, ast.Attribute) and parent.value is one and parent.attr == "get" and \
                isinstance(parents.get(parent), ast.Call) and parents[parent].args and \
                constant_text(parents[parent].args[0]) is not None:
            found.keys.add(constant_text(parents[parent].args[0]))
        elif isinstance(parent, ast.Call) and one in parent.args and _called(parent) in LOG_CALLS:
            found.logged = True
        elif isinstance(parent, ast.FormattedValue) and _in_log_call(parent, parents):
            found.logged = True
        else:
            found.other.append(one.lineno)
    return found


def _under_dead_if(node: ast.AST, parents: dict, dead: frozenset) -> bool:
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.If) and child in parent.body and isinstance(parent.test, ast.Name) and \
                parent.test.id in dead:
            return True
        child, parent = parent, parents.get(parent)
    return False


def falsy_defaults(node: ast.AST) -> set[str]:
    """The function's parameters whose default is a falsy constant (None, False, 0, '')."""
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    pairs = [*zip(positional[len(positional) - len(arguments.defaults):], arguments.defaults),
             *((arg, default) for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults) if default)]
    return {arg.arg for arg, default in pairs if isinstance(default, ast.Constant) and not default.value}


def constant_return(node: ast.AST) -> str | None:
    """The text a function returns when its body (past a docstring) is exactly `return "<text>"`."""
    body = list(getattr(node, "body", []))
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and \
            isinstance(body[0].value.value, str) and len(body) > 1:
        body = body[1:]
    if len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Constant) and \
            isinstance(body[0].value.value, str):
        return body[0].value.value
    return None


def constant_text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _in_log_call(node: ast.AST, parents: dict) -> bool:
    """Whether `node` is part of an f-string that is itself an argument of a log call."""
    joined = parents.get(node)
    call = parents.get(joined)
    return isinstance(joined, ast.JoinedStr) and isinstance(call, ast.Call) and joined in call.args and \
        _called(call) in LOG_CALLS


def yields(node: ast.AST) -> list[ast.AST]:
    """The yields of the function itself (not of functions defined inside it): a generator's."""
    found, todo = [], list(ast.iter_child_nodes(node))
    while todo:
        one = todo.pop()
        if isinstance(one, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(one, (ast.Yield, ast.YieldFrom)):
            found.append(one)
        todo.extend(ast.iter_child_nodes(one))
    return found


def _statements(node: ast.AST) -> list:
    """The function's statements other than bare constants (its docstring, a stray string)."""
    return [one for one in getattr(node, "body", []) if not (isinstance(one, ast.Expr) and
                                                             isinstance(one.value, ast.Constant))]


def only_yields_metadata(node: ast.AST) -> bool:
    """Whether the body (past a docstring) is only `yield Metadata(...)` statements: asset metadata, nothing else."""
    body = _statements(node)
    return bool(body) and all(isinstance(one, ast.Expr) and isinstance(one.value, ast.Yield) and
                              isinstance(one.value.value, ast.Call) and _called(one.value.value) == "Metadata"
                              for one in body)


def constant_lambda(function: dict) -> tuple[bool, object]:
    """Whether the described callable is a lambda of no parameters whose body is one constant (`lambda: True`), the
    only lambda on its line; and that constant."""
    file, line = function.get("file"), function.get("line")
    tree = _tree(file) if file and function.get("name") == "<lambda>" else None
    found = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda) and node.lineno == line] if tree else []
    if len(found) != 1:
        return False, None
    arguments, body = found[0].args, found[0].body
    bare = not (arguments.posonlyargs or arguments.args or arguments.vararg or arguments.kwonlyargs or arguments.kwarg)
    return (True, body.value) if bare and isinstance(body, ast.Constant) else (False, None)


def context_calls(node: ast.AST) -> list[int]:
    """The lines where the function asks Airflow for its context (`get_current_context()`), which outside an
    Airflow task raises."""
    return [one.lineno for one in ast.walk(node) if isinstance(one, ast.Call) and _called(one) == "get_current_context"]


def only_raises_skip(node: ast.AST) -> bool:
    """Whether the body (past a docstring) is exactly `raise AirflowSkipException` (called or not): an operator
    whose every try ends skipped."""
    body = _statements(node)
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    raised = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    name = raised.attr if isinstance(raised, ast.Attribute) else getattr(raised, "id", "")
    return name == "AirflowSkipException"


def done_at_once(node: ast.AST) -> tuple[bool, object]:
    """Whether the body (past a docstring) is exactly `return True` or `return PokeReturnValue(True, <constant>)`
    (either by keyword): a sensor's poke that is done on its first call, doing nothing else; and its XCom value."""
    body = _statements(node)
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        return False, None
    value = body[0].value
    if isinstance(value, ast.Constant):
        return value.value is True, None
    if not (isinstance(value, ast.Call) and _called(value) == "PokeReturnValue" and len(value.args) <= 2):
        return False, None
    given = dict(zip(("is_done", "xcom_value"), value.args)) | {k.arg: k.value for k in value.keywords}
    if set(given) - {"is_done", "xcom_value"} or not all(isinstance(v, ast.Constant) for v in given.values()):
        return False, None
    done = given.get("is_done")
    return done is not None and done.value is True, given["xcom_value"].value if "xcom_value" in given else None
