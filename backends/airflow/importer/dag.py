"""One described DAG (load.py) as a spec: its params and schedule, a step per task nested in its task groups,
edges as `after`, branch and short-circuit skips as `when`, and the outputs other steps read.

The order of the passes: names (reading.py), params and schedule, steps (tasks.py), edges, conditions, outputs,
then the nesting into groups -- each reads what the earlier ones made.
"""

from __future__ import annotations

from pathlib import Path

from orch.core import groups as orch_groups
from orch.core.fidelity import Ledger

from .locate import Places
from .reading import Reading
from .retries import duration
from .schedule import dateless_runs, params_of, schedule_of
from .tasks import OUTPUT, kind_of, step_of

RAN = "ran"  # an empty step's output: its (empty) stdout, null unless the step succeeded

DISPLAY = {"doc_md", "tags", "dag_display_name", "owner_links", "access_control", "is_paused_upon_creation",
           "render_template_as_native_obj", "user_defined_macros", "user_defined_filters", "jinja_environment_kwargs",
           "template_searchpath", "template_undefined", "default_view", "orientation"}
NOT_IN_ORCH = {"on_success_callback": "a callback Airflow calls: orch has none (use a finally step)",
               "on_failure_callback": "a callback Airflow calls: orch has none (use a finally step)",
               "sla_miss_callback": "SLAs: orch has none", "max_consecutive_failed_dag_runs":
               "Airflow pauses the DAG after that many failed runs: orch never pauses a schedule",
               "deadline": "deadline alerts: orch has none", "allowed_run_types": "orch has no run types"}


def document_of(dag: dict) -> dict:
    """The fields the ledger must account for: the DAG's and each task's non-default ones, and the edges."""
    tasks = {}
    for task in dag["tasks"]:
        fields = {"operator": task["class"], **task["kwargs"], "upstream": task["upstream"]}
        if task["mapped"]:
            fields["expand"] = task["expand"]["value"]
        tasks[task["task_id"]] = fields
    return {"dag": {**dag["attributes"], "schedule": dag["timetable"]["type"], "params": dag["params"],
                    "task_groups": {g: {"mapped": info["mapped"]} for g, info in dag["groups"].items()}},
            "tasks": tasks}


def read_dag(dag: dict, folder: Path) -> Reading:
    places = Places(dag["fileloc"])
    dag_place = places.dag(dag["dag_id"])
    seen: dict[str, int] = {}  # tasks of one local name (in different groups), in the order Airflow made them
    task_places = {}
    for t in dag["tasks"]:
        local = t["task_id"].rpartition(".")[2]
        task_places[t["task_id"]] = places.task(t["task_id"], (t.get("callable") or {}).get("name"),
                                                (t.get("callable") or {}).get("line"), seen.get(local, 0))
        seen[local] = seen.get(local, 0) + 1

    def locate(path: tuple):
        if len(path) >= 2 and path[0] == "tasks" and path[1] in task_places:
            owner = task_places[path[1]]
            owner = owner if owner[0] else dag_place
            return places.field(owner, path[1], path[2]) if len(path) > 2 and isinstance(path[2], str) else owner
        if len(path) >= 2 and path[0] == "dag":
            return places.field(dag_place, None, path[1]) if path[1] not in ("task_groups",) else dag_place
        return dag_place

    reading = Reading(dag, Ledger(locate), folder)
    spec: dict = {"apiVersion": "orch/v1", "name": reading_name(reading)}
    attributes = dag["attributes"]
    if attributes.get("description"):
        spec["description"] = attributes["description"]
        reading.ledger.mapped(("dag", "description"), "description")
    params_of(reading, spec)
    for empty in ("params", "task_groups"):
        if not dag["params" if empty == "params" else "groups"]:
            reading.ledger.mapped(("dag", empty), note="none")
    schedule_of(reading, spec)
    dag_fields(reading, spec)
    for task in dag["tasks"]:
        reading.steps[reading.names[task["task_id"]]] = step_of(reading, task)
    if reading.undeclared_params:
        spec.setdefault("params", {}).update(reading.undeclared_params)
    dateless_runs(reading)
    edges(reading)
    conditions(reading)
    joins(reading)
    empty_fanouts(reading)
    groups_of(reading)
    declare_outputs(reading)
    if reading.templates:
        spec["templates"] = reading.templates
    spec["steps"] = nest(reading)
    hoist_defaults(spec)
    run_state(reading, spec)
    reading.spec = spec
    return reading


