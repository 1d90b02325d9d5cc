"""A task's or step's exit hook (`onExit: T`, `hooks: {exit: …}`) as an orch finally step.

Argo's rules (workflow/controller): the hook runs once the task's node completed -- Succeeded, Failed or Error,
whatever its retries did -- and never for a Skipped or Omitted task nor one never started (dag.go, executeDAGTask,
and steps.go, executeStepGroup: runOnExitNode under `node.Completed()`); failFast does not stop it (the hook node
is made in the pass that sees the task complete, and the DAG waits for it: assessDAGPhase). The task's
dependents (and a steps template's next group) wait for the hook (CheckAllHooksFullfilled), but decide on the
task's own phase; the hook's own phase changes neither the task's, nor its DAG's or steps template's, nor the
workflow's (the hook node is a child the phase rules never read). An `expression` on the exit hook is tested
once the task completed, over the task's `status` (exit_handler.go). Its arguments read the task's outputs
(resolveExitTmplArgument); without arguments it gets the workflow's (LifecycleHook.WithArgs).

orch's finally steps are the steps whose failure never changes a run, so the hook is one: its `when` says that the
task ran (ran.py; with the expression's test of the task's status). What differs is when: orch runs it once every
step ended, not right after the task, and the task's dependents do not wait for it. The other lifecycle hooks
(`expression` ones, run when it first holds while the task runs) are refused.
"""

from __future__ import annotations

import re

from orch.core.names import suggest_name

from .ran import ran
from .tags import Scope, Unsupported

TIMING = ("orch runs it with the finally steps, once every step ended, where Argo runs it as soon as the task "
          "ended and makes the task's dependents wait for it; whether it runs, and that its failure changes no other "
          "step nor the run, are as in Argo")

_STATUS = re.compile(r"""^\s*(?:tasks|steps)(?:\.([A-Za-z0-9_]+)|\[\s*["']([-A-Za-z0-9_]+)["']\s*\])\.status\s*"""
                     r"""(==|!=)\s*["'](Succeeded|Failed|Error)["']\s*$""")


def exit_hook(task: dict):
    """(the exit hook as a LifecycleHook dict, its path under the task) or (None, None); `onExit` wins (GetExitHook)."""
    if task.get("onExit"):
        return {"template": task["onExit"]}, ("onExit",)
    hooks = task.get("hooks")
    if isinstance(hooks, dict) and isinstance(hooks.get("exit"), dict):
        return hooks["exit"], ("hooks", "exit")
    return None, None


def status_test(expression: str, task: str, name: str) -> tuple[str, bool]:
    """An exit hook's `expression` over the task's status as an orch condition in a finally step (the task ran,
    so its status is Succeeded, Failed or Error): (condition, exact). Unsupported for any other expression."""
    found = _STATUS.match(str(expression))
    if not found or (found.group(1) or found.group(2)) != task:
        raise Unsupported(f"the exit hook's expression {expression!r}: only `tasks.{task}.status == \"Succeeded\"` "
                          "(or != , or Failed / Error) has an orch form")
    op, phase = found.group(3), found.group(4)
    is_failed = f"'{name}' in run.failed_steps"
    if phase == "Succeeded":
        return (f"'{name}' not in run.failed_steps" if op == "==" else is_failed), True
    # orch tells no error from a failure in run.failed_steps: Failed and Error are both "failed"
    return (is_failed if op == "==" else f"'{name}' not in run.failed_steps"), False


