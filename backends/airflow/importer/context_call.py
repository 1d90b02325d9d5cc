"""A task function that uses Airflow's context objects -- `ti`'s XCom calls, `outlet_events`, `inlet_events` -- as a
python3 command that calls it with stand-ins for them: orch passes a step only its args, and a function handed no
`ti` fails where Airflow's succeeds.

Read from the function's source (never run): every use of the context must be one the stand-ins answer exactly --
`ti.xcom_push(KEY, value)` and `ti.xcom_pull(task_ids=TASK, key=KEY)` with constant names (through `kwargs["ti"]`,
a parameter `ti`, or a local bound once to either), `outlet_events[...].add(...)` or `.extra`, and a loop over
`inlet_events[...]`. The function must take nothing else (no op_args, op_kwargs or XComArgs). Then:

- the command, written once as the spec's template `airflow_context`, gets the call's shape (its `with`); each
  pulled XCom is an env var holding its producer's output (`AIRFLOW_XCOM_<i>: ${{ steps.T.outputs.K }}`, JSON
  text), and each pushed key is an output of the step holding the value's JSON text (so it arrives exactly), its
  return value the value itself (`return_value`, as a python step's: other steps read it too);
- asset events go nowhere and none come in: orch emits and keeps none (said, approximated).

The command runs the function in `python3` on the step's PATH, which must import its module (and Airflow, which
the DAG file imports), as a python step does.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field

from .body import constant_text as _text
from .reading import output_name

TEMPLATE = "airflow_context"  # the spec's template holding the command, once
STAND_INS = {"ti": "ti", "task_instance": "ti", "outlet_events": "outlet_events", "inlet_events": "inlet_events"}
DRIVER = '''import importlib, json, os, sys
shape = json.loads(sys.argv[1])
def value(text):
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return text
texts = [os.environ.get("AIRFLOW_XCOM_%d" % i, "") for i in range(len(shape["pulls"]))]
pulled = {tuple(pull): value(text) for pull, text in zip(shape["pulls"], texts)}
class TaskInstance:
    def __init__(self):
        self.pushed = {}
    def xcom_push(self, key, value):
        self.pushed[key] = value
    def xcom_pull(self, task_ids, key="return_value"):
        return pulled[(task_ids, key)]
class Event:
    def __init__(self):
        self.extra = {}
    def add(self, *args, **kwargs):
        pass
class OutletEvents:
    def __getitem__(self, key):
        return Event()
class InletEvents:
    def __getitem__(self, key):
        return []
ti = TaskInstance()
context = {"ti": ti, "task_instance": ti, "outlet_events": OutletEvents(), "inlet_events": InletEvents()}
module, name = shape["target"].split(":")
function = getattr(importlib.import_module(module), name)
given = {}
for parameter, key in shape["given"].items():
    given.update(context if key == "**" else {parameter: context[key]})
returned = function(**given)
folder = os.environ.get("ORCH_OUTPUTS")
for key, output in (shape["outputs"].items() if folder else ()):
    with open(os.path.join(folder, output), "w", encoding="utf-8") as handle:
        json.dump(returned if key == "return_value" else json.dumps(ti.pushed.get(key)), handle)
'''


@dataclass
class Uses:
    """What the function does with Airflow's context: the XComs it pulls and pushes, the events it touches."""

    given: dict = field(default_factory=dict)  # parameter -> its stand-in's key, or "**" for the whole context
    pulls: list = field(default_factory=list)  # (task_ids, key), in the order written
    pushes: list = field(default_factory=list)
    events: set = field(default_factory=set)


