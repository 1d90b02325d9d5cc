"""Argo's own rules for a manifest that its published JSON schema cannot see, checked on every
manifest the tests render. Each rule names where Argo applies it (workflow/validate/validate.go
unless said; the CEL rules and item limits of the full CRDs in pkg/apis/workflow/v1alpha1/
workflow_types.go), plus two of orch's own: every tag in a manifest is one orch wrote, and no
fan-out's task carries a `when`.

Only what orch's manifests could break is checked; tags are checked as validate.go's
resolveAllVariables does (`{{= … }}` expressions are not validated by Argo, nor here)."""

from __future__ import annotations

import json
import re

TAG = re.compile(r"\{\{(=?)(.*?)\}\}", re.S)
FIELD_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")  # workflowFieldNameFmt: templates, tasks
FIELD_MAX = 128  # workflowFieldMaxLength
PARAM_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")  # paramOrArtifactNameRegex
NAMED = re.compile(r"([a-zA-Z0-9][-a-zA-Z0-9]*?\.[A-Z][a-zA-Z]+)|([a-zA-Z0-9][-a-zA-Z0-9]*)")  # ancestry.go, taskNameRegex
RESULTS = {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}  # ValidateTaskResults
MAX_TEMPLATES, MAX_TASKS, MAX_INPUTS = 200, 200, 500  # +kubebuilder:validation:MaxItems
OBJECT_NAME_MAX = {"CronWorkflow": 52}  # validate.go, maxCharsInCronWorkflowName; others maxCharsInObjectName
KINDS = ("container", "containerSet", "dag", "data", "http", "plugin", "resource", "script", "steps", "suspend")
VALUE_FROM = ("path", "jqFilter", "jsonPath", "parameter", "expression", "supplied")  # validateOutputParameter
OURS = ("inputs.parameters.", "inputs.artifacts.", "workflow.parameters.", "tasks.", "workflow.name", "workflow.creationTimestamp.", "item",
        "workflow.annotations.orch/runner", "workflow.outputs.artifacts.")


def lint(document: dict) -> list[str]:
    problems = []
    for expression, body in TAG.findall(json.dumps(document)):
        if not expression and not body.strip().startswith(OURS):
            problems.append(f"a tag orch did not write: {{{{{body}}}}}")
    name = document.get("metadata", {}).get("name", "")
    if len(name) > OBJECT_NAME_MAX.get(document.get("kind"), 63):  # Workflow, WorkflowTemplate, CronWorkflow
        problems.append(f"object name {name} is too long")
    spec = document["spec"].get("workflowSpec", document["spec"])
    context = _Context(document, spec)
    if document.get("kind") in ("Workflow", "CronWorkflow") and not spec.get("entrypoint"):
        problems.append("spec.entrypoint is required")
    if "entrypoint" in spec and spec["entrypoint"] not in context.templates:
        problems.append("entrypoint names no template")
    if len(spec["templates"]) > MAX_TEMPLATES:
        problems.append(f"{len(spec['templates'])} templates: the CRD holds {MAX_TEMPLATES}")
    problems += _names("templates", [t["name"] for t in spec["templates"]], FIELD_NAME, FIELD_MAX)
    problems += _names("spec.arguments", [p["name"] for p in spec.get("arguments", {}).get("parameters", [])], PARAM_NAME)
    for template in spec["templates"]:
        problems += _template(template, context)
        if "dag" in template:
            problems += _dag(template, context)
    return problems


