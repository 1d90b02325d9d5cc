"""A small model of how Argo plays a rendered Workflow's DAGs, to check the translation's logic.

It follows workflow/controller/dag.go where orch relies on it: a task whose `depends` is
false is Omitted; one whose `when` is false is Skipped -- a `withParam` task's `when` is tested
item by item, so over a non-empty list its group ends Succeeded (executeDAGTask); otherwise it
runs (the caller says how it ends; a suspend template with a duration resumes, Succeeded, by
itself). With `failFast` (Argo's default) no task starts once one of its DAG failed, and the DAG fails
(operator.go, checkParallelism). Nested DAG templates get their inputs from the calling task's arguments,
take their phase from their leaves as assessDAGPhase does, and, when they succeed, export their outputs
(`valueFrom.parameter` / `valueFrom.expression`); one looped by `withParam` runs once per item, a task group over
them. A task's arguments, `withParam` and `when` are evaluated over
what the model knows then (expr_lang.py: the tasks ended, their outputs, the workflow's globals), the tags it
cannot know yet left as they are. Outputs that declare `globalName` become `workflow.outputs.parameters`
(operator.go, addOutputsToGlobalScope, whatever the node's phase). Once the entrypoint ended, `spec.onExit`'s
template runs with `workflow.status` (the entrypoint's phase as a workflow's) and `workflow.failures` (every
failed node, Argo's JSON twice quoted); the workflow's phase is the entrypoint's unless that Succeeded and the exit
handler failed (operator.go, operate). Time is not modelled: tasks run one after another in the manifest's order,
a fan-out's task once, and `item_limits` reads how many of its items Argo would run at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable

from .expr_lang import Unknown, evaluate, flat, go_json, substitute
from .test_depends import argo_eval

_DEPENDS = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*)\.[A-Z][a-zA-Z]+")  # the tasks a `depends` names (ancestry.go)
WORKFLOW_PHASE = {"Succeeded": "Succeeded", "Skipped": "Succeeded", "Omitted": "Succeeded", "Failed": "Failed",
                  "Error": "Error"}  # operator.go, operate: the entrypoint's phase as the workflow's


@dataclass
class Ended:
    """How a task that ran ended: its phase, its outputs' texts (`result` for stdout), its attempts, its items'."""

    phase: str
    parameters: dict[str, str] = field(default_factory=dict)
    result: str | None = None
    attempts: int = 1
    items: list["Ended"] | None = None
    message: str = ""
    artifacts: list[dict] = field(default_factory=list)  # as the node records them: {name, path, s3: {key}}


@dataclass
class World:
    """What the manifest does not hold: the workflow's name, params and annotations, and what happens as it runs."""

    name: str = "wf"
    parameters: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    created: str = "2026-11-24T09:00:01Z"
    globals: dict[str, str] = field(default_factory=dict)  # workflow.outputs.parameters
    artifacts: dict[str, dict] = field(default_factory=dict)  # workflow.outputs.artifacts
    ended: dict[str, tuple[str, str, Ended | None]] = field(default_factory=dict)  # task -> (template, phase, how)
    status: str | None = None  # workflow.status, once the entrypoint ended
    main: str | None = None  # the entrypoint's phase
    exit: str | None = None  # the exit handler's phase
    path: str = ""  # the DAG tasks holding the task that runs now (as `play` names them)
    dag_outputs: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (path, task) -> a DAG's exports
    dag_items: dict[tuple[str, str], list[Ended]] = field(default_factory=dict)  # (path, task) -> a looped DAG's items
    expansion_errors: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, task) -> why its loop did not expand

    def workflow(self) -> dict:
        env = {"name": self.name, "parameters": self.parameters, "annotations": self.annotations,
               "creationTimestamp": self.created}
        if self.globals:
            env["outputs"] = {"parameters": dict(self.globals)}
        if self.status is not None:
            env.update(status=self.status, failures=go_json(go_json(self.failures() or None)))
        return env

    def failures(self) -> list[dict]:
        """workflow.failures: every node in phase Failed or Error -- tasks, a Retry node's attempts, a task group's
        items, the main DAG -- in an order of Go's map (here: reversed), so no reader may rely on it."""
        found = []
        for task, (template, phase, how) in self.ended.items():
            found += [_failed(task, template, phase)] if phase in ("Failed", "Error") else []
            for i, item in enumerate((how.items or []) if how else []):
                found += [_failed(f"{task}({i}:{i})", template, item.phase)] if item.phase in ("Failed", "Error") else []
            attempts = how.attempts if how and not how.items else 1
            found += [_failed(f"{task}({i})", template, "Failed") for i in range(attempts - 1)]
            if attempts > 1 and phase in ("Failed", "Error"):
                found.append(_failed(f"{task}({attempts - 1})", template, phase))
        if self.main in ("Failed", "Error"):
            found.append(_failed(self.name, "Main", self.main))
        return found[::-1]

    def exported(self, template: dict, task: dict, how: Ended) -> None:
        """The node's outputs that declare a `globalName` (as the template's inputs make it; '' exports nothing)."""
        given = {p["name"]: p.get("default", "") for p in (template.get("inputs") or {}).get("parameters", [])}
        given.update((p["name"], p.get("value", "")) for p in _parameters(task))
        tags = {f"inputs.parameters.{name}": value for name, value in given.items()}
        for parameter in (template.get("outputs") or {}).get("parameters", []):
            name = substitute(parameter.get("globalName", ""), {}, tags)
            if name and parameter["name"] in how.parameters:
                self.globals[name] = how.parameters[parameter["name"]]
        saved = {art["name"]: art for art in how.artifacts}
        for art in (template.get("outputs") or {}).get("artifacts", []):
            if art.get("globalName") and art["name"] in saved:
                self.artifacts[art["globalName"]] = saved[art["name"]]