def read_uses(node: ast.AST, function: dict) -> Uses | None:
    """The function's uses of the context, where every one is a use the stand-ins answer; else None."""
    uses = Uses()
    for name, kind, has_default in function.get("parameters", []):
        if kind == "VAR_KEYWORD":
            uses.given[name] = "**"
        elif name in STAND_INS and has_default:
            uses.given[name] = STAND_INS[name]
        else:
            return None  # a parameter that is no stand-in: the function takes more than the context
    parents = {child: parent for parent in ast.walk(node) for child in ast.iter_child_nodes(parent)}
    loads = [one for statement in node.body for one in ast.walk(statement)
             if isinstance(one, ast.Name) and isinstance(one.ctx, ast.Load)]
    aliases = _aliases(node, parents, uses.given)
    found = False
    for one in loads:
        if one.id in aliases:
            key, at = aliases[one.id], one
        elif one.id in uses.given:
            key, at = uses.given[one.id], one
            if key == "**":
                subscript = parents.get(one)
                key = _constant_key(subscript) if isinstance(subscript, ast.Subscript) and subscript.value is one else None
                if key not in STAND_INS or _is_alias_value(subscript, parents):
                    if key in STAND_INS:
                        continue  # `ti = kwargs["ti"]`: the alias's uses are read instead
                    return None
                key, at = STAND_INS[key], subscript
        else:
            continue
        if not _answered(key, at, parents, uses, aliases):
            return None
        found = True
    return uses if found else None


def _aliases(node: ast.AST, parents: dict, given: dict) -> dict:
    """Locals bound once, to a stand-in (`ti = kwargs["ti"]`, `events = outlet_events`): name -> its key."""
    bound: dict[str, list] = {}
    for one in ast.walk(node):
        if isinstance(one, ast.Assign) and len(one.targets) == 1 and isinstance(one.targets[0], ast.Name):
            bound.setdefault(one.targets[0].id, []).append(one.value)
        elif isinstance(one, (ast.AugAssign, ast.AnnAssign, ast.For, ast.With, ast.NamedExpr)):
            for target in ast.walk(one.target if hasattr(one, "target") else one):
                if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store):
                    bound.setdefault(target.id, []).append(None)
    once = {name: values[0] for name, values in bound.items() if len(values) == 1 and values[0] is not None}
    found = {}
    for name, value in once.items():
        if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name) and given.get(value.value.id) == "**" \
                and _constant_key(value) in STAND_INS:
            found[name] = STAND_INS[_constant_key(value)]
    known = {**{n: k for n, k in given.items() if k != "**"}, **found}
    while True:  # `other = ti`, `again = other`: an alias of an alias
        more = {name: known[value.id] for name, value in once.items()
                if isinstance(value, ast.Name) and value.id in known and name not in known}
        if not more:
            return {name: key for name, key in known.items() if name not in given}
        known.update(more)


def _is_alias_value(subscript: ast.AST, parents: dict) -> bool:
    parent = parents.get(subscript)
    return isinstance(parent, ast.Assign) and parent.value is subscript and len(parent.targets) == 1 and \
        isinstance(parent.targets[0], ast.Name)


def _answered(key: str, at: ast.AST, parents: dict, uses: Uses, aliases: dict) -> bool:
    """Whether this use of a stand-in is one it answers exactly (recorded in `uses`)."""
    parent = parents.get(at)
    if isinstance(parent, ast.Assign) and parent.value is at and isinstance(at, ast.Name):
        return all(isinstance(t, ast.Name) and t.id in aliases for t in parent.targets)  # read through the alias
    if key == "ti":
        call = parents.get(parent)
        if not (isinstance(parent, ast.Attribute) and parent.value is at and isinstance(call, ast.Call) and
                call.func is parent and parent.attr in ("xcom_push", "xcom_pull")):
            return False
        positional = ("key", "value") if parent.attr == "xcom_push" else ("task_ids",)  # xcom_pull's second is dag_id
        given = dict(zip(positional, call.args))
        if len(call.args) > len(positional) or any(k.arg is None for k in call.keywords):
            return False
        given.update({k.arg: k.value for k in call.keywords})
        if parent.attr == "xcom_push":
            if set(given) != {"key", "value"} or _text(given["key"]) is None:
                return False
            uses.pushes.append(_text(given["key"]))
            return True
        if set(given) - {"task_ids", "key"} or _text(given.get("task_ids")) is None or \
                ("key" in given and _text(given["key"]) is None):
            return False
        uses.pulls.append((_text(given["task_ids"]), _text(given["key"]) if "key" in given else "return_value"))
        return True
    if not (isinstance(parent, ast.Subscript) and parent.value is at):
        return False
    above = parents.get(parent)
    if key == "outlet_events":
        uses.events.add(key)
        return isinstance(above, ast.Attribute) and above.value is parent and (
            (above.attr == "add" and isinstance(parents.get(above), ast.Call)) or above.attr == "extra")
    uses.events.add(key)
    return isinstance(above, ast.For) and above.iter is parent


