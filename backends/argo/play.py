"""Argo's own rules played on chosen outcomes, running nothing: the source side of `orch import argo`'s check.

Read from workflow/controller: a DAG task waits for the tasks its `depends`/`dependencies` name and runs when
that logic holds, else it is Omitted (dag.go, evaluateDependsLogic; ancestry.go, expandDependency: a bare `A`
is A.Succeeded || A.Skipped || A.Daemoned, plus A.Failed/A.Errored under continueOn); its `when`, govaluate over
substituted text, false makes it Skipped; with failFast (the default) a failure that fails the DAG starts no
further task. A DAG's phase is its leaves' branch phases, an Omitted or Skipped leaf inheriting its parents'
(assessDAGPhase), a leaf's failure forgiven by its continueOn. A steps template runs its groups in order, a
group failing on a step that failed without continueOn, which ends the template (steps.go). A node retries by
its template's retryStrategy and policy (operator.go, processNodeRetries: OnFailure, the default, retries failed
containers and not errors). A containerSet is one pod whose containers are nodes of their own: each runs its
command once its `dependencies` exited 0, else fails unrun (cmd/argoexec/commands/emissary.go), the others run
on, and the pod fails when any failed (container_set_template.go, operator.go); its retries, the template's or
the set's, are not played (the importer refuses both). A looped task is one node whose items all behave alike. A
task's exit hook (`onExit`, `hooks.exit`) runs once its node completed (Succeeded, Failed, Error; not Skipped,
Omitted or never started), its `expression` tested over the task's status, failFast or not, and its phase changes
nothing else (dag.go, steps.go, exit_handler.go: runOnExitNode). A Skipped or Omitted task's declared outputs are
their `valueFrom.default`, else an absent optional (scope.go, addSkippedNodeOutputsToScope): an argument that is
only a reference to one leaves the input to its own default, and errors without one (common/util.go,
ProcessArgs); any other tag reading one errors the node (a steps group: the whole group), where a missing output
makes Argo requeue the task for ever. The workflow's phase is the entrypoint's, or Failed when that Succeeded and
the exit handler (`onExit`, else `hooks.exit`) failed (operator.go, operate).
Time is not played: tasks end one after another, in a topological order with ties in manifest order.
"""

from __future__ import annotations

import heapq
import json
import re
from typing import Mapping

from orch.core.play import Draw, Ending, Played

from .expr import ExprError, as_text, evaluate
from .importer import depends as deps
from .importer import when as argo_when
from .importer.manifest import with_defaults

TAG = re.compile(r"\{\{\s*(.*?)\s*\}\}")
DONE = ("Succeeded", "Failed", "Error")
WORKFLOW_PHASE = {"Succeeded": "Succeeded", "Skipped": "Succeeded", "Omitted": "Succeeded", "Failed": "Failed",
                  "Error": "Error"}
EXIT = "onExit:"  # the exit handler's nodes are keyed EXIT + their names
PENDING, RUNNING = "Pending", "Running"  # a task Argo requeues for ever, and the template (and run) that waits on it
MAIN = "main"  # a containerSet's container whose stdout is the result and which saves the outputs
# a containerSet's container whose dependency failed: Argo's phase for it is Failed, its command never ran
DEPENDENCY_FAILED = "Failed, its command never run (a dependency failed)"

ABSENT = None  # a scope value: a Skipped or Omitted task's output that declares no default (an absent optional)


class AbsentOptional(ExprError):
    """A tag that reads an absent optional where Argo cannot drop it: a terminal error, never a requeue
    (util/template/simple_template.go, simpleReplaceStrict)."""


def play(document: Mapping, draws: Mapping[str, Draw], library: Mapping | None = None) -> Played:
    """The workflow's phase and every node's end, keyed by its path of task names (`outer.inner`); a
    templateRef names a WorkflowTemplate's manifest in `library` ((kind, name) -> its data)."""
    return _Play(document, draws, library or {}).run()


