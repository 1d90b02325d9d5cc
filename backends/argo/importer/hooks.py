"""Hooks (a task's or step's `onExit`, `hooks: {exit: …, NAME: {expression, …}}`, the workflow's `hooks`) as orch
finally steps.

Argo's rules (workflow/controller): a task's exit hook runs once the task's node completed -- Succeeded, Failed or
Error, whatever its retries did -- and never for a Skipped or Omitted task nor one never started (dag.go,
executeDAGTask, and steps.go, executeStepGroup: runOnExitNode under `node.Completed()`); failFast does not stop it
(the hook node is made in the pass that sees the task complete, and the DAG waits for it: assessDAGPhase). The
task's dependents (and a steps template's next group) wait for the hook (CheckAllHooksFullfilled), but decide on
the task's own phase; the hook's own phase changes neither the task's, nor its DAG's or steps template's, nor the
workflow's (the hook node is a child the phase rules never read). An `expression` on the exit hook is tested once
the task completed, over the task's `status` (exit_handler.go). Its arguments read the task's outputs
(resolveExitTmplArgument); without arguments it gets the workflow's (LifecycleHook.WithArgs). Another hook runs
once its expression holds at a pass of the controller (hooks.go, executeTmplLifeCycleHook; the workflow's,
executeWfLifeCycleHook, over `workflow.status`), with the same waiting and the same unread phase.

orch's finally steps are the steps whose failure never changes a run, so a hook is one: its `when` says that the
task ran (ran.py) and what the expression tests of its status. What differs is when: orch runs it once every step
ended, not right after the task (nor at the workflow's start, for `workflow.status == "Running"`), and the task's
dependents do not wait for it. Expressions that hold at other moments (`!=`, another task's status) are refused.
"""

from __future__ import annotations

import re

from orch.core.names import suggest_name

from .ran import ran
from .tags import Scope, Unsupported

TIMING = ("orch runs it with the finally steps, once every step ended, where Argo runs it as soon as the task "
          "ended and makes the task's dependents wait for it; its failure changes no other step nor the run, as in "
          "Argo")

_STATUS = re.compile(r"""^\s*(?:tasks|steps)(?:\.([A-Za-z0-9_]+)|\[\s*["']([-A-Za-z0-9_]+)["']\s*\])\.status\s*"""
                     r"""(==|!=)\s*["'](Succeeded|Failed|Error|Running)["']\s*$""")
_WORKFLOW = re.compile(r"""^\s*workflow\.status\s*==\s*["'](Succeeded|Failed|Error|Running)["']\s*$""")
RUNNING = ("Argo runs it once its controller sees the task Running (a pod that ends between two of the controller's "
           "passes never is); orch whenever the task ran")


def exit_hook(task: dict):
    """(the exit hook as a LifecycleHook dict, its path under the task) or (None, None); `onExit` wins (GetExitHook)."""
    if task.get("onExit"):
        return {"template": task["onExit"]}, ("onExit",)
    hooks = task.get("hooks")
    if isinstance(hooks, dict) and isinstance(hooks.get("exit"), dict):
        return hooks["exit"], ("hooks", "exit")
    return None, None


def status_test(expression: str, task: str, name: str, exit: bool = True) -> tuple[str | None, str]:
    """A hook's `expression` over the task's status as an orch condition in a finally step, with what differs ("" if
    nothing). An exit hook's is tested once the task completed (Succeeded, Failed or Error); another hook's whenever
    the controller looks, so only `== PHASE` names one moment (`!=` holds while the task is Pending or Running).
    None: no condition beyond the task having run. Unsupported for any other expression."""
    found = _STATUS.match(str(expression))
    if not found or (found.group(1) or found.group(2)) != task or (not exit and found.group(3) != "=="):
        form = "`tasks.%s.status == \"Succeeded\"` (or Failed, Error%s)" % (task, "" if exit else ", Running")
        raise Unsupported(f"the hook's expression {expression!r}: only {form} has an orch form")
    op, phase = found.group(3), found.group(4)
    if phase == "Running":
        if exit:
            return ("false" if op == "==" else None), ""  # an exit hook sees the task completed, never Running
        return None, RUNNING
    failed, ok = f"'{name}' in run.failed_steps", f"'{name}' not in run.failed_steps"
    if phase == "Succeeded":
        return (ok if op == "==" else failed), ""
    # orch tells no error from a failure in run.failed_steps: Failed and Error are both "failed"
    return (failed if op == "==" else ok), "the expression's Failed and Error are both orch's failed (run.failed_steps "\
                                             "names either)"


