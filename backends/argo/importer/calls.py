"""DAG and steps templates and the calls in them: each task or step an orch step or group, its template (its
own, inline, or a WorkflowTemplate's) with its arguments bound, its loop, its `when`, its `depends`."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager

from orch.core.fidelity import Ledger
from orch.core.names import suggest_name

from . import depends as deps
from . import pod, policies, when as argo_when
from .policies import TEMPLATE_POLICIES
from .common import TEMPLATE_POD, WHY, failing, go_format, join, kind_of, local_names, targeted, task_names
from .manifest import with_defaults
from .tags import ORCH_REF, TAG, Scope, Unsupported, single_reference, translate


class Calls:
    """The part of the conversion that reads DAGs, steps templates and their calls (mixed into convert.Workflow)."""

    def _dag(self, path: tuple, template: dict, scope: Scope, prefix: str, spec_path: tuple) -> dict:
        led = self.ledger
        dag = template.get("dag") or {}
        tasks = [t for t in dag.get("tasks") or [] if isinstance(t, dict)]
        by_name = {t.get("name"): t for t in tasks}
        outer_siblings, self.siblings = self.siblings, by_name
        local = self._scope_names(prefix, [t.get("name") for t in tasks], scope)
        inner = scope.child(tasks=local, looped=False, artifacts={})
        self._want_for(inner, prefix, local)
        self.fail_fast_of[prefix] = bool(dag.get("failFast", True))  # this DAG's own: its scope's fail_fast, exactly
        if "failFast" in dag:
            led.mapped((*path, "dag", "failFast"), "fail_fast")
        target = None
        if dag.get("target"):
            try:
                target = translate(str(dag["target"]), scope)
                if "${{" in target:
                    raise Unsupported("a target from a param or an output: which tasks run is chosen at submit, an "
                                      "orch spec's steps are fixed")
            except Unsupported as err:
                led.unsupported((*path, "dag", "target"), str(err))
                target = None
        if target:
            tasks = targeted(tasks, target.split(), by_name)
            for i, task in enumerate(dag.get("tasks") or []):
                if task not in tasks:
                    led.mapped((*path, "dag", "tasks", i), note="neither a target nor one it depends on: Argo never "
                                                                "runs it")
            led.mapped((*path, "dag", "target"), "steps", "only the target tasks and the tasks they depend on: "
                                                         "Argo runs no other task of this DAG")
        for key in dag:
            if key not in ("tasks", "failFast", "target"):
                led.unsupported((*path, "dag", key), f"dag.{key} has no orch field")
        del target
        steps: dict = {}
        index = {id(t): i for i, t in enumerate(dag.get("tasks") or [])}
        for i, task in ((index[id(t)], t) for t in tasks):
            where = (*path, "dag", "tasks", i)
            name = local[task.get("name")]
            logic = None
            try:
                logic = deps.expression(task, by_name)
            except Unsupported as err:
                led.unsupported(where, str(err))
            step = self._call(task, where, inner, prefix, name, (*spec_path, name))
            if logic:
                self._trigger(task, where, logic, local, step)
            steps[name] = step
        self._fail_fast_lets_through(path, dag, tasks)
        self._template_rest(path, template, prefix, steps)
        self.siblings = outer_siblings
        return steps

    def _fail_fast_lets_through(self, path: tuple, dag: dict, tasks: list[dict]) -> None:
        """A failFast DAG (Argo's default) where a task's failure is let through -- its `continueOn`, or a
        `depends` that runs a task on it: Argo's failFast fails the DAG, and so starts nothing more, only once a
        target task's branch failed (dag.go, assessDAGPhase), which such a failure need not do; orch's fail_fast
        stops the scope's steps not yet started after any failure, the ones that would run on it too."""
        if not dag.get("failFast", True):
            return
        names = [t.get("name") for t in tasks]
        through = [n for n, t in zip(names, tasks) if isinstance(t.get("continueOn"), dict) and t["continueOn"]]
        for task in tasks:
            text = str(task.get("depends") or "")
            through += [n for n in names if n not in through and re.search(
                rf"(?<![\w-]){re.escape(str(n))}\.(Failed|Errored|AllFailed)", text)
                and not re.search(rf"!\s*\(?\s*{re.escape(str(n))}\.", text)]  # as the player's _handled
        if through:
            at = (*path, "dag", "failFast") if "failFast" in dag else (*path, "dag")
            self.ledger.approximated(at, f"failFast with a failure let through ({', '.join(map(str, through))}): Argo "
                                         "goes on after it (its DAG fails, and stops starting tasks, only once a target "
                                         "task's branch failed: dag.go, assessDAGPhase); orch's fail_fast starts no "
                                         "step of the scope after any failure, those that would run on it included",
                                     "fail_fast")

    def _trigger(self, task, where, logic, local, step) -> None:
        key = "depends" if task.get("depends") else "dependencies"
        try:
            upstream = deps.names(logic)
            trigger, wrong, tried = deps.trigger(logic, {u: deps.possible(self.siblings.get(u)) for u in upstream})
        except Unsupported as err:
            self.ledger.unsupported((*where, key), str(err))
            return
        unknown = [u for u in upstream if u not in local]
        if unknown:
            self.ledger.unsupported((*where, key), f"names no task of this DAG: {', '.join(unknown)}")
            return
        step["after"] = [local[u] for u in upstream]
        if trigger != "all_succeeded":
            step["trigger"] = trigger
        if wrong:
            self.ledger.approximated((*where, key), f"{logic!r} read as trigger {trigger}: for some upstream states it "
                                                    "decides otherwise, or leaves the step skipped where Argo omits "
                                                    "it (Omitted is orch's upstream_failed)", "trigger")
        else:
            self.ledger.mapped((*where, key), "after", f"{trigger}: the same decision for every upstream state")

    def _steps(self, path: tuple, template: dict, scope: Scope, prefix: str, spec_path: tuple) -> dict:
        groups = [g for g in template.get("steps") or []]
        flat = [(gi, si, s) for gi, g in enumerate(groups) for si, s in enumerate(g or []) if isinstance(s, dict)]
        outer_siblings, self.siblings = self.siblings, {s.get("name"): s for _, _, s in flat}
        last = max((gi for gi, _, _ in flat), default=0)
        self.followed |= {id(s) for gi, _, s in flat if gi < last}
        self.fail_fast_of[prefix] = False  # steps.go: a group's steps all start; a failure stops the next groups only
        local = self._scope_names(prefix, [s.get("name") for _, _, s in flat], scope)
        inner = scope.child(tasks=local, looped=False, artifacts={})
        self._want_for(inner, prefix, local)
        steps: dict = {}
        previous: list[str] = []
        for gi, group in enumerate(groups):
            current = []
            for si, item in enumerate(group or []):
                where = (*path, "steps", gi, si)
                name = local[item.get("name")]
                step = self._call(item, where, inner, prefix, name, (*spec_path, name))
                if previous:
                    step["after"] = list(previous)
                    step["trigger"] = "none_failed"
                steps[name] = step
                current.append(name)
            if current:
                previous = current
            if gi and current:
                self.ledger.mapped((*path, "steps", gi), "after", "after every step of the group before, "
                                   "none_failed: a failed step stops the next groups, a skipped one does not")
        self._template_rest(path, template, prefix, steps)
        self.siblings = outer_siblings
        return steps

    def _template_rest(self, path, template, prefix, steps) -> None:
        kind = kind_of(template)
        self.ledger.mapped((*path, "name"))
        if "parallelism" in template:
            self._parallelism(template["parallelism"], (*path, "parallelism"), steps, prefix)
        for key in template:
            if key in ("name", kind, "parallelism", "inputs", "outputs"):
                continue
            if key == "failFast":
                self.ledger.approximated((*path, key), "a template's own failFast (operator.go, checkParallelism: no new "
                                         "child once any child failed, a retried attempt too) has no orch field; the "
                                         "scope keeps its dag.failFast", "fail_fast")
                continue
            if key in TEMPLATE_POD:
                self.ledger.mapped((*path, key), note=f"a pod setting on a {kind} template: Argo makes no pod of it")
                continue
            if key in TEMPLATE_POLICIES:
                self.ledger.approximated((*path, key), TEMPLATE_POLICIES[key])
                continue
            if key == "synchronization":
                policies.synchronization(template[key], (*path, key), self.ledger, self.spec, template)
                continue
            self.ledger.unsupported((*path, key), WHY.get(key, f"a {kind} template's {key!r} has no orch field"))
        if "inputs" in template:
            for key in template["inputs"]:
                if key != "parameters":
                    self.ledger.unsupported((*path, "inputs", key), f"a {kind} template's inputs.{key}")

    def _parallelism(self, value, where, steps: dict, prefix: str) -> None:
        looped = [s for s in steps.values() if "foreach" in s]
        if not str(value).isdigit() or int(value) < 1:
            self.ledger.unsupported(where, f"parallelism {value!r} is not a count")
        elif len(steps) == 1 and looped:
            looped[0]["parallelism"] = int(value)
            self.ledger.mapped(where, "parallelism", "the only step here fans out: its items at most this many at once")
        else:
            self.ledger.approximated(where, f"at most {value} pods at once here in Argo; orch bounds only a fan-out's "
                                            "items, so independent steps may run together (outcomes are the same)",
                                     "parallelism")

    def _scope_names(self, prefix: str, names: list, scope: Scope) -> dict[str, str]:
        """The orch names of a DAG's tasks or a steps template's steps. Inside a group, a name that the values
        passed in already use for a step outside is taken: orch reads `steps.X` as the sibling X first, so the
        inner step is renamed rather than capture the outer step's references."""
        outer = {m.group(1) for value in scope.inputs.values()
                 for m in re.finditer(r"\$\{\{\s*steps\.([a-z0-9_-]+)\.", value)} if prefix else set()
        local = local_names(names, outer)
        for name, fixed in local.items():
            if suggest_name(str(name)) in outer and fixed != suggest_name(str(name)):
                self.renamed[join(prefix, fixed)] = (f"{name!r} is named {fixed!r}: the values passed into this "
                                                     f"group read a step {suggest_name(str(name))!r} outside it, "
                                                     "which the same name inside would hide")
        self.locals[prefix] = local
        return local

    def _want_for(self, scope: Scope, prefix: str, local: dict[str, str]) -> None:
        def want(step: str, output: str, how: str) -> str:
            qualified = join(prefix, step)
            self.read.add(qualified)
            if qualified in self.container_sets:
                return self._set_output(qualified, output, how)
            outputs = self.outputs.setdefault(qualified, {})
            if qualified in self.groups:
                name = suggest_name(output)
                if name not in outputs:
                    raise Unsupported(f"group {step!r} has no output {output!r}")
                return name
            if how == "result":
                outputs.setdefault("result", {"type": "string", "from": "stdout"})
                return "result"
            name = suggest_name(output)
            if name not in outputs and how == "parameters":
                outputs[name] = {"type": "string"}  # declared when its template is read (a later task)
            return name
        scope.want = want
        scope.qualified = {**scope.qualified, **{v: join(prefix, v) for v in local.values()}}

    def _call(self, task: dict, where: tuple, scope: Scope, prefix: str, name: str, spec_path: tuple) -> dict:
        """A DAG task or a steps template's step: the template it calls with its arguments, its loop, its when."""
        led = self.ledger
        qualified = join(prefix, name)
        led.mapped((*where, "name"), None, self.renamed.get(qualified) or
                   ("" if name == task.get("name") else f"{task.get('name')!r} is named {name!r}: orch's names refuse it"))
        argo_path = join(self.argo_path, task.get("name"))
        self.names[argo_path] = qualified
        self.spec_of.setdefault(where, []).append(spec_path)
        target, foreign = self._target(task, where)
        if target is None:
            return failing("a template not in this manifest")
        loop = self._loop(task, where, scope)
        depth = scope.depth + (loop is not None)
        outer = scope.child(looped=loop is not None or scope.looped, depth=depth)
        call_scope = scope.child(inputs={}, looped=loop is not None or scope.looped, artifacts={}, depth=depth,
                                 item_depth={})
        given = self._given(task, where, outer, call_scope)
        with self._within(foreign, where):
            step = self._called(target, given, outer, call_scope, where, qualified, argo_path, spec_path)
        if loop is not None:
            step["foreach"] = loop
            self.fanouts[qualified] = where
        self._task_when(task, where, scope, step, spec_path)
        self._unresolvable(task, where)
        self._task_rest(task, where, step, qualified)
        self._note_hooks(task, where, scope, prefix, qualified, argo_path)
        if scope.notes:
            self._notes(scope, where, spec_path)
        return step

    def _target(self, task: dict, where: tuple):
        """(the template's name, the WorkflowTemplate document holding it or None); None where there is none."""
        led = self.ledger
        if isinstance(task.get("inline"), dict):
            target = f"{task.get('name')}-inline-{len(self.inline)}"
            self.inline[target] = ((*where, "inline"), {"name": target, **task["inline"]})
            led.mapped((*where, "inline"), note="an inline template, read as any other")
            return target, None
        if isinstance(task.get("templateRef"), dict):
            ref = task["templateRef"]
            kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
            document = self.library.get((kind, ref.get("name")))
            names = {t.get("name") for t in (document.spec.get("templates") or [])} if document else set()
            if ref.get("template") not in names:
                led.unsupported(where, f"templateRef: {kind} {ref.get('name')!r} with template {ref.get('template')!r} "
                                       "is not among the imported manifests (import its file alongside)")
                return None, None
            return ref["template"], document
        target = task.get("template")
        if target not in self.templates:
            led.unsupported(where, f"template {target!r} is not in this manifest")
            return None, None
        led.mapped((*where, "template"))
        return target, None

    @contextmanager
    def _within(self, document, where: tuple):
        """Read a template of another document (a templateRef) in its own terms: its templates, its ledger; its
        fields' fates summed up on the templateRef entry of this one."""
        if document is None:
            yield
            return
        saved = (self.ledger, self.templates, self.root, self.volumes, self.called, self.doc)
        ledger = Ledger(document.locate)
        self.ledger, self.doc, self.root, self.called = ledger, document, document.spec_path, set()
        defaults = self.spec.get("templateDefaults")  # the running workflow's, as the controller merges them
        self.templates = {t.get("name"): (i, with_defaults(defaults, t))
                          for i, t in enumerate(document.spec.get("templates") or [])}
        self.volumes = pod.volume_sources(document.spec.get("volumes"), (*self.root, "volumes"), ledger)
        try:
            yield
        finally:
            (self.ledger, self.templates, self.root, self.volumes, self.called, self.doc) = saved
            self._summarize(ledger, document, where)

    def _summarize(self, ledger, document, where: tuple) -> None:
        from orch.core.fidelity import UNSUPPORTED, APPROXIMATED

        entries = list(ledger.entries.values())
        worst = [e for e in entries if e.status == UNSUPPORTED] or [e for e in entries if e.status == APPROXIMATED]
        ref = (*where, "templateRef")
        name = (document.data.get("metadata") or {}).get("name")
        if not worst:
            self.ledger.mapped(ref, note=f"read from {document.kind} {name!r} ({document.file})")
            return
        notes = "; ".join(f"{e.path} (line {e.line}): {e.note}" for e in worst[:3])
        note = f"in {document.kind} {name!r} ({document.file}): {notes}" + ("; …" if len(worst) > 3 else "")
        (self.ledger.unsupported if worst[0].status == UNSUPPORTED else
         lambda path, text: self.ledger.approximated(path, text))(ref, note)

    def _called(self, target, given, outer, call_scope, where, qualified, argo_path, spec_path) -> dict:
        """The template a call names, with its inputs bound: a group of its tasks, or one step."""
        led = self.ledger
        path, template = self._template(target)
        if self.ledger is self.main_ledger:
            self.spec_of.setdefault(path, []).append(spec_path)
        self._bind(path, template, given, outer, call_scope)
        kind = kind_of(template)
        if kind in ("dag", "steps") and target in self.stack:
            led.unsupported(path, f"template {target!r} calls itself: a recursive workflow has no fixed orch graph")
            return failing("a recursive call")
        if kind in ("dag", "steps"):
            self.stack.append(target)
            self.groups.add(qualified)
            outer_path, self.argo_path = self.argo_path, argo_path
            inner = self._body(target, call_scope, qualified, (*spec_path, "steps"))
            self.argo_path = outer_path
            step = {"steps": inner}
            self.stack.pop()
            outputs = self._group_outputs(path, template, call_scope, inner, qualified)
            if outputs:
                step["outputs"] = outputs
            if "retryStrategy" in template:
                led.unsupported((*path, "retryStrategy"), "orch retries steps, not groups")
            if "timeout" in template or "activeDeadlineSeconds" in template:
                led.unsupported(path, "an orch group has no timeout")
            return step
        return self._leaf(path, template, call_scope, qualified, spec_path)

    def _given(self, task, where, outer: Scope, inner: Scope) -> dict:
        """The call's arguments, in the caller's terms: parameters' values, artifacts' origins."""
        given = {}
        arguments = task.get("arguments") or {}
        for i, param in enumerate(arguments.get("parameters") or []):
            try:
                given[param.get("name")] = translate(str(param.get("value", "")), outer)
                if "${{ item }}" in given[param.get("name")]:
                    inner.item_depth[param.get("name")] = outer.depth
                self.ledger.mapped((*where, "arguments", "parameters", i), "with the template's input filled in")
            except Unsupported as err:
                self.ledger.unsupported((*where, "arguments", "parameters", i), str(err))
                given[param.get("name")] = ""
        for i, artifact in enumerate(arguments.get("artifacts") or []):
            origin = artifact.get("from")
            try:
                if origin is None or set(artifact) - {"name", "from"}:
                    raise Unsupported("only an artifact passed `from` an upstream task has an orch form")
                inner.inputs[f"artifact:{artifact['name']}"] = translate(str(origin), outer)
                self.ledger.mapped((*where, "arguments", "artifacts", i), "command", "the upstream artifact's copy")
            except Unsupported as err:
                self.ledger.unsupported((*where, "arguments", "artifacts", i), str(err))
        for key in arguments:
            if key not in ("parameters", "artifacts"):
                self.ledger.unsupported((*where, "arguments", key), f"arguments.{key}")
        return given

    def _bind(self, path, template, given: dict, outer: Scope, inner: Scope) -> None:
        """The template's input parameters: the call's values, else the template's own."""
        for i, param in enumerate(((template.get("inputs") or {}).get("parameters")) or []):
            ipath = (*path, "inputs", "parameters", i)
            name = param.get("name")
            if name in given:
                inner.inputs[name] = given[name]
            elif "value" in param or "default" in param:
                try:
                    inner.inputs[name] = translate(str(param.get("value", param.get("default"))),
                                                   self._scope(notes=outer.notes))
                except Unsupported as err:
                    self.ledger.unsupported(ipath, str(err))
                    inner.inputs[name] = ""
            else:
                self.ledger.unsupported(ipath, "an input with no value given and no default")
                inner.inputs[name] = ""
            for key in param:
                if key in ("name", "value", "default", "description"):
                    self.ledger.mapped((*ipath, key), note="filled in where the template is called")
                elif key == "enum":
                    self.ledger.approximated((*ipath, key), "the enum is not checked")
                else:
                    self.ledger.unsupported((*ipath, key), f"an input parameter's {key!r} has no orch form")

    def _group_outputs(self, path, template, scope, inner, qualified) -> dict:
        found = {}
        outputs = template.get("outputs") or {}
        local = self.locals.get(qualified) or local_names(task_names(template))
        tasks_scope = scope.child(tasks=local)
        self._want_for(tasks_scope, qualified, local)
        for i, param in enumerate(outputs.get("parameters") or []):
            where = (*path, "outputs", "parameters", i)
            source = (param.get("valueFrom") or {}).get("parameter")
            try:
                if source is None or set(param.get("valueFrom")) != {"parameter"}:
                    raise Unsupported("a group output is one reference to an output of a step inside it")
                text = translate(str(source), tasks_scope)
                if single_reference(text) is None:
                    raise Unsupported("a group output is exactly one reference")
                found[suggest_name(param["name"])] = text
                self.ledger.mapped(where, "outputs")
            except Unsupported as err:
                self.ledger.unsupported(where, str(err))
        for key in outputs:
            if key != "parameters":
                self.ledger.unsupported((*path, "outputs", key), f"a group's outputs.{key} has no orch form")
        self.outputs[qualified] = {k: {} for k in found}
        return found

    def _loop(self, task: dict, where: tuple, scope: Scope):
        led = self.ledger
        if "withItems" in task:
            items = task["withItems"]
            uses_keys = "{{item." in json.dumps(task.get("arguments") or {})
            if uses_keys:
                led.unsupported((*where, "withItems"), "{{item.KEY}}: orch's ${{ item }} is the whole item, "
                                                        "it has no field access")
            elif not items:
                led.approximated((*where, "withItems"), "no items: Argo's task is Skipped, orch's empty fan-out "
                                                        "succeeds (a dependent reading X.Succeeded differs)", "foreach")
            else:
                led.mapped((*where, "withItems"), "foreach")
            try:
                return [translate(i, scope) if isinstance(i, str) else i for i in items]
            except Unsupported as err:
                led.unsupported((*where, "withItems"), str(err))
                return []
        if "withParam" in task:
            try:
                text = translate(str(task["withParam"]), scope)
                ref = single_reference(text)
                if ref is None and "${{" not in text:
                    items = json.loads(text)
                    if not isinstance(items, list):
                        raise Unsupported("withParam is not a JSON list")
                    led.mapped((*where, "withParam"), "foreach", "a JSON list given as text")
                    return items
                if ref is None:
                    raise Unsupported("withParam is not exactly one reference")
                self._demand(ref, "json", scope)
                led.mapped((*where, "withParam"), "foreach", "read as a json list")
                return text
            except (Unsupported, ValueError) as err:
                led.unsupported((*where, "withParam"), str(err))
                return []
        if "withSequence" in task:
            seq = task["withSequence"]
            try:
                seq = {k: translate(str(v), scope) for k, v in seq.items()}
                if set(seq) - {"count", "start", "end", "format"} or any("${{" in v for v in seq.values()):
                    raise Unsupported("a sequence whose bounds come from params or outputs: orch's foreach needs "
                                      "the list itself")
                start = int(seq.get("start", 0))
                end = int(seq["end"]) if "end" in seq else start + int(seq.get("count", 0)) - 1
                step = 1 if end >= start else -1
                fmt = seq.get("format")
                values = [(go_format(fmt, n) if fmt else str(n)) for n in range(start, end + step, step)]
                led.mapped((*where, "withSequence"), "foreach", "the sequence's numbers as text, as Argo's items")
                return values
            except (Unsupported, ValueError, KeyError) as err:
                led.unsupported((*where, "withSequence"), str(err))
                return []
        return None

    def _unresolvable(self, task: dict, where: tuple) -> None:
        """A `when` or argument naming the output of a task that may end without it, which orch reads as null.
        A producer Skipped (its `when`) or Omitted (this task's depends reads .Skipped or .Omitted) whose template
        declares no default for the output parameter leaves an absent optional (scope.go,
        addSkippedNodeOutputsToScope): an argument that is only that tag leaves the input to its own default, and
        errors the task without one (common/util.go, ProcessArgs); a tag in other text or in `when` errors it
        (util/template, simpleReplaceStrict). A producer that failed and is let through (`continueOn`, or this
        task's depends reads .Failed/.Errored) -- or a skipped one's `result` -- gives no value at all: Argo
        requeues this task for ever (dag.go, resolveDependencyReferences; the run never ends)."""
        logic = str(task.get("depends", ""))
        arguments = [p for p in (task.get("arguments") or {}).get("parameters") or [] if isinstance(p, dict)]
        texts = [(str(task.get("when", "")), None)] + [(str(p.get("value", "")), p) for p in arguments]
        for text, argument in texts:
            for match in TAG.finditer(text):
                parts = match.group(2).split(".")
                if len(parts) < 4 or parts[0] not in ("tasks", "steps") or parts[2] != "outputs":
                    continue
                producer = self.siblings.get(parts[1]) or {}
                if self._has_default(producer, parts):
                    continue
                name = re.escape(parts[1])
                skipped = producer.get("when") or re.search(rf"(?<![\w-]){name}\.(Skipped|Omitted)", logic)
                failed = producer.get("continueOn") or re.search(rf"(?<![\w-]){name}\.(Failed|Errored|AllFailed)",
                                                                 logic)
                if skipped and parts[3] == "parameters":
                    self.ledger.approximated(where, f"{match.group(0)}: when {parts[1]} is skipped or omitted, "
                                             f"{self._absent(task, argument, text, match.group(0))}; orch reads null "
                                             "(empty text)", "when")
                    return
                if skipped or failed:
                    self.ledger.approximated(where, f"{match.group(0)}: when {parts[1]} ends without that output "
                                             "(skipped, or failed and let through), Argo cannot fill the tag in and "
                                             "leaves this task waiting for ever (the run never ends); orch reads "
                                             "null", "when")
                    return

    def _absent(self, task: dict, argument: dict | None, text: str, tag: str) -> str:
        """What Argo does with an absent optional read by `tag` in `text` (an argument's value, or the `when`)."""
        if argument is None or text.strip() != tag:
            return "Argo errors this task (an absent optional in a tag: simpleReplaceStrict)" + (
                "" if argument is not None or "steps" not in tag else ", in a steps template its whole group")
        inputs = {}
        if task.get("template") in self.templates:
            _, template = self.templates[task["template"]]
            inputs = {p.get("name"): p for p in (template.get("inputs") or {}).get("parameters") or []
                      if isinstance(p, dict)}
        declared = inputs.get(argument.get("name")) or {}
        for key in ("value", "default"):
            if key in declared:
                return (f"Argo passes the input's own {key} ({str(declared[key])!r}: the argument counts as not given, "
                        "scope.go markAbsentOptionalArgs)")
        if "valueFrom" in declared:
            return "Argo reads the input's own valueFrom (the argument counts as not given)"
        return "Argo errors this task (an absent optional for an input with no default: ProcessArgs)"

    def _has_default(self, producer: dict, parts: list[str]) -> bool:
        """Whether the producer's template declares a default for the output parameter (Argo's value then)."""
        if parts[3] != "parameters" or len(parts) < 5 or producer.get("template") not in self.templates:
            return False
        _, template = self.templates[producer["template"]]
        return any(p.get("name") == parts[4] and (p.get("valueFrom") or {}).get("default") is not None
                   for p in (template.get("outputs") or {}).get("parameters") or [])

    def _task_when(self, task, where, scope, step, spec_path) -> None:
        if "when" not in task:
            return
        refs: list[str] = []

        def marker(match: re.Match) -> str:
            if match.group(1):
                raise Unsupported("an expression tag in when")
            text = translate(match.group(0), scope)
            ref = single_reference(text)
            if ref is not None and ORCH_REF.fullmatch(text.strip()):
                refs.append(ref)
                return f"\x00{len(refs) - 1}\x00"
            if "${{" in text:
                raise Unsupported("a tag inside a word of 'when' text")
            return text

        try:
            if any(k in task for k in ("withItems", "withParam", "withSequence")) and "item" in str(task["when"]):
                raise Unsupported("a looped task's when is decided per item in Argo, once before the fan-out in orch")
            text = TAG.sub(marker, str(task["when"]))
            tree = argo_when.parse(text)
            condition = argo_when.to_orch(tree, refs, lambda ref, lit: self._compared(ref, lit, scope))
            step["when"] = condition
            self.ledger.mapped((*where, "when"), "when")
        except Unsupported as err:
            self.ledger.unsupported((*where, "when"), str(err))

    def _compared(self, ref: str, literal, scope: Scope) -> None:
        kind = "string"
        if isinstance(literal, (int, float)) and not isinstance(literal, bool):
            kind = "integer" if isinstance(literal, int) else "number"
            scope.notes.append(("approximated", f"{ref} is compared with a number, so orch reads it as {kind}: a "
                                                "value that is not one fails the step writing it, where Argo "
                                                "fails the comparing task"))
        self._demand(ref, kind, scope, literal)

    def _demand(self, ref: str, kind: str, scope: Scope, literal=None) -> None:
        """The type a reference is read as (a param's, an output's), and the literals it is compared with."""
        parts = ref.split(".")
        if parts[0] == "params":
            param = self.param_specs.get(parts[1])
            if param is not None:
                self._retype(param, kind, "default")
                self.literals.setdefault(("params", parts[1]), []).append(literal)
        elif parts[0] == "steps" and len(parts) == 4:
            qualified = scope.qualified.get(parts[1], parts[1])
            if (self.container_sets.get(qualified) or (None, None))[1]:  # a set's output is its main step's
                qualified = self.container_sets[qualified][1]
            outputs = self.outputs.setdefault(qualified, {})
            entry = outputs.setdefault(parts[3], {"type": "string"})
            self._retype(entry, kind, None)
            if literal is not None:
                self.literals.setdefault((qualified, parts[3]), []).append(literal)
        elif parts[0] == "run" and literal is not None and parts[1] == "status":
            pass

    @staticmethod
    def _retype(entry: dict, kind: str, default_key) -> None:
        if kind == "string" or entry.get("type") == "json":
            return
        entry["type"] = kind
        if default_key and default_key in entry:
            try:
                value = json.loads(str(entry[default_key]))
                entry[default_key] = float(value) if kind == "number" else value
            except ValueError:
                entry["type"] = "string"

    def _task_rest(self, task, where, step, qualified) -> None:
        for key in task:
            if key in ("name", "template", "templateRef", "inline", "arguments", "withItems", "withParam", "withSequence", "when",
                       "depends", "dependencies", "hooks", "onExit"):  # hooks: hooks.py
                continue
            if key == "continueOn":
                self.ledger.approximated((*where, key), _continue_on_note(task, id(task) in self.followed), "trigger")
            else:
                self.ledger.unsupported((*where, key), WHY.get(key, f"a task's {key!r} has no orch field"))


def _continue_on_note(task: dict, followed: bool) -> str:
    """What differs for a step with `continueOn`: Argo neither fails its DAG or step group for the failure it
    names (dag.go, assessDAGPhase; steps.go, executeStepGroup: ContinuesOn) nor, so, the run; orch has no such
    step, its failure fails the run, and a steps template's next group (none_failed) does not start after it."""
    on = task.get("continueOn") if isinstance(task.get("continueOn"), dict) else {}
    which = " or ".join(word for key, word in (("failed", "failure"), ("error", "error")) if on.get(key)) or "nothing"
    note = (f"Argo lets this step's {which} through (continueOn): its DAG or step group, and so the run, do not "
            "fail for it; an orch pipeline fails with any failed step")
    if followed:
        note += (", and the next group's steps (after it, none_failed) end upstream_failed in orch where Argo "
                 "starts them")
    if which in ("failure", "error"):
        note += f"; Argo still stops for {'an error' if which == 'failure' else 'a failure'}, orch has one failed state"
    return note