def reading_name(reading: Reading) -> str:
    from orch.core.names import name_problem, suggest_name

    dag_id = reading.dag["dag_id"]
    limit = 52 if reading.dag["timetable"]["type"] != "NullTimetable" else 63
    name = dag_id if not name_problem(dag_id, limit) else suggest_name(dag_id)[:limit].rstrip("-_")
    if name != dag_id:
        reading.ledger.approximated(("dag", "dag_id"), f"the pipeline is named {name!r}: {dag_id!r} is not a valid "
                                                       "orch name", "name")
    return name


def dag_fields(reading: Reading, spec: dict) -> None:
    ledger = reading.ledger
    for key, value in reading.dag["attributes"].items():
        at = ("dag", key)
        if key in DISPLAY:
            ledger.approximated(at, "display only: Airflow shows it, orch does not keep it")
        elif key in NOT_IN_ORCH:
            ledger.unsupported(at, NOT_IN_ORCH[key])
        elif key == "dagrun_timeout" and isinstance(value, dict):
            spec["timeout"] = duration(value["seconds"])
            ledger.mapped(at, "timeout")
        elif key == "fail_fast" and value:
            spec["fail_fast"] = True
            ledger.approximated(at, "Airflow also stops the running tasks and marks the others skipped; orch lets "
                                    "running steps finish and ends the others upstream_failed (per scope: a failure "
                                    "in a task group stops that group's steps, the others once the group failed)",
                                "fail_fast")
        elif key == "max_active_tasks":
            ledger.approximated(at, "orch bounds running steps by its backend's capacity, not per pipeline")


def run_state(reading: Reading, spec: dict) -> None:
    """Airflow's run state comes from its leaf tasks (models/dagrun.py): a leaf that runs after a failure (an alert, a
    cleanup) and succeeds makes the run succeed, and a failed or upstream_failed leaf fails it -- orch's
    `state_from: leaves`, where a leaf can run after a failure (else both judge alike, and the spec keeps the default).
    A leaf inside a task group is judged in orch through its group, as one member: said where that is so."""
    tolerant = [t["task_id"] for t in reading.dag["tasks"] if not t["downstream"]
                and t["kwargs"].get("trigger_rule", "all_success") not in ("all_success", "none_skipped", "all_skipped")]
    if not tolerant:
        return
    steps = spec.pop("steps")
    spec["state_from"], spec["steps"] = "leaves", steps  # written above the steps
    grouped = [task for task in tolerant if orch_groups.parent(reading.names[task])]
    if grouped:
        why = (f"Airflow's run state comes from its leaf tasks ({', '.join(tolerant)} can run after a failure); orch "
               f"judges the top-level leaves, so {', '.join(grouped)} counts through its task group, which fails when "
               "any step inside it failed")
        reading.ledger.approximated(("dag", "run_state"), why, "state_from")
        reading.header.append(why)
    else:
        reading.ledger.mapped(("dag", "run_state"), "state_from", f"Airflow's run state comes from its leaf tasks "
                                                                  f"({', '.join(tolerant)} can run after a failure)")


def edges(reading: Reading) -> None:
    """Each Airflow upstream task as an `after` entry: the task, or the group holding it beside the step's scope."""
    for task in reading.dag["tasks"]:
        name = reading.names[task["task_id"]]
        after = []
        for upstream in task["upstream"]:
            target = _visible(orch_groups.parent(name), reading.names[upstream])
            if target not in after:
                after.append(target)
        if after:
            reading.steps[name]["after"] = after
        reading.ledger.mapped(("tasks", task["task_id"], "upstream"), reading.target(task, "after"))


def _visible(scope: str, other: str) -> str:
    """The local name by which a step in `scope` names `other` (or the group holding it beside an enclosing scope)."""
    common = scope
    while common and not orch_groups.inside(other, common):
        common = orch_groups.parent(common)
    rest = other[len(common) + 1:] if common else other
    return rest.split(orch_groups.SEP, 1)[0]