def _spec(document: Mapping) -> dict:
    spec = document.get("spec") or {}
    return spec.get("workflowSpec") or {} if document.get("kind") == "CronWorkflow" else spec


class _Play:
    def __init__(self, document: Mapping, draws: Mapping[str, Draw], library: Mapping):
        self.spec = _spec(document)
        self.library = library
        self.templates = _templates(self.spec)
        self.draws = draws
        self.params = {p.get("name"): str(p.get("value", "")) for p in
                       ((self.spec.get("arguments") or {}).get("parameters") or [])}
        self.ends: dict[str, Ending] = {}

    def run(self) -> Played:
        """The entrypoint, then the exit handler with `workflow.status`; the workflow's phase from both."""
        phase, _ = self.template(self.spec.get("entrypoint"), {}, "", {})
        status = WORKFLOW_PHASE.get(phase, phase if phase == RUNNING else "Failed")
        self.workflow_hooks(status)
        hooks = self.spec.get("hooks") if isinstance(self.spec.get("hooks"), dict) else {}
        exit_name = self.spec.get("onExit") or (hooks.get("exit") or {}).get("template")
        if exit_name in self.templates and status != RUNNING:
            globals_ = {"workflow.status": status}
            exit_phase, _ = self.template(exit_name, {}, EXIT, globals_)
            if status == "Succeeded" and exit_phase in ("Failed", "Error"):
                status = "Failed"
        return Played(status, dict(self.ends))

    def workflow_hooks(self, status: str) -> None:
        """The workflow's hooks other than exit, keyed `hooks:NAME`: each run once its expression holds over
        `workflow.status` as the controller sees it after each pass (operator.go, executeWfLifeCycleHook): Running
        while the entrypoint runs (a dag or steps node is Running from its start; a pod once it runs), then the
        entrypoint's phase as the workflow's. Their phases change no other node nor the workflow's."""
        params = {f"workflow.parameters.{k}": v for k, v in self.params.items()}
        self._fire(self.spec.get("hooks"), (RUNNING, status), lambda moment: {**params, "workflow.status": moment},
                   "hooks:")

    # a template called at `path` (a leaf is keyed by path itself; a DAG's tasks by path.task)
    def template(self, name: str, inputs: dict, path: str, extra: dict) -> tuple[str, dict]:
        template = self.templates.get(name) or {}
        env = {**{f"workflow.parameters.{k}": v for k, v in self.params.items()}, **extra,
               **{f"inputs.parameters.{k}": v for k, v in inputs.items()}}
        if "dag" in template:
            return self.dag(template, env, path)
        if "steps" in template:
            return self.steps(template, env, path)
        key = path or name
        if path.endswith(":") or path == "":
            key = f"{path}{name}" if path else name
        if "containerSet" in template:
            return self.container_set(template, key)
        return self.leaf(template, key)

    def leaf(self, template: dict, key: str) -> tuple[str, dict]:
        """A pod's node: its draw's failed attempts retried by the template's policy and limit."""
        draw = self.draws.get(key, Draw())
        given = isinstance(template.get("retryStrategy"), dict)  # `retryStrategy: {}` too: no limit, no end
        strategy = template.get("retryStrategy") if given else {}
        limit = int(strategy.get("limit", 100 if given else 0)) if str(strategy.get("limit", "0")).isdigit() else 0
        policy = strategy.get("retryPolicy") or ("Always" if strategy.get("expression") else "OnFailure")
        retried = {"Always": True, "OnFailure": not draw.error, "OnError": draw.error,
                   "OnTransientError": False}.get(policy, False)
        if not draw.fails:
            phase, attempts = "Succeeded", 1
        elif not retried or not limit:
            phase, attempts = ("Error" if draw.error else "Failed"), 1
        else:
            attempts = min(draw.fails, limit) + 1
            phase = "Succeeded" if draw.fails <= limit else ("Error" if draw.error else "Failed")
        self.ends[key] = Ending(phase, attempts)
        return phase, {k: v for k, v in draw.outputs.items() if v is not None} if phase == "Succeeded" else {}

    def call(self, task: dict, env: dict, path: str) -> tuple[str, dict]:
        """One task or step that runs: its template (its own, inline, or a WorkflowTemplate's, whose own calls
        resolve there); the node's phase and its outputs' texts."""
        saved = self.templates
        name = task.get("template")
        if isinstance(task.get("inline"), dict):
            name = f"{task.get('name')}-inline"
            self.templates = {**saved, name: {"name": name, **task["inline"]}}
        elif isinstance(task.get("templateRef"), dict):
            ref = task["templateRef"]
            kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
            other = _spec(self.library.get((kind, ref.get("name"))) or {})
            other = {**other, "templateDefaults": self.spec.get("templateDefaults")}  # the running workflow's
            self.templates, name = _templates(other), ref.get("template")
        try:
            return self._call(name, task, env, path)
        finally:
            self.templates = saved

    def _call(self, name: str, task: dict, env: dict, path: str) -> tuple[str, dict]:
        template = self.templates.get(name) or {}
        inputs = {p.get("name"): _sub(str(p.get("value", "")), env) for p in
                  ((task.get("arguments") or {}).get("parameters") or []) if not _absent_ref(p.get("value"), env)}
        for p in (template.get("inputs") or {}).get("parameters") or []:
            if p.get("name") not in inputs:
                if "value" not in p and "default" not in p and "valueFrom" not in p and any(
                        a.get("name") == p.get("name") for a in (task.get("arguments") or {}).get("parameters") or []):
                    raise AbsentOptional(f"inputs.parameters.{p.get('name')}: argument references an absent optional")
                inputs[p.get("name")] = _sub(str(p.get("value", p.get("default", ""))), env)
        extra = {k: v for k, v in env.items() if k.startswith("workflow.")}
        if "dag" in template or "steps" in template:
            phase, outputs = self.template(name, inputs, path, extra)
            self.ends[path] = Ending(phase)
            return phase, outputs
        if "containerSet" in template:
            return self.container_set(template, path)
        phase, outputs = self.leaf(template, path)
        return phase, outputs

    def container_set(self, template: dict, key: str) -> tuple[str, dict]:
        """A containerSet's one pod: each container a node `key.NAME`, its command run once every dependency
        exited 0, else Failed unrun (emissary.go); the others run on; the pod fails when any container failed,
        its outputs `main`'s (controller/container_set_template.go, operator.go)."""
        containers = [c for c in (template.get("containerSet") or {}).get("containers") or [] if isinstance(c, dict)]
        names = [c.get("name") for c in containers]
        upstream = {c.get("name"): [d for d in c.get("dependencies") or [] if d in names] for c in containers}
        phases: dict[str, str] = {}
        outputs: dict = {}
        for name in _order(names, upstream):
            ckey = f"{key}.{name}"
            if any(phases[d] != "Succeeded" for d in upstream[name]):
                phases[name] = "Failed"  # its emissary exits with the dependency's code, its command never run
                self.ends[ckey] = Ending(DEPENDENCY_FAILED)
                continue
            phases[name], given = self.leaf({}, ckey)  # the template's retries rerun the pod: not played
            if name == MAIN:
                outputs = given
        phase = "Failed" if any(p != "Succeeded" for p in phases.values()) else "Succeeded"
        self.ends[key] = Ending(phase)
        return phase, outputs if phase == "Succeeded" else {}

    def dag(self, template: dict, env: dict, path: str) -> tuple[str, dict]:
        """A DAG's tasks in dependency order: depends (Omitted), failFast, each run; its phase from its leaves."""
        dag = template.get("dag") or {}
        tasks = [t for t in dag.get("tasks") or []]
        by_name = {t.get("name"): t for t in tasks}
        if dag.get("target"):  # the targets and what they depend on, nothing else (dag.go)
            keep = _ancestry(_sub(str(dag["target"]), env).split(), by_name)
            tasks = [t for t in tasks if t.get("name") in keep]
            by_name = {t.get("name"): t for t in tasks}
        logic = {t.get("name"): deps.expression(t, by_name) for t in tasks}
        upstream = {n: deps.names(text) for n, text in logic.items()}
        fail_fast = dag.get("failFast", True)
        phases: dict[str, str] = {}
        scope = dict(env)
        stopped = False
        for name in _order([t.get("name") for t in tasks], upstream):
            task, key = by_name[name], _join(path, name)
            if any(phases.get(u) in (PENDING, None) for u in upstream[name]):
                continue  # an upstream task never ends: this one is never decided
            if logic[name] and not deps.evaluate(logic[name], phases):
                self._defaults(task, scope, "tasks")
                phase = self._record(scope, "tasks", name, "Omitted")  # decided without starting anything
            elif stopped:
                continue  # failFast: never started, no node
            else:
                phase = self.run_task(task, scope, key, "tasks")
                self.exit_hook(task, scope, key, "tasks", phase)
            self.lifecycle_hooks(task, scope, key, "tasks", phase, ["Running"])
            phases[name] = phase
            if phase in ("Omitted", "Skipped"):
                self.ends[key] = Ending(phase)
            if fail_fast and phase in ("Failed", "Error") and not _continues(task, phase) \
                    and not _handled(name, tasks, by_name):
                stopped = True
        if any(p == PENDING for p in phases.values()):
            return RUNNING, {}  # a task waits forever: so does its DAG
        leaves = [n for n in by_name if not any(n in up for up in upstream.values())]
        result, seen = "Succeeded", {}
        for leaf in leaves:
            branch = _branch(leaf, phases, upstream, seen)
            if branch in ("Failed", "Error") and not _continues(by_name[leaf], branch):
                result = branch
                break
            if branch is None:
                result = "Failed"  # a leaf never reached: the DAG failed fast
        return self._finished(result, template, scope)

    def steps(self, template: dict, env: dict, path: str) -> tuple[str, dict]:
        """A steps template's groups in order; a step that failed without continueOn fails it, no later group runs.
        A group whose references cannot be resolved (an absent optional read by a tag) errors before any of its
        steps starts (steps.go, executeStepGroup: resolveReferences); a step whose arguments cannot be processed
        errors the group at once, continueOn or not, and the group's later steps never start."""
        scope = dict(env)
        for group in template.get("steps") or []:
            if any(_unresolvable(step, scope) for step in group or []):
                return "Failed", {}
            failed = False
            for step in group or []:
                key = _join(path, step.get("name"))
                try:
                    phase = self.run_task(step, scope, key, "steps")
                except AbsentOptional:
                    return "Failed", {}
                self.exit_hook(step, scope, key, "steps", phase)
                self.lifecycle_hooks(step, scope, key, "steps", phase, ["Pending", "Running"])
                if phase == PENDING:
                    return RUNNING, {}
                if phase in ("Omitted", "Skipped"):
                    self.ends[key] = Ending(phase)
                if phase in ("Failed", "Error") and not _continues(step, phase):
                    failed = True
            if failed:
                return "Failed", {}
        return self._finished("Succeeded", template, scope)

    def run_task(self, task: dict, scope: dict, key: str, kind: str) -> str:
        """A task whose dependencies allow it: its loop, its `when` (resolved first: a false one never reads the
        arguments), its template; its outputs into `scope`. In a steps template, an argument naming an absent
        optional where the input has no default raises AbsentOptional once the step's node is recorded (Error)."""
        name = task.get("name")
        if "withItems" in task and not task["withItems"]:
            return "Skipped"  # "Skipped, empty params"
        if _waits(task, scope, [task.get("when", "")]):  # a tag naming an output no task gave: requeued, for ever
            self.ends[key] = Ending(PENDING)
            return self._record(scope, kind, name, PENDING)
        if "when" in task:
            try:
                if not argo_when.evaluate(_sub(str(task["when"]), scope)):
                    self._defaults(task, scope, kind)
                    return self._record(scope, kind, name, "Skipped")
            except ValueError:  # ExprError and AbsentOptional too: the node errors
                self.ends[key] = Ending("Error")
                return self._record(scope, kind, name, "Error")
        if _waits(task, scope, [p.get("value", "") for p in ((task.get("arguments") or {}).get("parameters") or [])]):
            self.ends[key] = Ending(PENDING)
            return self._record(scope, kind, name, PENDING)
        try:
            phase, outputs = self.call(task, scope, key)
        except ExprError as err:  # an argument Argo cannot evaluate: the node errors
            self.ends[key] = Ending("Error")
            self._record(scope, kind, name, "Error")
            if kind == "steps" and isinstance(err, AbsentOptional):
                raise
            return "Error"
        looped = any(k in task for k in ("withItems", "withParam", "withSequence"))
        for output, text in outputs.items():
            where = "result" if output == "result" else f"parameters.{output}"
            scope[f"{kind}.{name}.outputs.{where}"] = json.dumps([text]) if looped else str(text)
        return self._record(scope, kind, name, phase)

    def exit_hook(self, task: dict, scope: dict, key: str, kind: str, phase: str) -> None:
        """The task's exit hook, keyed `key.onExit`, once the task completed (runOnExitNode under node.Completed()):
        its expression over the task's status, its arguments over the task's outputs (or the workflow's arguments,
        LifecycleHook.WithArgs). Its phase is its own: nothing else reads it."""
        hook = {"template": task["onExit"]} if task.get("onExit") else ((task.get("hooks") or {}).get("exit")
                                                                        if isinstance(task.get("hooks"), dict) else None)
        if not isinstance(hook, dict) or phase not in DONE:
            return
        if hook.get("expression"):
            try:
                if evaluate(str(hook["expression"]), _nested(scope)) is not True:
                    return
            except ExprError:  # EvalBool fails: runOnExitNode makes no hook node
                return
        arguments = hook.get("arguments") or {"parameters": [{"name": k, "value": v} for k, v in self.params.items()]}
        call = {"name": f"{task.get('name')}.onExit", "arguments": arguments,
                **{k: hook[k] for k in ("template", "templateRef") if k in hook}}
        try:
            self.call(call, scope, f"{key}.onExit")
        except ExprError:  # resolveExitTmplArgument fails: no hook node
            return

    def lifecycle_hooks(self, task: dict, scope: dict, key: str, kind: str, phase: str, seen: list[str]) -> None:
        """A task's other hooks, keyed `key.hooks.NAME`: each run once its expression holds at a moment the controller
        looks (hooks.go, executeTmplLifeCycleHook): while the task ran (`seen`: a steps template looks at a Pending
        step too, a DAG at a Running task) and once it ended, Skipped and Omitted too (a node exists)."""
        moments = (seen if phase in DONE else []) + ([phase] if phase in (*DONE, "Skipped", "Omitted") else [])
        status = f"{kind}.{task.get('name')}.status"
        self._fire(task.get("hooks"), moments, lambda moment: {**scope, status: moment}, f"{key}.hooks.")

    def _fire(self, hooks, moments, env_at, prefix: str) -> None:
        """Each hook other than exit called, keyed `prefix + NAME`, at the first of `moments` its expression holds
        over `env_at(moment)`; an expression that cannot be evaluated stops them all, as hooks.go returns on the
        first error (the importer refuses such an expression)."""
        for hook_name, hook in (hooks if isinstance(hooks, dict) else {}).items():
            if hook_name == "exit" or not isinstance(hook, dict) or not hook.get("expression"):
                continue
            for moment in moments:
                env = env_at(moment)
                try:
                    fires = evaluate(str(hook["expression"]), _nested(env)) is True
                except ExprError:
                    return
                if fires:
                    call = {"name": hook_name, "arguments": hook.get("arguments") or {},
                            **{k: hook[k] for k in ("template", "templateRef") if k in hook}}
                    try:
                        self.call(call, env, prefix + hook_name)
                    except ExprError:
                        pass
                    break

    def _defaults(self, task: dict, scope: dict, kind: str) -> None:
        """A Skipped or Omitted task's outputs as later tasks read them (scope.go, addSkippedNodeOutputsToScope):
        an output parameter's declared default, else an absent optional (ABSENT)."""
        template = self.templates.get(task.get("template")) or {}
        for param in (template.get("outputs") or {}).get("parameters") or []:
            default = (param.get("valueFrom") or {}).get("default")
            key = f"{kind}.{task.get('name')}.outputs.parameters.{param.get('name')}"
            scope[key] = ABSENT if default is None else str(default)

    @staticmethod
    def _record(scope: dict, kind: str, name: str, phase: str) -> str:
        scope[f"{kind}.{name}.status"] = phase
        return phase

    def _finished(self, phase: str, template: dict, scope: dict) -> tuple[str, dict]:
        """A dag or steps template's end: a Succeeded one's outputs, or Error where one cannot be resolved."""
        if phase != "Succeeded":
            return phase, {}
        try:
            return phase, self.outputs(template, scope)
        except AbsentOptional:
            return "Error", {}

    def outputs(self, template: dict, scope: dict) -> dict:
        """A Succeeded dag or steps template's outputs (operator.go, getTemplateOutputsFromScope): each
        `valueFrom.parameter` over its scope, the output's own `valueFrom.default` where that names an absent
        optional or a value no task gave; an absent optional with no default raises AbsentOptional (the template
        errors); a missing value without one is left out."""
        found = {}
        for param in (template.get("outputs") or {}).get("parameters") or []:
            source = (param.get("valueFrom") or {}).get("parameter")
            default = (param.get("valueFrom") or {}).get("default")
            if source is not None:
                try:
                    text = _sub(str(source), scope)
                except AbsentOptional:
                    if default is None:
                        raise
                    text = str(default)
                if "{{" in text and default is not None:
                    text = str(default)
                if "{{" not in text:
                    found[param.get("name")] = text
        return found


