"""Where a DAG's tasks and fields are written: line and column from the DAG file's own syntax tree.

Airflow does not record where an operator was made, so the file is read again: an operator is the call with
`task_id='…'`, a TaskFlow task the function definition of its callable, a field the keyword of that call, or
else the `default_args` entry that gave it. An entry found nowhere gets the task's (or the DAG's) place.
"""

from __future__ import annotations

import ast
from pathlib import Path

Place = tuple  # (line, col), 1-based


class Places:
    """The places in one DAG file."""

    def __init__(self, path: str):
        try:
            self.tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            self.tree = ast.Module(body=[], type_ignores=[])
        self.calls: dict[str, ast.Call] = {}  # task_id -> the first call that made it
        self.all_calls: dict[str, list] = {}  # task_id -> every call naming it, in the file's order
        self.functions: dict[str, ast.AST] = {}  # function name -> its def
        self.keys: dict[str, ast.AST] = {}  # a dict key's text -> its first place (default_args entries)
        self.dags: dict[str, ast.AST] = {}
        self.placed: dict[str, ast.AST] = {}  # task_id -> the node task() found for it
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg in ("task_id", "dag_id", "group_id") and isinstance(keyword.value, ast.Constant):
                        target = self.dags if keyword.arg == "dag_id" else self.calls
                        target.setdefault(str(keyword.value.value), node)
                        if keyword.arg == "task_id":
                            self.all_calls.setdefault(str(keyword.value.value), []).append(node)
                if _name(node.func) in ("DAG", "dag") and node.args and isinstance(node.args[0], ast.Constant):
                    self.dags.setdefault(str(node.args[0].value), node)
                if _name(node.func) == "TaskGroup" and node.args and isinstance(node.args[0], ast.Constant):
                    self.calls.setdefault(str(node.args[0].value), node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.setdefault(node.name, node)
            elif isinstance(node, ast.Dict):
                for key in node.keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        self.keys.setdefault(key.value, key)

    def task(self, task_id: str, function: str | None = None, line: int | None = None, occurrence: int = 0) -> Place:
        """The call that made `task_id` (its `occurrence`-th task of that name, tasks in groups sharing one)."""
        local = task_id.rpartition(".")[2]
        calls = self.all_calls.get(task_id) or self.all_calls.get(local) or []
        node = calls[min(occurrence, len(calls) - 1)] if calls else None
        node = node or (self.functions.get(function) if function else None)
        if node is None and line:
            return (line, 1)
        if node is not None:
            self.placed[task_id] = node
        return _at(node) if node is not None else (None, None)

    def dag(self, dag_id: str, function: str | None = None) -> Place:
        node = self.dags.get(dag_id) or self.functions.get(dag_id) or (self.functions.get(function) if function else None)
        return _at(node) if node is not None else (1, 1)

    def field(self, owner: Place, task_id: str | None, key: str) -> Place:
        """The keyword `key` of the call that made `task_id`, else a `default_args` entry, else `owner`."""
        call = self.placed.get(task_id) if task_id else None
        for keyword in call.keywords if isinstance(call, ast.Call) else ():
            if keyword.arg == key:
                return _at(keyword.value)
        if key in self.keys:
            return _at(self.keys[key])
        return owner


def _name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _at(node: ast.AST) -> Place:
    return (node.lineno, node.col_offset + 1)