def conditions(reading: Reading) -> None:
    """A branch's unchosen direct downstream steps, and a short-circuit's skipped ones, as `when`s on its output."""
    dag_tasks = reading.tasks
    for task_id, kind in reading.branches.items():
        task = dag_tasks[task_id]
        if kind == "branch":
            reading.outputs.setdefault(reading.names[task_id], {})[OUTPUT] = "json"
            candidates = task["downstream"]
            for down in candidates:
                reader = dag_tasks[down]
                ref = reading.reference(reader, task_id, OUTPUT, bare=True)
                chosen = [c for c in candidates if c == down or down in descendants(dag_tasks, c)]
                tests = []
                for c in chosen:
                    clash = any(c in other for other in candidates if other != c)
                    tests.append(f"{ref} == '{c}'" if clash else f"{ref} == '{c}' or '{c}' in {ref}")
                also_when(reading.steps[reading.names[down]], " or ".join(tests))
                reading.ledger.mapped(("tasks", task_id, "downstream", down), reading.target(reader, "when"))
            reading.note(task, "", "a branch: it returns the task_id(s) to follow; the steps after it test that "
                                   "output in `when`")
        else:
            reading.outputs.setdefault(reading.names[task_id], {})[OUTPUT] = "boolean"
            ignore = task["kwargs"].get("ignore_downstream_trigger_rules", True)
            for down in (descendants(dag_tasks, task_id) if ignore else task["downstream"]):
                reader = dag_tasks[down]
                ref = reading.reference(reader, task_id, OUTPUT, bare=True)
                also_when(reading.steps[reading.names[down]], f"not ({ref} == false)")
            if "python" not in reading.steps[reading.names[task_id]]:
                continue  # a constant lambda's command writes the constant's truth itself
            why = ("a short-circuit: orch's output is a boolean, so the function must return True or False "
                   "(Airflow takes any value's truth)")
            reading.ledger.approximated(("tasks", task_id, "python_callable"), why, reading.target(task, "outputs"))
            reading.note(task, "outputs", why)


def also_when(step: dict, test: str) -> None:
    """`test` beside the `when` the step has: a task after two branches (or short-circuits) runs only if neither
    skips it -- each skips it on its own in Airflow; a step that always skips (`when: false`) still does."""
    if step.get("when") is False:
        return
    step["when"] = f"({step['when']}) and ({test})" if step.get("when") else test


def joins(reading: Reading) -> None:
    """A none_failed_min_one_success (or one_success) join after a branch: orch's none_failed would run it when the
    branch chose none of its paths; a `when` on the branch's choice skips it then, as Airflow does."""
    tasks = reading.tasks
    for task_id, why in reading.pending_joins.items():
        task = tasks[task_id]
        if not join_of(reading, task):
            rule = task["kwargs"]["trigger_rule"]
            reading.ledger.approximated(("tasks", task_id, "trigger_rule"), why, reading.target(task, "trigger"))
            reading.note(task, "trigger", f"Airflow trigger_rule {rule}: {why}")


def join_of(reading: Reading, task: dict) -> bool:
    """The join's exact form (its upstream steps all empty: a `when` that one of them succeeded), or its form after a
    branch (a `when` on the branch's choice); False if neither."""
    tasks, task_id = reading.tasks, task["task_id"]
    rule = task["kwargs"]["trigger_rule"]
    step = reading.steps[reading.names[task_id]]
    if "when" in step:
        return False
    if rule == "none_failed_min_one_success" and all(kind_of(tasks[u]) == "empty" for u in task["upstream"]):
        tests = []
        for upstream in task["upstream"]:
            reading.outputs.setdefault(reading.names[upstream], {})[RAN] = {"type": "string", "from": "stdout"}
            tests.append(f"{reading.reference(task, upstream, RAN, bare=True)} != null")
        step["when"] = " or ".join(tests)
        reading.ledger.mapped(("tasks", task_id, "trigger_rule"), reading.target(task, "when"),
                              "none_failed, and a `when` that one upstream step succeeded: each is an empty step "
                              f"whose output {RAN!r} (its stdout, empty) is null unless it succeeded")
        return True
    nearest = sorted(reading.branches.items(), key=lambda item: len(descendants(tasks, item[0])))
    for branch_id, kind in nearest:
        paths = [c for c in tasks[branch_id]["downstream"] if c == task_id or task_id in descendants(tasks, c)]
        reach = set().union(*({c, *descendants(tasks, c)} for c in tasks[branch_id]["downstream"]))
        if kind != "branch" or not paths or not all(u in reach or u == branch_id for u in task["upstream"]):
            continue
        ref = reading.reference(task, branch_id, OUTPUT, bare=True)
        step["when"] = " or ".join(f"{ref} == '{c}' or '{c}' in {ref}" for c in paths)
        why = (f"{rule} after the branch {branch_id!r}: none_failed, and a `when` skipping it when the branch chose "
               "none of its paths (the same unless something between them skips every path it did choose)")
        reading.ledger.approximated(("tasks", task_id, "trigger_rule"), why, reading.target(task, "when"))
        reading.note(task, "trigger", why)
        return True
    return False


def empty_fanouts(reading: Reading) -> None:
    """A task mapped over an upstream task's list: Airflow marks it skipped when the list is empty, once its trigger
    rule let it run (models/taskmap.py); orch's fan-out over [] succeeds. A `when` that the list is not empty,
    beside any the step has, skips it as Airflow does (a `when` is decided after the trigger, once per fan-out)."""
    for task_id, ref in reading.empty_maps.items():
        step = reading.steps[reading.names[task_id]]
        test = f"{ref} != []"
        step["when"] = f"({step['when']}) and {test}" if step.get("when") else test