def _templates(spec: dict) -> dict[str, dict]:
    """The spec's templates by name, its templateDefaults merged in."""
    return {t.get("name"): with_defaults(spec.get("templateDefaults"), t) for t in spec.get("templates") or []}


def _waits(task: dict, scope: dict, texts: list) -> bool:
    """Whether `texts` (the task's `when`, or its arguments) name a task's output the scope lacks (ReplaceStrictAny
    over the `tasks` and `steps` prefixes fails with a missing variable, which dag.go and steps.go requeue). An
    absent optional is in the scope: reading it is an error, not a wait."""
    return any(m.group(1).startswith(("tasks.", "steps.")) and ".outputs." in m.group(1) and m.group(1) not in scope
               for text in texts for m in TAG.finditer(str(text)))


def _unresolvable(step: dict, scope: dict) -> bool:
    """Whether resolving a step's references fails terminally (steps.go, resolveReferences): its `when` reads an
    absent optional; or, the `when` not false, an argument does in more than a lone tag."""
    if "when" in step and _waits(step, scope, [step["when"]]):
        return False  # requeued, not failed: the step waits (run_task)
    try:
        if "when" in step:
            try:
                if not argo_when.evaluate(_sub(str(step["when"]), scope)):
                    return False
            except AbsentOptional:
                raise
            except ValueError:
                pass  # not a resolution error: the step's node errors as it runs
        for p in (step.get("arguments") or {}).get("parameters") or []:
            if not _absent_ref(p.get("value"), scope) and not _waits(step, scope, [p.get("value", "")]):
                _sub(str(p.get("value", "")), scope)
    except AbsentOptional:
        return True
    except ExprError:
        return False
    return False