class _Context:
    """What a tag may name in one document."""

    def __init__(self, document: dict, spec: dict):
        self.templates = {t["name"]: t for t in spec["templates"]}
        self.params = {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
        self.any_param = document.get("kind") == "WorkflowTemplate"  # validated alone: its callers bring params
        self.annotations = set(document.get("metadata", {}).get("annotations") or {})
        self.annotations |= set((spec.get("workflowMetadata") or {}).get("annotations") or {})

    def global_tag(self, body: str) -> str | None:
        """What is wrong with a `workflow.` tag (validate.go, Workflow: the global params it knows)."""
        if body.startswith("workflow.parameters.") and body.split(".", 2)[2] not in self.params and not self.any_param:
            return f"unknown param {body}"
        if body.startswith("workflow.annotations.") and body.split(".", 2)[2] not in self.annotations:
            return f"unknown annotation {body}"
        return None


def _names(where: str, names: list[str], pattern: re.Pattern, longest: int | None = None) -> list[str]:
    """validateWorkflowFieldNames: each name present, well formed, unique."""
    problems = [f"{where}: bad name {n}" for n in names if not pattern.match(n) or (longest and len(n) > longest)]
    problems += [f"{where}: {n} is not unique" for n in sorted({n for n in names if names.count(n) > 1})]
    return problems


def _tags(value) -> list[str]:
    """The tags Argo validates in a value: not expressions."""
    return [body.strip() for expression, body in TAG.findall(json.dumps(value)) if not expression]


def _template(template: dict, context: _Context) -> list[str]:
    name, problems = template["name"], []
    kinds = [k for k in KINDS if k in template]
    if len(kinds) != 1:  # validateTemplateType, and the CRD's "template must have at most one template type"
        problems.append(f"{name}: {len(kinds)} template types")
    leaf = "dag" not in template and "steps" not in template
    if not leaf and ("activeDeadlineSeconds" in template or "timeout" in template):  # validateNonLeaf
        problems.append(f"{name}: activeDeadlineSeconds or timeout on a {kinds} template")
    if "parallelism" in template and leaf:  # validateLeaf
        problems.append(f"{name}: parallelism on a leaf template")
    container = template.get("container")
    if container is not None and not container.get("image"):
        problems.append(f"{name}: container.image may not be empty")
    mounts = [m["mountPath"] for m in (container or {}).get("volumeMounts", [])]
    if len(mounts) != len(set(mounts)):
        problems.append(f"{name}: a mountPath mounted twice")
    inputs = [p["name"] for p in template.get("inputs", {}).get("parameters", [])]
    if len(inputs) > MAX_INPUTS:
        problems.append(f"{name}: {len(inputs)} inputs: the CRD holds {MAX_INPUTS}")
    problems += _names(f"{name}.inputs", inputs, PARAM_NAME)
    outputs = template.get("outputs", {}).get("parameters", [])
    problems += _names(f"{name}.outputs", [p["name"] for p in outputs], PARAM_NAME)
    problems += _artifacts(template, leaf)
    artifacts = [art["name"] for art in template.get("inputs", {}).get("artifacts", [])]
    problems += [problem for parameter in outputs for problem in _output(name, parameter, kinds)]
    for body in _tags({k: v for k, v in template.items() if k != "dag"}):
        if body.startswith("inputs.parameters.") and body.split(".", 2)[2] not in inputs:
            problems.append(f"{name}: unknown input {body}")
        elif (wrong := context.global_tag(body)) is not None:
            problems.append(f"{name}: {wrong}")
    for task in template.get("dag", {}).get("tasks", []):  # a task's tags see its DAG's inputs too
        for body in _tags(task):
            if body.startswith("inputs.parameters.") and body.split(".", 2)[2] not in inputs:
                problems.append(f"{name}: unknown input {body}")
            if body.startswith("inputs.artifacts.") and body.split(".", 2)[2] not in artifacts:
                problems.append(f"{name}: unknown input artifact {body}")
    return problems


def _artifacts(template: dict, leaf: bool) -> list[str]:
    """validateTemplate's inputs and validateOutputs: names, a path on a leaf's artifacts and on no other's,
    no `from` in inputs."""
    name, problems = template["name"], []
    for side in ("inputs", "outputs"):
        artifacts = template.get(side, {}).get("artifacts", [])
        problems += _names(f"{name}.{side}.artifacts", [art["name"] for art in artifacts], PARAM_NAME)
        for art in artifacts:
            if leaf and not art.get("path"):
                problems.append(f"{name}.{side}.artifacts.{art['name']}: did not specify a path")
            if not leaf and art.get("path"):
                problems.append(f"{name}.{side}.artifacts.{art['name']}.path only valid in container/script templates")
            if side == "inputs" and art.get("from"):
                problems.append(f"{name}.inputs.artifacts.{art['name']}.from not valid in inputs")
    return problems


def _output(template: str, parameter: dict, kinds: list[str]) -> list[str]:
    """validateOutputParameter, and validateOutputs' source per template type."""
    where, source = f"{template}.outputs.{parameter['name']}", parameter.get("valueFrom")
    if ("value" in parameter) == (source is not None):
        return [f"{where}: needs one of value and valueFrom"]
    if source is None:
        return []
    given = [k for k in VALUE_FROM if source.get(k) not in (None, "")]
    if len(given) != 1:
        return [f"{where}: valueFrom has {given or 'no source'}"]
    wanted = {"container": "path", "script": "path", "dag": ("parameter", "expression"), "steps": ("parameter", "expression")}
    if kinds and kinds[0] in wanted and given[0] not in wanted[kinds[0]]:
        return [f"{where}: valueFrom.{given[0]} in a {kinds[0]} template"]
    return []


def _ancestry(tasks: list[dict]) -> tuple[dict[str, set], dict[str, set]]:
    """Each task's parents (the tasks its `depends` names) and ancestors (GetTaskAncestry)."""
    parents = {t["name"]: {(result or bare).split(".")[0] for result, bare in NAMED.findall(t.get("depends") or "")}
               | set(t.get("dependencies") or ()) for t in tasks}
    ancestors: dict[str, set] = {}

    def up(name: str, path: tuple) -> set:
        if name not in ancestors:
            found = set()
            for parent in parents.get(name, ()):
                if parent in path:
                    raise _Cycle(" -> ".join(path + (parent,)))
                found |= {parent} | up(parent, path + (parent,))
            ancestors[name] = found
        return ancestors[name]

    for task in tasks:
        up(task["name"], (task["name"],))
    return parents, ancestors


class _Cycle(Exception):
    pass


def _dag(template: dict, context: _Context) -> list[str]:
    name, tasks = template["name"], template["dag"]["tasks"]
    problems = []
    if not tasks or len(tasks) > MAX_TASKS:  # validateDAG; the CRD's MinItems and MaxItems
        problems.append(f"{name}: {len(tasks)} tasks: a DAG holds 1 to {MAX_TASKS}")
    names = [t["name"] for t in tasks]
    problems += _names(name, names, FIELD_NAME, FIELD_MAX)
    using_depends = any(t.get("depends") for t in tasks)
    for task in tasks:
        if (using_depends or task.get("dependencies")) and task["name"][:1].isdigit():
            problems.append(f"{task['name']}: a task name cannot begin with a digit when using depends")
        if using_depends and task.get("dependencies"):
            problems.append(f"{name}: cannot use both 'depends' and 'dependencies'")
        if using_depends and "continueOn" in task:  # validateDAG; the CRD's CEL rule on the task
            problems.append(f"{task['name']}: continueOn in a DAG using depends")
        for result, bare in NAMED.findall(task.get("depends") or ""):
            other, _, outcome = (result or bare).partition(".")
            if outcome and outcome not in RESULTS:
                problems.append(f"{task['name']}: task result '{outcome}' for task '{other}' is invalid")
            elif other not in names:  # validateDAG: "dependency '%s' not defined"
                problems.append(f"{task['name']}: depends on unknown task {other}")
            elif outcome in ("AnySucceeded", "AllFailed") and "withParam" not in tasks[names.index(other)]:
                problems.append(f"{task['name']}: {result} on a task without items")
        problems += [f"{task['name']}: depends on unknown task {d}" for d in task.get("dependencies") or () if d not in names]
        if "withParam" in task and "when" in task:  # orch's: Argo tests it per item, and all skipped ends Succeeded
            problems.append(f"{task['name']}: a fan-out's task holds a when (put it in a gate)")
    try:
        _, ancestors = _ancestry(tasks)
    except _Cycle as cycle:  # verifyNoCycles
        return problems + [f"{name}: dependency cycle {cycle}"]
    for task in tasks:
        problems += _task(task, template, ancestors[task["name"]], context)
    problems += _dag_outputs(template, context)
    return problems


def _task(task: dict, dag: dict, ancestors: set, context: _Context) -> list[str]:
    name, problems = task["name"], []
    arguments = task.get("arguments", {}).get("parameters", [])
    problems += _names(f"{name}.arguments", [p["name"] for p in arguments], PARAM_NAME)
    for parameter in arguments:  # validateArgumentsValues, for a task's arguments
        if "value" not in parameter and "valueFrom" not in parameter:
            problems.append(f"{name}: argument {parameter['name']} has no value")
        value = str(parameter.get("value", ""))
        if value.startswith("{{tasks.") and value.split(".")[1] not in ancestors:  # validateDAGTaskArgumentDependency
            problems.append(f"{name}: missing dependency '{value.split('.')[1]}' for parameter '{parameter['name']}'")
    artifacts = task.get("arguments", {}).get("artifacts", [])
    problems += _names(f"{name}.arguments.artifacts", [art["name"] for art in artifacts], PARAM_NAME)
    for art in artifacts:  # validateArgumentsValues, validateDAGTaskArgumentDependency
        if not art.get("from") and not (art.get("s3") or {}).get("key"):
            problems.append(f"{name}: {art['name']}.from, artifact location, or key is required")
        source = art.get("from", "")
        if source.startswith("{{tasks.") and source.split(".")[1] not in ancestors:
            problems.append(f"{name}: missing dependency '{source.split('.')[1]}' for artifact '{art['name']}'")
    for body in _tags(task):
        if body.startswith("tasks."):
            wrong = _task_tag(body, ancestors, dag, context)
            problems += [f"{name}: {wrong}"] if wrong else []
        elif (wrong := context.global_tag(body)) is not None:
            problems.append(f"{name}: {wrong}")
    if "templateRef" in task:  # resolved against the WorkflowTemplates rendered beside it
        return problems
    if task["template"] not in context.templates:
        return problems + [f"{name}: unknown template {task['template']}"]
    wanted = {p["name"] for p in context.templates[task["template"]].get("inputs", {}).get("parameters", [])
              if "default" not in p and "value" not in p}
    given = {p["name"] for p in arguments}
    if wanted - given:
        problems.append(f"{name}: missing arguments {wanted - given}")
    needed = {art["name"] for art in context.templates[task["template"]].get("inputs", {}).get("artifacts", [])
              if not art.get("optional") and not art.get("s3")}  # executor.go, loadArtifact: "required artifact not supplied"
    if needed - {art["name"] for art in artifacts}:
        problems.append(f"{name}: missing artifacts {needed - {art['name'] for art in artifacts}}")
    return problems


def _task_tag(body: str, ancestors: set | None, dag: dict, context: _Context) -> str | None:
    """What is wrong with a `tasks.` tag in a DAG template (validateDAG's scopes, addOutputsToScope): a task's
    outputs are in every scope; its status only in its descendants' (`ancestors` None: the DAG's outputs)."""
    parts = body.split(".")
    tasks = {t["name"]: t for t in dag["dag"]["tasks"]}
    if len(parts) < 3 or parts[1] not in tasks:
        return f"unknown task in {body}"
    task = tasks[parts[1]]
    if parts[2] == "status":
        return None if ancestors is not None and parts[1] in ancestors else f"failed to resolve {{{{{body}}}}}"
    if "templateRef" in task:
        return None
    called = context.templates.get(task["template"], {})
    if parts[2:4] == ["outputs", "parameters"] and len(parts) == 5:
        declared = {p["name"] for p in called.get("outputs", {}).get("parameters", [])}
        return None if parts[4] in declared else f"failed to resolve {{{{{body}}}}}"
    if parts[2:4] == ["outputs", "artifacts"] and len(parts) == 5:
        declared = {art["name"] for art in called.get("outputs", {}).get("artifacts", [])}
        return None if parts[4] in declared else f"failed to resolve {{{{{body}}}}}"
    if parts[2:] == ["outputs", "result"]:
        return None if "container" in called or "script" in called else f"failed to resolve {{{{{body}}}}}"
    return f"failed to resolve {{{{{body}}}}}"


def _dag_outputs(dag: dict, context: _Context) -> list[str]:
    problems = []
    for body in _tags(dag.get("outputs", {})):
        if body.startswith("tasks."):
            wrong = _task_tag(body, None, dag, context)
            problems += [f"{dag['name']}.outputs: {wrong}"] if wrong else []
    return problems