def descendants(tasks: dict, task_id: str) -> list[str]:
    found, todo = [], list(tasks[task_id]["downstream"])
    while todo:
        one = todo.pop(0)
        if one not in found:
            found.append(one)
            todo.extend(tasks[one]["downstream"])
    return found


def groups_of(reading: Reading) -> None:
    """Each task group as an orch group; a mapped one's `expand` as its `foreach`."""
    for group_id, info in reading.group_info.items():
        name = reading.names[group_id]
        group: dict = {}
        at = ("dag", "task_groups", group_id)
        if info["mapped"]:
            over = info.get("expand") or {}
            if isinstance(over, dict) and len(over) == 1:
                (key, value), = over.items()
                group["foreach"] = value if isinstance(value, list) else None
                reading.ledger.approximated(at, f"a mapped task group over {key!r}: its tasks read the item as "
                                                "${{ item }}", f"steps.{name}.foreach")
                if group["foreach"] is None:
                    reading.ledger.unsupported(at, "a mapped task group over a value orch cannot list")
                    group.pop("foreach")
            else:
                reading.ledger.unsupported(at, "a mapped task group over several arguments")
        else:
            reading.ledger.mapped(at, "steps." + ".steps.".join(name.split(orch_groups.SEP)))
        reading.steps[name] = group


def declare_outputs(reading: Reading) -> None:
    for task_id, task in reading.tasks.items():
        declared = reading.outputs.get(reading.names[task_id], {})
        if task["kwargs"].get("multiple_outputs") and len(declared) == 1 and OUTPUT not in declared:
            why = ("the function returns a mapping of which one key is read; a step with one output gets the whole "
                   "returned value as it, so the reader gets the mapping, not its key")
            reading.ledger.approximated(("tasks", task_id, "multiple_outputs"), why, reading.target(task, "outputs"))
            reading.note(task, "outputs", why)
        if task_id in reading.bash and OUTPUT in declared:
            declared[OUTPUT] = {"type": "string", "from": "stdout"}
            why = ("Airflow's XCom of a bash command is its stdout's last line; orch's output is the whole stdout "
                   "(the same for a command printing one line)")
            reading.ledger.approximated(("tasks", task_id, "do_xcom_push"), why, reading.target(task, "outputs"))
            reading.note(task, "outputs", why)
    for name, outputs in reading.outputs.items():
        step = reading.steps[name]
        if name in reading.group_names():
            step["outputs"] = dict(outputs)
        else:
            step["outputs"] = dict(outputs)


FIELD_ORDER = ("python", "command", "image", "args", "env", "packages", "foreach", "parallelism", "after", "trigger",
               "when", "retries", "timeout", "resources", "kubernetes", "steps", "outputs")


def nest(reading: Reading) -> dict:
    """The flat steps and groups, by qualified name, as the spec's nested `steps:` -- in the DAG's order (a group
    where its first task is), each step's fields in one order."""
    first: dict[str, int] = {}
    for i, task in enumerate(reading.dag["tasks"]):
        name = reading.names[task["task_id"]]
        for scope in [name, *_scopes_of(name)]:
            first.setdefault(scope, i)
    root: dict = {}
    for name in sorted(reading.steps, key=lambda n: (n.count(orch_groups.SEP), first.get(n, 0))):
        holder = root
        for part in name.split(orch_groups.SEP)[:-1]:
            holder = holder[part].setdefault("steps", {})
        fields = {**reading.steps[name], **holder.get(orch_groups.local(name), {})}
        if fields.get("retries") == {"limit": 0}:
            fields.pop("retries")  # no retries: orch's default
        holder[orch_groups.local(name)] = {key: fields[key] for key in sorted(fields, key=_field_rank)}
    return root


def _field_rank(key: str) -> int:
    return FIELD_ORDER.index(key) if key in FIELD_ORDER else len(FIELD_ORDER)


def _scopes_of(name: str) -> list[str]:
    found = []
    while orch_groups.SEP in name:
        name = orch_groups.parent(name)
        found.append(name)
    return found


def hoist_defaults(spec: dict) -> None:
    """Retries every step has alike (Airflow's default_args): once, in `defaults`."""
    steps = list(_leaf_steps(spec["steps"]))
    shared = steps[0].get("retries") if steps else None
    if len(steps) < 2 or shared is None or any(step.get("retries") != shared for step in steps):
        return
    for step in steps:
        step.pop("retries")
    spec["defaults"] = {"retries": shared}


def _leaf_steps(steps: dict):
    for step in steps.values():
        if "steps" in step:
            yield from _leaf_steps(step["steps"])
        else:
            yield step
