"""A small model of how Argo plays a rendered Workflow's DAGs, to check the translation's logic.

It follows workflow/controller/dag.go where orch relies on it: a task whose `depends` is
false is Omitted; one whose `when` is false is Skipped; otherwise it runs (the caller
says how it ends). Nested DAG templates get their inputs from the calling task's
arguments, fail when a task of theirs failed without `continueOn`, and export their outputs
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


def evaluate(expression: str, phases: dict[str, str], inputs: dict[str, str], outputs: dict[str, dict]) -> bool:
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
            if task.get("depends") and not argo_eval(task["depends"], phases):
                phase = "Omitted"
            elif when and not evaluate(when[len("{{= "):-len(" }}")], phases, inputs, exported):
                phase = "Skipped"
            elif "dag" in templates[task["template"]]:  # its arguments are read when it runs
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


def _dag_phase(template: dict, phases: dict[str, str]) -> str:
    """A DAG of orch's fails when a task of it failed without `continueOn` (dag.go, assessDAGPhase, for the
    DAGs orch writes: a chunk's tasks all continue on failure, a wrapper holds one task); a skipped task,
    as an empty fan-out is, does not fail it."""
    tasks = template["dag"]["tasks"]
    failed = any(phases[t["name"]] in ("Failed", "Error") and not t.get("continueOn") for t in tasks)
    return "Failed" if failed else "Succeeded"


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
            out[param["name"]] = "true" if evaluate(source["expression"], phases, {}, {}) else "false"
        elif (match := re.fullmatch(r"\{\{tasks\.([a-zA-Z0-9-]+)\.status\}\}", source["parameter"])):
            out[param["name"]] = phases[match.group(1)]
        else:
            out[param["name"]] = source.get("default", "")
    return out