def _constant_key(subscript: ast.Subscript) -> str | None:
    return _text(subscript.slice)


def _pullable(reading, source_id: str, key: str) -> bool:
    """Whether an XCom pulled from `source_id` is one an output of its step carries: a Python task's return value,
    or a key its function pushes through the stand-in (a task that is mapped pushes a list: refused)."""
    from .body import function_node
    from .tasks import kind_of

    source = reading.tasks.get(source_id)
    if source is None or source["mapped"] or kind_of(source) != "python":
        return False
    if key == "return_value":
        return True
    function = source.get("callable") or {}
    node = function_node(function) if function else None
    uses = read_uses(node, function) if node is not None else None
    return uses is not None and key in uses.pushes


def context_step(reading, task: dict, step: dict) -> bool:
    """The task as a python3 command calling its function with the stand-ins, where it takes only the context and
    uses it only as they answer; False (nothing done) otherwise."""
    from .body import function_node
    from .tasks import empty_args

    function, kwargs, path = task.get("callable") or {}, task["kwargs"], ("tasks", task["task_id"])
    node = function_node(function) if function else None
    if node is None or task["mapped"] or kwargs.get("op_args") or kwargs.get("op_kwargs") or \
            kwargs.get("templates_dict"):
        return False
    uses = read_uses(node, function)
    if uses is None:
        return False
    if not all(_pullable(reading, source, key) for source, key in uses.pulls):
        return False
    references = [reading.reference(task, source, key) for source, key in uses.pulls]
    if None in references:
        return False
    target = reading.python_target(task, function)
    outputs = {key: output_name(key) for key in dict.fromkeys(uses.pushes)} | {"return_value": "return_value"}
    shape = {"target": target, "given": uses.given, "pulls": [list(pull) for pull in uses.pulls], "outputs": outputs}
    reading.templates[TEMPLATE] = {"inputs": {"call": "string"}, "command": ["python3", "-c", DRIVER, "${{ inputs.call }}"]}
    step["uses"], step["with"] = TEMPLATE, {"call": json.dumps(shape, separators=(",", ":"))}
    if references:
        step["env"] = {f"AIRFLOW_XCOM_{i}": reference for i, reference in enumerate(references)}
    empty_args(reading, task)
    what = []
    if uses.pulls or uses.pushes:
        what.append("Airflow's ti is a stand-in whose xcom_pull gives the pulled step outputs (passed as JSON in "
                    "env) and whose xcom_push writes an output of the step")
    if uses.events:
        what.append("the asset events go nowhere and none come in (orch emits and keeps none): what the function "
                    "adds to outlet_events is dropped, and inlet_events holds no events")
    if any(key == "return_value" for _, key in uses.pulls):
        what.append("a pulled return value comes as orch's text of it, read back as JSON: a text that reads as "
                    "JSON (\"5\", \"true\") arrives as that value")
    why = ("python3 on the step's PATH calls the function (it must import its module, and Airflow, as a python "
           "step's interpreter must); " + "; ".join(what) + "; values go as JSON, as Airflow's XCom stores them")
    for parameter, key in uses.given.items():
        at = (*path, "python_callable", f"**{parameter}" if key == "**" else parameter)
        reading.ledger.approximated(at, why, reading.target(task, "uses"))
    reading.note(task, "uses", why)
    return True