def workflow_test(expression: str, exit_in_steps: bool) -> tuple[str | None, str]:
    """A workflow lifecycle hook's `workflow.status == PHASE` as a finally step's condition, with what differs."""
    found = _WORKFLOW.match(str(expression))
    if not found:
        raise Unsupported(f"the workflow hook's expression {expression!r}: only `workflow.status == \"Running\"` (or "
                          "Succeeded, Failed, Error) has an orch form")
    phase = found.group(1)
    if phase == "Running":
        return None, ("Argo runs it as the workflow starts (its entrypoint's node Running; an entrypoint that is one "
                      "container only once the controller sees its pod Running), beside the first steps; orch runs "
                      "it at the end, with the finally steps; it runs once in every run, and its failure changes no "
                      "step nor the run, in both")
    notes = ["Argo runs it once the entrypoint ended, before the exit handler; orch at the end, with the finally "
             "steps; its failure changes no step nor the run, in both"]
    if phase != "Succeeded":
        notes.append("orch's run.status 'failed' is Argo's Failed and Error alike")
    if exit_in_steps:
        notes.append("orch's run.status counts the exit handler's steps, Argo's workflow.status here does not")
    return f"run.status == '{'succeeded' if phase == 'Succeeded' else 'failed'}'", "; ".join(notes)


