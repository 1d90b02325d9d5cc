"""The state of reading one DAG into a spec: the orch name of each task and group, the steps as they are built,
the outputs other steps read, the comments for the spec text -- and the ledger every field's fate goes to.

Names: a task's step is named after its task_id within its group (`g.t` -> step `t` inside group `g`), made a
valid orch name where it is not one (and reported). A reference to a task's XCom is the output `return_value`
(the XCom's key: a `multiple_outputs` key is the output of that name), passed up through each group between
the two steps as a group output named `<step>_<output>`.
"""

from __future__ import annotations

import re
from pathlib import Path

from orch.core import groups as orch_groups
from orch.core.fidelity import Ledger
from orch.core.names import name_problem, suggest_name

MODULE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
FUNCTION = re.compile(r"^[A-Za-z_]\w*$")


class Reading:
    def __init__(self, dag: dict, ledger: Ledger, folder: Path):
        self.dag, self.ledger, self.folder = dag, ledger, folder
        self.tasks = {task["task_id"]: task for task in dag["tasks"]}
        self.group_info = dag["groups"]
        self.names: dict[str, str] = {}  # task_id or group_id -> qualified orch name
        self.steps: dict[str, dict] = {}  # qualified orch name -> step (groups: their fields but `steps`)
        self.outputs: dict[str, dict] = {}  # qualified step or group -> output name -> type or group reference
        self.comments: dict[tuple, list[str]] = {}
        self.branches: dict[str, str] = {}  # task_id -> 'branch' or 'short_circuit'
        self.bash: dict[str, bool] = {}
        self.reads: dict[str, set] = {}
        self.param_types: dict[str, str] = {}
        self.undeclared_params: dict[str, dict] = {}  # params a template reads that the DAG does not declare
        self.templates: dict[str, dict] = {}  # the spec's reusable steps (context_call.py's command)
        self.header: list[str] = []  # what the spec text says above everything
        self.spec: dict = {}  # the spec, once dag.read_dag has made it
        self.pending_joins: dict[str, str] = {}  # task_id -> what differs if no exact join form is found
        self.empty_maps: dict[str, str] = {}  # mapped task_id -> the bare reference to the list it maps over
        self._name_all()

    def declare_param(self, name: str) -> bool:
        """A param a template reads (`{{ params.foo }}`) that the DAG does not declare, as a required text param:
        Airflow renders it from the run's conf, and fails the task (StrictUndefined) in a run whose conf lacks it."""
        if name_problem(name):
            return False
        self.param_types.setdefault(name, "string")
        self.undeclared_params[name] = {"type": "string", "description": "read by a template; not declared by the DAG"}
        return True

    def group_names(self) -> set:
        return {self.names[g] for g in self.group_info}

    # --- names ------------------------------------------------------------------------------------------------

    def _name_all(self) -> None:
        """Outer scopes first, so a name inside a group never hides one outside it that a step there may read
        (orch reads `steps.X` as the sibling X first): an inner task or group of such a name is renamed."""
        taken: dict[str, set] = {}

        def name(item_id: str, scope_id: str | None, prefix: bool, label: str | None = None) -> tuple[str, bool]:
            scope = self.names.get(scope_id, "") if scope_id else ""
            local = label or (item_id[len(scope_id) + 1:] if scope_id and prefix and item_id.startswith(scope_id + ".")
                              else item_id)
            wanted = local if not name_problem(local) else suggest_name(local)
            outer = set().union(*(taken.get(s, set()) for s in _enclosing(scope)))
            used = taken.setdefault(scope, set())
            chosen, n = wanted, 2
            while chosen.replace("_", "-") in used or chosen.replace("_", "-") in outer:
                chosen, n = f"{wanted[:58]}-{n}", n + 1
            used.add(chosen.replace("_", "-"))
            return orch_groups.qualify(scope, chosen), chosen != local

        items = [(g, info["parent"], True) for g, info in self.group_info.items()] + \
                [(t, task["group"], False) for t, task in self.tasks.items()]
        items.sort(key=lambda item: self._depth(item[1]))  # stable: the DAG's order within a depth
        for item_id, parent, is_group in items:
            prefix = self.group_info[parent]["prefix"] if parent else True
            label = self.group_info[item_id]["label"] if is_group else None
            self.names[item_id], renamed = name(item_id, parent, prefix, label)
            if renamed:
                at = ("dag", "task_groups", item_id) if is_group else ("tasks", item_id, "task_id")
                self.ledger.approximated(at, f"named {orch_groups.local(self.names[item_id])!r}: {item_id!r} is not "
                                             "a valid orch name, or its name is taken outside its group",
                                         self.spec_path_text(item_id))

    def _depth(self, group_id: str | None) -> int:
        depth = 0
        while group_id:
            depth, group_id = depth + 1, self.group_info[group_id]["parent"]
        return depth

    def spec_path(self, item_id: str) -> tuple:
        parts = self.names[item_id].split(orch_groups.SEP)
        path: tuple = ()
        for part in parts:
            path = (*path, "steps", part)
        return path

    def spec_path_text(self, item_id: str, field: str = "") -> str:
        text = ".".join(self.spec_path(item_id))
        return f"{text}.{field}" if field else text

    def target(self, task: dict, field: str) -> str:
        return self.spec_path_text(task["task_id"], field)

    def note(self, task: dict, field: str, text: str) -> None:
        path = (*self.spec_path(task["task_id"]), field) if field else self.spec_path(task["task_id"])
        found = self.comments.setdefault(path, [])
        if text not in found:
            found.append(text)

    # --- code ---------------------------------------------------------------------------------------------------

    def python_target(self, task: dict, function: dict) -> str:
        at = ("tasks", task["task_id"], "python_callable")
        name = function.get("name") or "missing"
        module = self.module_of(function)
        target = f"{module}:{name}"
        if not FUNCTION.match(name) or not MODULE.match(module):
            self.ledger.unsupported(at, f"{function.get('qualname') or name!r} in {module!r} cannot be named as "
                                        "module:function")
            return "unimportable:function"
        if function.get("at_top"):
            self.ledger.mapped(at, self.target(task, "python"), "importing the module runs the DAG file, as "
                                                                 "Airflow's parser does")
        elif function.get("decorated_at_top"):
            why = (f"{name} in {module} is Airflow's @task-decorated task, not the function: orch calls "
                   f"{target}, so keep the plain function under that name (and decorate a copy for Airflow)")
            self.ledger.approximated(at, why, self.target(task, "python"))
            self.note(task, "python", why)
        else:
            outer = (function.get("qualname") or "").rpartition(".<locals>.")[0] or "a function"
            why = (f"{name} is defined inside {outer}: orch calls {target}, so it must be at the module's top "
                   "level (move it there, unchanged)")
            self.ledger.approximated(at, why, self.target(task, "python"))
            self.note(task, "python", why)
        return target

    def module_of(self, function: dict) -> str:
        module = function.get("module") or ""
        source = function.get("module_file") or function.get("file")
        if module.startswith("unusual_prefix_") and source:  # Airflow's name for a DAG file: its path from the folder
            try:
                relative = Path(source).resolve().relative_to(self.folder.resolve())
            except ValueError:
                relative = Path(Path(source).name)
            return ".".join(relative.with_suffix("").parts)
        return module

    # --- references ---------------------------------------------------------------------------------------------

    def reference(self, reader: dict, source_id: str, output: str, bare: bool = False) -> str | None:
        """The text of a reference from `reader`'s step to `source_id`'s output `output`, declaring that output
        (and the group outputs carrying it out of its groups). None if no such task."""
        if source_id not in self.tasks or source_id == reader["task_id"]:
            return None
        name = output_name(output)
        source = self.names[source_id]
        self.outputs.setdefault(source, {}).setdefault(name, "json")
        common = _common_scope(orch_groups.parent(self.names[reader["task_id"]]), source)
        holder, carried = source, name
        while orch_groups.parent(holder) != common:
            group = orch_groups.parent(holder)
            group_output = f"{orch_groups.local(holder)}_{carried}"[:63]
            self.outputs.setdefault(group, {})[group_output] = \
                f"${{{{ steps.{orch_groups.local(holder)}.outputs.{carried} }}}}"
            holder, carried = group, group_output
        text = f"steps.{orch_groups.local(holder)}.outputs.{carried}"
        return text if bare else f"${{{{ {text} }}}}"

    def xcom_reference(self, reader: dict, source_id: str, key: str) -> str | None:
        """A pulled XCom's reference: `return_value`, or a key of a python task's `multiple_outputs`."""
        source = self.tasks.get(source_id)
        if source is None or (key != "return_value" and not source["kwargs"].get("multiple_outputs")) or \
                (key != "return_value" and "PythonOperator" not in source["bases"]):
            return None
        return self.reference(reader, source_id, key)

    def expand(self, task: dict, step: dict, args: dict) -> None:
        """A mapped task's `.expand(...)` as the step's `foreach` over one argument."""
        from .values import value_of

        expand, at = task.get("expand") or {}, ("tasks", task["task_id"], "expand")
        mapped = expand.get("value") or {}
        if expand.get("kind") != "DictOfListsExpandInput" or not isinstance(mapped, dict) or len(mapped) != 1:
            self.ledger.unsupported(at, "orch's foreach maps one list: this maps " + (
                "the product of several" if isinstance(mapped, dict) and len(mapped) > 1 else "a list of argument sets"))
            return
        (key, over), = mapped.items()
        if isinstance(over, dict) and over.get("__kind__") == "xcom":
            step["foreach"] = value_of(self, task, over, (*at, key))
        elif isinstance(over, list):
            step["foreach"] = over
            self.ledger.mapped((*at, key), self.target(task, "foreach"))
        else:
            self.ledger.unsupported((*at, key), "orch's foreach takes a list or an output reference")
            return
        if "command" not in step:
            args[key] = "${{ item }}"
        foreach = step["foreach"]
        if isinstance(foreach, str) and foreach.startswith("${{ ") and foreach.endswith(" }}"):
            self.empty_maps[task["task_id"]] = foreach[len("${{ "):-len(" }}")]  # dag.empty_fanouts: its `when`
            self.ledger.mapped(at, self.target(task, "when"), "an empty list: Airflow skips the mapped task "
                                                              "(taskmap.py), and so does the step's `when` on it")
        elif foreach:
            self.ledger.mapped(at, self.target(task, "foreach"), "a literal list, not empty")
        else:
            self.ledger.approximated(at, "an empty list: Airflow skips the mapped task (and its all_success "
                                         "downstream tasks); orch's fan-out succeeds with [] and they run",
                                     self.target(task, "foreach"))
            self.note(task, "foreach", "Airflow skips a mapped task over an empty list; orch succeeds with []")
        limit = task["kwargs"].get("max_active_tis_per_dagrun")
        if limit:
            step["parallelism"] = limit
            self.ledger.mapped(("tasks", task["task_id"], "max_active_tis_per_dagrun"), self.target(task, "parallelism"))


def output_name(key: str) -> str:
    """The orch output an XCom key becomes: the key, or a valid name made from it."""
    return key if not name_problem(key) else suggest_name(key)


def _enclosing(scope: str) -> list[str]:
    """The scopes around `scope`, out to the pipeline's ('')."""
    found = []
    while scope:
        scope = orch_groups.parent(scope)
        found.append(scope)
    return found


def _common_scope(scope: str, name: str) -> str:
    """The innermost group (or '') holding both `scope` and `name`."""
    while scope and not orch_groups.inside(name, scope):
        scope = orch_groups.parent(scope)
    return scope