class Hooks:
    """The part of the conversion that reads hooks (mixed into convert.Workflow)."""

    def _note_hooks(self, task: dict, where: tuple, scope: Scope, prefix: str, name: str, argo_path: str) -> None:
        """Record a task's hooks, converted once every step is known (`_hooks`)."""
        hook, key = exit_hook(task)
        if task.get("onExit") and isinstance(task.get("hooks"), dict) and "exit" in task["hooks"]:
            self.ledger.mapped((*where, "hooks", "exit"), note="not run: the task's onExit wins (GetExitHook)")
        for hook_name in (task.get("hooks") or {}) if isinstance(task.get("hooks"), dict) else ():
            if hook_name != "exit":
                self.ledger.unsupported((*where, "hooks", hook_name), "a lifecycle hook run when its expression first "
                                        "holds while the task runs: orch has no step that starts within another's run")
        if hook is not None:
            self.task_hooks.append((hook, (*where, *key), scope, prefix, name, argo_path))

    def _hooks(self, out: dict) -> None:
        """Each recorded exit hook as a finally step, once the spec's steps are all written."""
        for hook, where, scope, prefix, name, argo_path in self.task_hooks:
            try:
                self._hook(out, hook, where, scope, prefix, name, argo_path)
            except Unsupported as err:
                self.ledger.unsupported(where, str(err))

    def _hook(self, out, hook: dict, where: tuple, scope: Scope, prefix: str, name: str, argo_path: str) -> None:
        if prefix:
            raise Unsupported("an exit hook on a task inside a nested dag or steps template: orch's finally steps "
                              "see whether a top-level step ran, not one inside a group")
        if "steps" in out["steps"].get(name, {}):
            raise Unsupported("an exit hook on a task calling a dag or steps template: orch cannot tell whether "
                              "the group ran from a finally step")
        if set(hook) - {"template", "templateRef", "arguments", "expression"}:
            raise Unsupported(f"an exit hook's {sorted(set(hook) - {'template', 'arguments', 'expression'})}")
        fail_fast = bool(out.get("fail_fast"))
        found = ran(out["steps"], name, fail_fast)
        notes = [TIMING]
        if not found.exact:
            notes.append(f"whether it runs is approximated: {found.why}; orch runs it "
                         + (f"when {found.condition}" if found.condition else "whatever happened"))
        task_name = argo_path.split(".")[-1]
        if re.search(r"\{\{\s*(?:tasks|steps)\.%s\.outputs\." % re.escape(task_name), str(hook.get("arguments"))):
            notes.append(f"its arguments read {task_name}'s outputs: when {task_name} failed, orch's reference is null "
                         "(an artifact has nothing to copy, so the hook fails), where Argo reads what the failed pod "
                         "saved (postmain.go saves outputs whatever the exit code), or the output's default")
        conditions = [found.condition] if found.condition else []
        if hook.get("expression"):
            test, exact = status_test(hook["expression"], task_name, name)
            conditions.append(test)
            if not exact:
                notes.append("the expression's Failed and Error are both orch's failed (run.failed_steps names "
                             "either)")
        finals = out.setdefault("finally", {})
        taken = set(out["steps"]) | set(finals)
        hook_name, n = suggest_name(f"{name}-exit"), 2
        while hook_name in taken:
            hook_name, n = suggest_name(f"{name}-exit-{n}"), n + 1
        spec_path = ("finally", hook_name)
        task = {"name": hook_name, **{k: v for k, v in hook.items() if k in ("template", "templateRef", "arguments")}}
        target, foreign = self._target(task, where)
        if target is None:
            return
        outer = scope.child()
        call_scope = scope.child(inputs={}, artifacts={}, item_depth={})
        if hook.get("arguments"):
            given = self._given(task, where, outer, call_scope)
        else:  # the workflow's arguments (LifecycleHook.WithArgs): its parameters by name
            given = {argo: "${{ params.%s }}" % orch for argo, orch in self.params.items()}
        with self._within(foreign, where):
            step = self._called(target, given, outer, call_scope, where, hook_name, f"{argo_path}.onExit", spec_path)
        if "steps" in step:
            raise Unsupported("an exit hook calling a dag or steps template: orch's finally steps are steps, never "
                              "groups")
        if conditions:
            step = {**step, "when": " and ".join(f"({c})" if len(conditions) > 1 else c for c in conditions)}
        finals[hook_name] = step
        self.names[f"{argo_path}.onExit"] = hook_name
        self.spec_of.setdefault(where, []).append(spec_path)
        self.ledger.approximated(where, "; ".join(notes), "finally")
        if scope.notes:
            self._notes(scope, where, spec_path)