def _sub(text: str, env: dict) -> str:
    """`text` with its tags substituted as Argo does: a simple tag by its value (left as it is when unknown), an
    expression tag `{{=…}}` by its result (ExprError where it fails, as the node would)."""
    def one(match: re.Match) -> str:
        body = match.group(1)
        if body.startswith("="):
            return as_text(evaluate(body[1:], _nested(env)))
        if body in env and env[body] is ABSENT:
            raise AbsentOptional(f"unable to substitute {{{{{body}}}}}: output is an absent optional")
        return env.get(body, match.group(0))

    return TAG.sub(one, text)


def _absent_ref(value, env: dict) -> bool:
    """Whether an argument's value is nothing but one tag naming an absent optional (scope.go, absentOptionalRef):
    Argo then treats the argument as not given."""
    text = str(value) if value is not None else ""
    if not (text.startswith("{{") and text.endswith("}}")):
        return False
    key = text[2:-2].strip()
    return "{{" not in key and "}}" not in key and key in env and env[key] is ABSENT


def _nested(env: dict) -> dict:
    """The flat scope (`tasks.a.outputs.result`) as the maps an expression reads (`tasks["a"].outputs.result`)."""
    found: dict = {}
    for key, value in env.items():
        parts = key.split(".")
        place = found
        for part in parts[:-1]:
            place = place.setdefault(part, {})
            if not isinstance(place, dict):
                break
        else:
            place[parts[-1]] = value
    return found