def _failed(name: str, template: str, phase: str) -> dict:
    return {"displayName": name, "message": "", "templateName": template, "phase": phase, "podName": "",
            "finishedAt": "2026-11-24T10:00:02Z"}


def call_of(task: dict, templates: dict) -> dict:
    """A python step's call: its task's `payload` (a shared template), or its own template's argv."""
    given = {p["name"]: p.get("value") for p in (task.get("arguments") or {}).get("parameters", [])}
    if "payload" in given:
        return json.loads(given["payload"])
    return json.loads(templates[task["template"]]["container"]["args"][0])


def play(document: dict, runs: Callable[[dict], "str | Ended"], nodes: list | None = None,
         world: World | None = None) -> dict[str, str]:
    """Every task's phase, by task name, over all DAGs (a throttled fan-out's: its outer task's, calling its
    wrapper), the exit handler's too; `runs(task)`, given the task with what the model could resolve in it, ends a
    task that runs (a phase, or how it `Ended`). `nodes`, if given, gets `(path, task, phase)` per task, in the
    order they end: `path` names the DAG tasks whose templates hold it ("" for the entrypoint's, ".onExit" for
    the exit handler's). `world` gets what happened (its `main`, `exit`, `globals`)."""
    spec = document["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    world = world if world is not None else World()
    every: dict[str, str] = {}

    def run_dag(template: dict, inputs: dict[str, str], path: str) -> tuple[str, dict[str, str]]:
        phases: dict[str, str] = {}
        known: dict[str, dict] = {}  # task -> its outputs, as a DAG's expressions read them
        fail_fast = template["dag"].get("failFast", True)
        for task in template["dag"]["tasks"]:
            if fail_fast and any(p in ("Failed", "Error") for p in phases.values()):
                return "Failed", {}  # checkParallelism: no new task, the DAG failed
            env = {"tasks": {name: {"status": phase, "outputs": known.get(name, {})} for name, phase in phases.items()},
                   "inputs": {"parameters": inputs}, "workflow": world.workflow()}
            called = templates[task["template"]]
            if task.get("depends") and not argo_eval(task["depends"], phases):
                phase, how = "Omitted", None
            elif task.get("when") and not evaluate(task["when"][len("{{="):-len("}}")], env):
                phase, how = _skipped(task, env), None
            elif called.get("suspend", {}).get("duration") is not None:
                phase, how = "Succeeded", None  # operator.go, executeSuspend: resumed once its duration has passed
            elif "dag" in called and "withParam" in task:
                phase, how = run_loop(task, called, env, path)
                known[task["name"]] = _outputs_of(how)
            elif "dag" in called:  # its arguments are read when it runs
                arguments = {p["name"]: resolve(p.get("value", ""), env) for p in _parameters(task)}
                phase, exported = run_dag(called, arguments, f"{path}/{task['name']}")
                known[task["name"]], how = {"parameters": exported}, None
                world.dag_outputs[(path, task["name"])] = exported  # the DAG node's outputs (dag.go, a Succeeded DAG's)
            else:
                resolved = _resolved(task, env)
                world.path = path
                ended = runs(resolved)
                how = ended if isinstance(ended, Ended) else Ended(ended)
                phase = how.phase
                known[task["name"]] = _outputs_of(how)
                world.exported(called, resolved, how)
            phases[task["name"]] = every[task["name"]] = phase
            world.ended[task["name"]] = (task["template"], phase, how)
            if nodes is not None:
                nodes.append((path, task, phase))
        phase = _dag_phase(template, phases)
        env = {"tasks": {name: {"status": p, "outputs": known.get(name, {})} for name, p in phases.items()},
               "inputs": {"parameters": inputs}, "workflow": world.workflow()}
        return phase, _outputs(template, env) if phase == "Succeeded" else {}

    def run_loop(task: dict, called: dict, env: dict, path: str) -> tuple[str, Ended]:
        """A DAG template looped over `withParam`: a DAG node per item (path `TASK(i)`), its arguments with `{{item}}`
        the item's; the task group's phase Failed (or Error) if an item's is, else Succeeded (dag.go, executeDAGTask),
        Skipped over no item; its outputs aggregated from the Succeeded items' (processAggregateNodeOutputs)."""
        try:
            listed = json.loads(resolve(task["withParam"], env))
        except ValueError:  # dag.go: a task whose items cannot be expanded is a Skipped node in phase Error
            world.expansion_errors[(path, task["name"])] = f"withParam {task['withParam']} is not a list"
            return "Error", Ended("Error")
        ended = []
        for i, item in enumerate(listed):
            text = item if isinstance(item, str) else go_json(item)
            arguments = {p["name"]: resolve(p.get("value", "").replace("{{item}}", text), env) for p in _parameters(task)}
            phase, exported = run_dag(called, arguments, f"{path}/{task['name']}({i})")
            ended.append(Ended(phase, exported))
        world.dag_items[(path, task["name"])] = ended
        if not ended:
            return "Skipped", Ended("Skipped")
        failed = [e.phase for e in ended if e.phase in ("Failed", "Error")]
        return (failed[-1] if failed else "Succeeded"), Ended(failed[-1] if failed else "Succeeded", items=ended)

    world.main, _ = run_dag(templates[spec["entrypoint"]], {}, "")
    world.status = WORKFLOW_PHASE[world.main]
    if spec.get("onExit"):
        world.exit, _ = run_dag(templates[spec["onExit"]], {}, ".onExit")
    return every


def workflow_phase(world: World) -> str:
    """operator.go, operate: the entrypoint's, but a failed exit handler fails a workflow that succeeded."""
    if world.status == "Succeeded" and world.exit in ("Failed", "Error"):
        return world.exit
    return world.status


def resolve(value: str, env: dict) -> str:
    """A value with the tags the model can know resolved: expressions over `env`, simple tags from it."""
    return substitute(value, env, flat(env), lenient=True)


def _resolved(task: dict, env: dict) -> dict:
    """The task as its pod is made from it: its arguments' and item list's tags resolved where they can be."""
    arguments = task.get("arguments") or {}
    parameters = [{**p, "value": resolve(p["value"], env)} if "value" in p else p for p in arguments.get("parameters", [])]
    resolved = {**task, "arguments": {**arguments, "parameters": parameters}} if arguments else dict(task)
    if "withParam" in task:
        resolved["withParam"] = resolve(task["withParam"], env)
    return resolved


def _parameters(task: dict) -> list[dict]:
    return (task.get("arguments") or {}).get("parameters", [])


def _outputs_of(how: Ended) -> dict:
    """A node's outputs as `tasks.T.outputs` reads them; a task group's aggregated from its items (operator.go,
    processAggregateNodeOutputs: the Succeeded items' values, parsed when every one is a JSON object or list)."""
    if how.items is None:
        return {"parameters": dict(how.parameters), **({"result": how.result} if how.result is not None else {})}
    done = [item for item in how.items if item.phase == "Succeeded"]
    names = dict.fromkeys(name for item in done for name in item.parameters)
    parameters = {name: _aggregated([item.parameters[name] for item in done if name in item.parameters]) for name in names}
    results = [item.result for item in done if item.result is not None]
    return {"parameters": parameters, **({"result": _aggregated(results)} if results else {})}


def _aggregated(texts: list[str]) -> str:
    """aggregatedJSONValueList: the values when each text is a JSON object or list, else the texts."""
    try:
        values = [json.loads(text) for text in texts]
    except ValueError:
        return go_json(texts)
    return go_json(values if all(isinstance(v, (dict, list)) for v in values) else texts)


def _skipped(task: dict, env: dict) -> str:
    """A task whose `when` is false. A fan-out tests it on each item (dag.go, executeDAGTask), and its group ends
    Succeeded once all items are skipped -- or Skipped, as any empty list, with no item to test."""
    if "withParam" not in task:
        return "Skipped"
    try:
        items = json.loads(resolve(task["withParam"], env))
    except ValueError:
        return "Succeeded"  # a list the model cannot compute: taken as not empty
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


def _outputs(template: dict, env: dict) -> dict[str, str]:
    """A DAG template's outputs: each `valueFrom.expression` or `valueFrom.parameter` over its tasks, its default where
    that cannot be read (a skipped task's)."""
    out = {}
    for param in template.get("outputs", {}).get("parameters", []):
        source = param["valueFrom"]
        try:
            if "expression" in source:
                value = evaluate(source["expression"], env)
                out[param["name"]] = ("true" if value else "false") if isinstance(value, bool) else value
            else:
                out[param["name"]] = substitute(source["parameter"], env, flat(env))
        except (Unknown, KeyError, TypeError):
            out[param["name"]] = source.get("default", "")
    return out
