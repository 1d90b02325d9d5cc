"""A small model of how Argo plays a rendered Workflow's DAGs, to check the translation's logic.

It follows workflow/controller/dag.go where orch relies on it: a task whose `depends` is
false is Omitted; one whose `when` is false is Skipped -- a `withParam` task's `when` is tested
item by item, so over a non-empty list its group ends Succeeded (executeDAGTask); otherwise it
runs (the caller says how it ends; a suspend template with a duration resumes, Succeeded, by
itself). Nested DAG templates get their inputs from the calling task's arguments, take their
phase from their leaves as assessDAGPhase does, and, when they succeed, export their outputs
(`valueFrom.parameter` / `valueFrom.expression`). Time is not modelled: a fan-out's task runs once,
and `item_limits` reads how many of its items Argo would run at once.
Only the expression forms orch writes are understood; anything else fails the test.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Callable

from .test_depends import argo_eval

_STATUS = re.compile(r'tasks\["([a-zA-Z0-9-]+)"\]\.status')
_INPUT = re.compile(r'inputs\.parameters\["([A-Za-z0-9_-]+)"\]')
_OUTPUT = re.compile(r'tasks\["([a-zA-Z0-9-]+)"\]\.outputs\.parameters\["([A-Za-z0-9_-]+)"\]')
_DEPENDS = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*)\.[A-Z][a-zA-Z]+")  # the tasks a `depends` names (ancestry.go)


def evaluate(expression: str, phases: dict[str, str], inputs: dict[str, str], outputs: dict[str, dict]):
    text = _OUTPUT.sub(lambda m: json.dumps(outputs[m.group(1)][m.group(2)]), expression)
    text = _STATUS.sub(lambda m: json.dumps(phases[m.group(1)]), text)
    text = _INPUT.sub(lambda m: json.dumps(inputs[m.group(1)]), text)
    tree = ast.parse(text.replace("&&", " and ").replace("||", " or "), mode="eval").body

    def value(node):
        if isinstance(node, ast.BoolOp):
            results = [value(v) for v in node.values]
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = value(node.left), value(node.comparators[0])
            if isinstance(node.ops[0], ast.Eq):
                return left == right
            assert isinstance(node.ops[0], ast.In), ast.dump(node)
            return left in right
        if isinstance(node, ast.List):
            return [value(v) for v in node.elts]
        assert isinstance(node, ast.Constant), ast.dump(node)
        return node.value

    return value(tree)


def call_of(task: dict, templates: dict) -> dict:
    """A python step's call: in its own template's argv (one template per step), or its task's payload."""
    container = templates[task["template"]].get("container", {})
    if task["template"] == task["name"] and container.get("args"):
        return json.loads(container["args"][0])
    return json.loads(task["arguments"]["parameters"][0]["value"])