def _join(path: str, name: str) -> str:
    return f"{path}{name}" if path.endswith(":") else (f"{path}.{name}" if path else name)


def _order(names: list[str], upstream: dict[str, list[str]]) -> list[str]:
    """Topological, ties by manifest order (as orch's play orders its steps)."""
    position = {n: i for i, n in enumerate(names)}
    waiting = {n: {u for u in upstream.get(n, []) if u in position} for n in names}
    ready = [position[n] for n, ups in waiting.items() if not ups]
    heapq.heapify(ready)
    found = []
    while ready:
        name = names[heapq.heappop(ready)]
        found.append(name)
        for other, ups in waiting.items():
            if name in ups:
                ups.discard(name)
                if not ups:
                    heapq.heappush(ready, position[other])
    return found


def _ancestry(targets: list[str], by_name: dict) -> set[str]:
    keep: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name in by_name and name not in keep:
            keep.add(name)
            todo += deps.names(deps.expression(by_name[name], by_name))
    return keep


def _continues(task: dict, phase: str) -> bool:
    on = task.get("continueOn") or {}
    return bool(on.get("failed") if phase == "Failed" else on.get("error") if phase == "Error" else False)


def _handled(name: str, tasks: list[dict], by_name: dict) -> bool:
    """Whether some task runs on `name`'s failure (its depends reads name.Failed, .Errored or .AllFailed)."""
    for task in tasks:
        text = deps.expression(task, by_name) if task.get("depends") else ""
        if re.search(rf"(?<![\w-]){re.escape(name)}\.(Failed|Errored|AllFailed)", text) and \
                not re.search(rf"!\s*\(?\s*{re.escape(name)}\.", text):
            return True
    return False


def _branch(name: str, phases: dict[str, str], upstream: dict[str, list[str]], seen: dict | None = None):
    """A task's branch phase (assessDAGPhase): its own when it completed, else its parents', failures first."""
    seen = {} if seen is None else seen
    if name in seen:
        return seen[name]
    phase = phases.get(name)
    if phase is None or phase in DONE:
        seen[name] = phase
        return phase
    found = "Succeeded"
    for parent in upstream.get(name, []):
        candidate = _branch(parent, phases, upstream, seen)
        if candidate in ("Failed", "Error"):
            found = candidate
            break
    seen[name] = found
    return found