class Hooks:
    """The part of the conversion that reads hooks (mixed into convert.Workflow)."""

    def _note_hooks(self, task: dict, where: tuple, scope: Scope, prefix: str, name: str, argo_path: str) -> None:
        """Record a task's hooks, converted once every step is known (`_hooks`)."""
        hook, key = exit_hook(task)
        hooks = task.get("hooks") if isinstance(task.get("hooks"), dict) else {}
        where_not = ("a task of the exit handler" if self.in_exit else "a task of another manifest's template "
                     "(templateRef)" if self.ledger is not self.main_ledger else "")
        if where_not and (hook is not None or hooks):
            for found in ([key] if hook is not None else []) + [("hooks", h) for h in hooks if h != "exit"]:
                self.ledger.unsupported((*where, *found), f"a hook on {where_not}: orch's finally steps see whether "
                                                          "a step of the pipeline's own steps ran, not this one")
            return
        if task.get("onExit") and "exit" in hooks:
            self.ledger.mapped((*where, "hooks", "exit"), note="not run: the task's onExit wins (GetExitHook)")
        if hook is not None:
            self.task_hooks.append((hook, (*where, *key), scope, prefix, name, argo_path, "exit"))
        for hook_name, other in hooks.items():
            if hook_name != "exit":
                self.task_hooks.append((other if isinstance(other, dict) else {}, (*where, "hooks", hook_name), scope,
                                        prefix, name, argo_path, str(hook_name)))

    def _hooks(self, out: dict) -> None:
        """Each recorded hook as a finally step, once the spec's steps are all written."""
        for hook, where, scope, prefix, name, argo_path, hook_name in self.task_hooks:
            try:
                self._hook(out, hook, where, scope, prefix, name, argo_path, hook_name)
            except Unsupported as err:
                self.ledger.unsupported(where, str(err))

    def _hook(self, out, hook: dict, where: tuple, scope: Scope, prefix: str, name: str, argo_path: str,
              hook_name: str) -> None:
        exit = hook_name == "exit"
        if not exit and not hook.get("expression"):
            raise Unsupported("a lifecycle hook other than exit needs an expression (Argo refuses it: 'Expression "
                              "required')")
        if prefix:
            raise Unsupported("a hook on a task inside a nested dag or steps template: orch's finally steps see "
                              "whether a top-level step ran, not one inside a group")
        if name not in out["steps"]:
            raise Unsupported("a hook on a task that is not one of the pipeline's own steps")
        if "steps" in out["steps"].get(name, {}):
            raise Unsupported("a hook on a task calling a dag or steps template: orch cannot tell whether the group "
                              "ran from a finally step")
        extra = set(hook) - {"template", "templateRef", "arguments", "expression"}
        if extra:
            raise Unsupported(f"a hook's {sorted(extra)}")
        task_name = argo_path.split(".")[-1]
        test, differs = (None, "")
        if hook.get("expression"):
            test, differs = status_test(hook["expression"], task_name, name, exit)
        found = ran(out["steps"], name, bool(out.get("fail_fast")))
        notes = [TIMING]
        if found.exact and differs == RUNNING:
            notes.append("it runs when the task ran")
        elif found.exact:
            notes.append("it runs exactly when the task ran" + (" and its expression holds" if test else "")
                         + ", as in Argo")
        else:
            notes.append(f"whether it runs is approximated: {found.why}; orch runs it "
                         + (f"when {found.condition}" if found.condition else "whatever happened"))
        if differs:
            notes.append(differs)
        if "foreach" in out["steps"][name]:
            notes.append("Argo runs it once per item (after each item's node), orch once")
        if re.search(r"\{\{\s*(?:tasks|steps)\.%s\.outputs\." % re.escape(task_name), str(hook.get("arguments"))):
            notes.append(f"its arguments read {task_name}'s outputs: when {task_name} failed, orch's reference is null "
                         "(an artifact has nothing to copy, so the hook fails), where Argo reads what the failed pod "
                         "saved (postmain.go saves outputs whatever the exit code), or the output's default")
        conditions = [c for c in (found.condition, test) if c]
        node = f"{argo_path}.onExit" if exit else f"{argo_path}.hooks.{hook_name}"
        given = None if hook.get("arguments") or not exit else \
            {argo: "${{ params.%s }}" % orch for argo, orch in self.params.items()}  # LifecycleHook.WithArgs
        self._hook_step(out, hook, where, scope, f"{name}-{'exit' if exit else hook_name}", node, conditions, notes,
                        given)

    def _hook_step(self, out, hook, where, scope, wanted, node, conditions, notes, given=None) -> None:
        """The hook's template, its arguments bound, as a finally step named after `wanted` run under `conditions`."""
        finals = out.setdefault("finally", {})
        taken = set(out["steps"]) | set(finals)
        hook_name, n = suggest_name(wanted), 2
        while hook_name in taken:
            hook_name, n = suggest_name(f"{wanted}-{n}"), n + 1
        spec_path = ("finally", hook_name)
        task = {"name": hook_name, **{k: v for k, v in hook.items() if k in ("template", "templateRef", "arguments")}}
        target, foreign = self._target(task, where)
        if target is None:
            return
        outer = scope.child()
        call_scope = scope.child(inputs={}, artifacts={}, item_depth={})
        if given is None:
            given = self._given(task, where, outer, call_scope)
        with self._within(foreign, where):
            step = self._called(target, given, outer, call_scope, where, hook_name, node, spec_path)
        if "steps" in step:
            raise Unsupported("a hook calling a dag or steps template: orch's finally steps are steps, never groups")
        if conditions:
            step = {**step, "when": " and ".join(f"({c})" if len(conditions) > 1 else c for c in conditions)}
        finals[hook_name] = step
        self.names[node] = hook_name
        self.spec_of.setdefault(where, []).append(spec_path)
        self.ledger.approximated(where, "; ".join(notes), "finally")
        if scope.notes:
            self._notes(scope, where, spec_path)

    def _workflow_hooks(self, out: dict, exit_in_steps: bool) -> None:
        """The workflow's lifecycle hooks other than exit (`workflow.status == PHASE`) as finally steps."""
        hooks = self.spec.get("hooks") if isinstance(self.spec.get("hooks"), dict) else {}
        for hook_name, hook in hooks.items():
            if hook_name == "exit":
                continue
            where = (*self.root, "hooks", hook_name)
            try:
                if not isinstance(hook, dict) or not hook.get("expression"):
                    raise Unsupported("a workflow lifecycle hook other than exit needs an expression (Argo refuses "
                                      "it: 'Expression required')")
                extra = set(hook) - {"template", "templateRef", "expression"}
                if extra:
                    raise Unsupported(f"a workflow hook's {sorted(extra)}: only its template and expression are read")
                test, differs = workflow_test(hook["expression"], exit_in_steps)
                scope = self._scope(final=True)
                self._hook_step(out, hook, where, scope, str(hook_name), f"hooks:{hook_name}", [test] if test else [],
                                [differs], {})
            except Unsupported as err:
                self.ledger.unsupported(where, str(err))