def play(document: dict, runs: Callable[[dict], str], nodes: list | None = None) -> dict[str, str]:
    """Every task's phase, by task name, over all DAGs (a throttled fan-out's: its outer task's, calling its
    wrapper); `runs(task)` ends a task that runs. `nodes`, if given, gets `(path, task, phase)` per task, in
    the order they end: `path` names the DAG tasks whose templates hold it ("" for the entrypoint's)."""
    spec = document["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    every: dict[str, str] = {}

    def run_dag(template: dict, inputs: dict[str, str], path: str) -> tuple[str, dict[str, str]]:
        phases: dict[str, str] = {}
        exported: dict[str, dict] = {}
        for task in template["dag"]["tasks"]:
            when = task.get("when")
            called = templates[task["template"]]
            if task.get("depends") and not argo_eval(task["depends"], phases):
                phase = "Omitted"
            elif when and not evaluate(when[len("{{= "):-len(" }}")], phases, inputs, exported):
                phase = _skipped(task)
            elif called.get("suspend", {}).get("duration") is not None:
                phase = "Succeeded"  # operator.go, executeSuspend: resumed once its duration has passed
            elif "dag" in called:  # its arguments are read when it runs
                arguments = {p["name"]: _fill(p.get("value", ""), exported) for p in task.get("arguments", {}).get("parameters", [])}
                phase, exported[task["name"]] = run_dag(templates[task["template"]], arguments, f"{path}/{task['name']}")
            else:
                phase = runs(task)
            phases[task["name"]] = phase
            every[task["name"]] = phase
            if nodes is not None:
                nodes.append((path, task, phase))
        phase = _dag_phase(template, phases)
        return phase, _outputs(template, phases) if phase == "Succeeded" else {}

    run_dag(templates[spec["entrypoint"]], {}, "")
    return every


def _skipped(task: dict) -> str:
    """A task whose `when` is false. A fan-out tests it on each item (dag.go, executeDAGTask), and its group ends
    Succeeded once all items are skipped -- or Skipped, as any empty list, with no item to test."""
    if "withParam" not in task:
        return "Skipped"
    items = json.loads(task["withParam"])  # a list computed by Argo: the model cannot tell how long
    return "Succeeded" if items else "Skipped"


def _dag_phase(template: dict, phases: dict[str, str]) -> str:
    """dag.go, assessDAGPhase, for DAGs without a `target`: its targets are its leaves. A target that ran
    (Succeeded, Failed, Error) gives its own phase; a Skipped or Omitted one, its branch's: Failed or Error
    if any parent's is, else Succeeded (a root's). The DAG fails when a target's phase is Failed or Error,
    unless that target has `continueOn` for it."""
    tasks = template["dag"]["tasks"]
    parents = {t["name"]: set(_DEPENDS.findall(t.get("depends") or "")) for t in tasks}
    branch: dict[str, str] = {}
    for task in tasks:  # orch writes a task after those it depends on
        name, phase = task["name"], phases[task["name"]]
        inherited = [branch[p] for p in parents[name] if branch[p] in ("Failed", "Error")]
        branch[name] = phase if phase in ("Succeeded", "Failed", "Error") else (inherited or ["Succeeded"])[0]
    read = set().union(*parents.values())
    for task in tasks:
        name, on = task["name"], task.get("continueOn") or {}
        if name not in read and branch[name] in ("Failed", "Error"):
            if not on.get({"Failed": "failed", "Error": "error"}[branch[name]]):
                return branch[name]
    return "Succeeded"


def item_limits(document: dict) -> dict[str, int | None]:
    """How many items of each fan-out (`withParam` task, by name) Argo runs at once: its items' boundary is
    the node of the DAG template holding the task (dag.go, executeDAGTask), and a template's `parallelism`
    bounds the running pods of its boundary (operator.go, checkParallelism); None is no bound."""
    spec = document["spec"].get("workflowSpec", document["spec"])
    return {task["name"]: template.get("parallelism") for template in spec["templates"]
            for task in template.get("dag", {}).get("tasks", []) if "withParam" in task}


def _fill(value: str, exported: dict[str, dict]) -> str:
    match = re.fullmatch(r"\{\{tasks\.([a-zA-Z0-9-]+)\.outputs\.parameters\.([A-Za-z0-9_-]+)\}\}", value)
    return exported[match.group(1)][match.group(2)] if match and match.group(1) in exported else value


def _outputs(template: dict, phases: dict[str, str]) -> dict[str, str]:
    out = {}
    for param in template.get("outputs", {}).get("parameters", []):
        source = param["valueFrom"]
        if "expression" in source:
            value = evaluate(source["expression"], phases, {}, {})
            out[param["name"]] = ("true" if value else "false") if isinstance(value, bool) else value
        elif (match := re.fullmatch(r"\{\{tasks\.([a-zA-Z0-9-]+)\.status\}\}", source["parameter"])):
            out[param["name"]] = phases[match.group(1)]
        else:
            out[param["name"]] = source.get("default", "")
    return out
