"""One Argo pipeline document as an orch spec: templates inlined at each call, tasks and steps as orch steps.

Each DAG task or steps-template step becomes one orch step of the same name (a name orch refuses is fixed and
said); a task calling a dag or steps template becomes a group holding that template's tasks. A template called
from several tasks is written out at each call (its inputs filled in), as Argo itself substitutes a template's
inputs per call: the spec reads as the workflow ran. A steps template's groups run in sequence (steps.go): each
step runs after every step of the group before, under `none_failed` (a skipped step does not stop the next
group; a failed one does).
"""

from __future__ import annotations

import json
import re

from orch.core.names import MAX_NAME, MAX_SCHEDULED_NAME, name_problem, suggest_name

from . import command as cmd
from . import depends as deps
from . import pod, when as argo_when
from contextlib import contextmanager

from orch.core.fidelity import Ledger

from .cron import schedule as cron_schedule
from .manifest import with_defaults
from .retries import Retrying, number, retries, seconds
from .tags import ORCH_REF, TAG, Scope, Unsupported, single_reference, translate

LEAF = ("container", "script")
INFORMATIONAL = ("workflows.argoproj.io/version", "workflows.argoproj.io/no-test-reasons",
                 "workflows.argoproj.io/no-test-reason", "workflows.argoproj.io/tags",
                 "workflows.argoproj.io/maintainer", "workflows.argoproj.io/verify.py")
KINDS = ("container", "script", "dag", "steps", "suspend", "resource", "http", "plugin", "containerSet", "data")
TEMPLATE_POD = ("nodeSelector", "tolerations", "serviceAccountName", "metadata", "podSpecPatch", "affinity",
                "securityContext", "priorityClassName", "hostAliases", "dnsConfig", "dnsPolicy", "schedulerName",
                "automountServiceAccountToken", "hostNetwork", "priority", "runtimeClassName")
SPEC_POD = ("nodeSelector", "tolerations", "serviceAccountName", "podMetadata", "podSpecPatch", "affinity",
            "securityContext", "imagePullSecrets", "hostAliases", "dnsConfig", "dnsPolicy", "schedulerName",
            "automountServiceAccountToken", "hostNetwork", "priority", "runtimeClassName")
NOT_KEPT = {"podGC": "orch's rendered Workflow removes its own pods", "ttlStrategy": "orch keeps no finished-run TTL",
            "archiveLogs": "orch's runs keep their logs as the engine does",
            "artifactRepositoryRef": "orch's artifacts go to the pipeline's artifact store",
            "metrics": "orch emits no custom Prometheus metrics", "synchronization": "orch has no semaphores or mutexes",
            "hooks": "orch has no lifecycle hooks", "shutdown": "a shutdown is a run-time action",
            "suspend": "a suspended workflow is a run-time state", "volumeClaimTemplates": "orch makes no PVCs per run",
            "workflowMetadata": "orch sets the workflow's metadata itself", "podDisruptionBudget": "orch sets none",
            "executor": "orch sets the executor's service account itself", "priority": "workflow priority is not in orch",
            "podPriorityClassName": "use kubernetes.pod_spec_patch.priorityClassName per step",
            "retryStrategy": "a workflow-level retry applies to the whole run; orch retries steps"}


class Workflow:
    """The conversion of one document: the spec dict, its comments, and what the behaviour check needs."""

    def __init__(self, document, ledger, library: dict | None = None):
        self.doc, self.ledger = document, ledger
        self.library = library or {}  # (kind, name) -> the WorkflowTemplate documents templateRefs may name
        self.spec = document.spec
        self.root = document.spec_path
        defaults = self.spec.get("templateDefaults") if isinstance(self.spec.get("templateDefaults"), dict) else {}
        self.templates = {t.get("name"): (i, with_defaults(defaults, t)) for i, t in enumerate(self.spec.get("templates") or [])
                          if isinstance(t, dict)}
        self.called: set[str] = set()
        self.params: dict[str, str] = {}  # Argo name -> orch name
        self.param_specs: dict[str, dict] = {}
        self.outputs: dict[str, dict] = {}  # qualified step -> its orch outputs
        self.groups: set[str] = set()
        self.retrying: dict[str, Retrying] = {}  # qualified step -> its retries
        self.literals: dict[tuple[str, str], list] = {}  # (qualified step, output) -> literals compared with
        self.names: dict[str, str] = {}  # Argo node path -> orch qualified name
        self.aliases: dict[tuple[str, str], str] = {}  # (qualified step, orch output) -> Argo output name
        self.fail_fast_votes: list[bool] = []
        self.steps_parallel = False
        self.inline: dict[str, tuple[tuple, dict]] = {}
        self.main_ledger = ledger
        self.locals: dict[str, dict[str, str]] = {}  # a scope's prefix -> its Argo names -> orch names
        self.renamed: dict[str, str] = {}  # qualified step -> why it was renamed
        self.spec_of: dict[tuple, list[tuple]] = {}  # a task's or template's path -> the spec paths it became
        self.fanouts: dict[str, tuple] = {}  # fan-out step -> the task's path
        self.read: set[str] = set()  # steps whose outputs a reference reads  # inline templates, by a name of their own
        self.argo_path = ""  # the Argo node path of the DAG or steps template being read
        self.stack: list[str] = []  # the dag and steps templates being called, to refuse recursion

    # --- the document ------------------------------------------------------------------------------------

    def convert(self) -> dict:
        data, led, root = self.doc.data, self.ledger, self.root
        led.mapped(("apiVersion",)), led.mapped(("kind",), note="one orch spec")
        spec = self.spec
        out: dict = {"apiVersion": "orch/v1", "name": self._pipeline_name()}
        self._metadata(out)
        if data.get("kind") == "CronWorkflow":
            found = cron_schedule(data.get("spec") or {}, led)
            if found:
                out["schedule"] = found
        self._params(out)
        defaults: dict = {}
        kubernetes: dict = {}
        volumes = pod.volume_sources(spec.get("volumes"), (*root, "volumes"), led)
        self.volumes = volumes
        pod.pod_fields(spec, root, led, kubernetes, SPEC_POD)
        if kubernetes:
            defaults["kubernetes"] = kubernetes
        if defaults:
            out["defaults"] = defaults
        if "activeDeadlineSeconds" in spec:
            out["timeout"] = number(seconds(spec["activeDeadlineSeconds"]))
            led.mapped((*root, "activeDeadlineSeconds"), "timeout", "a bound on the whole run")
        entry = spec.get("entrypoint")
        if entry not in self.templates:
            led.unsupported((*root, "entrypoint"), f"entrypoint {entry!r} names no template here")
            out["steps"] = {"entrypoint": _failing(f"entrypoint {entry!r} names no template")}
            return out
        led.mapped((*root, "entrypoint"), "steps")
        out["steps"] = self._body(entry, self._entry_scope(entry, Scope(params=self.params)), "", ("steps",))
        if spec.get("onExit"):
            self._exit(out)
        if "parallelism" in spec:
            self._parallelism(spec["parallelism"], (*root, "parallelism"), out["steps"], "")
        entry_path, entry_template = self._template(entry)
        if entry_template.get("outputs"):
            self._entry_outputs(entry_path, entry_template)
        if _kind(entry_template) in ("dag", "steps") and entry_template.get("volumes"):
            led.unsupported((*entry_path, "volumes"), "volumes on a dag or steps template: declare them on the "
                                                      "workflow or on the container templates")
        handled = ("entrypoint", "templates", "arguments", "onExit", "parallelism", "volumes", "activeDeadlineSeconds",
                   "templateDefaults", *SPEC_POD)
        for key in spec:
            if key in NOT_KEPT and key not in ("priority",) or key == "priority" and "priority" not in SPEC_POD:
                led.unsupported((*root, key), NOT_KEPT[key])
            elif key not in handled:
                led.unsupported((*root, key), f"the workflow's {key!r} has no orch field")
            elif key == "templateDefaults":
                self._defaults_fates(spec[key], (*root, key))
            elif key == "arguments":
                for part in spec[key]:
                    if part != "parameters":
                        led.unsupported((*root, key, part), "workflow arguments other than parameters have no orch "
                                                            "params (an artifact is not a param)")
        if self.fail_fast_votes:
            out["fail_fast"] = all(self.fail_fast_votes)
        if not out["params"]:
            del out["params"]
        self._finish(out)
        for name, (i, template) in self.templates.items():
            if name not in self.called:
                led.mapped((*root, "templates", i), note="never called from the entrypoint or onExit: nothing runs")
        return out

    def _defaults_fates(self, defaults, path: tuple) -> None:
        """templateDefaults are merged into every template (Argo's mergedTemplateDefaultsInto): each field takes
        the worst fate it met in the templates it reached."""
        from orch.core.fidelity import UNSUPPORTED, _RANK, leaves

        templates = [(*self.root, "templates", i) for i, _ in self.templates.values()]
        for leaf in leaves(defaults, ()):
            fates = []
            for template in templates:
                full = (*template, *leaf)
                for n in range(len(full), len(template), -1):
                    entry = self.ledger.entries.get(full[:n])
                    if entry is not None:
                        fates.append(entry)
                        break
            where = (*path, *leaf)
            if not fates:
                self.ledger.unsupported(where, "merged into the templates, where no field read it")
                continue
            worst = max(fates, key=lambda e: _RANK[e.status])
            note = f"merged into every template (Argo's templateDefaults); {worst.note}".rstrip("; ")
            {"mapped": self.ledger.mapped, "approximated": lambda p, n: self.ledger.approximated(p, n),
             UNSUPPORTED: lambda p, n: self.ledger.unsupported(p, n)}[worst.status](where, note)

    def _entry_outputs(self, path: tuple, template: dict) -> None:
        """The entrypoint's outputs are the workflow's own (its status shows them): orch reports the outputs of
        the steps they are read from, and a pipeline has none of its own."""
        outputs = template["outputs"]
        if _kind(template) not in ("dag", "steps"):
            return  # a container entrypoint: its outputs are its step's
        for i, param in enumerate(outputs.get("parameters") or []):
            where = (*path, "outputs", "parameters", i)
            source = param.get("valueFrom") or {}
            if set(source) == {"parameter"} and set(param) <= {"name", "valueFrom"}:
                self.ledger.approximated(where, "a workflow output: orch reports the step output it names "
                                                "(an orch pipeline has no outputs of its own)")
            else:
                self.ledger.unsupported(where, "a workflow output chosen by an expression or default has no orch form")
        for key in outputs:
            if key != "parameters":
                self.ledger.unsupported((*path, "outputs", key), "workflow output artifacts have no orch form")

    def _entry_scope(self, name: str, scope: Scope) -> Scope:
        """The entrypoint's (or exit handler's) inputs: the workflow's parameters of the same names (Argo binds
        `spec.arguments` to them), else their defaults."""
        path, template = self._template(name)
        for i, param in enumerate(((template.get("inputs") or {}).get("parameters")) or []):
            ipath, key = (*path, "inputs", "parameters", i), param.get("name")
            try:
                if set(param) - {"name", "value", "default", "description", "enum"}:
                    raise Unsupported(f"an input's {sorted(set(param) - {'name', 'value', 'default', 'description'})}"
                                      " has no orch form (a value from a ConfigMap is read where the workflow runs)")
                if "enum" in param:
                    self.ledger.approximated((*ipath, "enum"), "orch params take any value: the enum is not checked")
                if key in self.params:
                    scope.inputs[key] = "${{ params.%s }}" % self.params[key]
                    self.ledger.mapped(ipath, note="the workflow parameter of its name, as Argo binds it")
                elif "value" in param or "default" in param:
                    scope.inputs[key] = translate(str(param.get("value", param.get("default"))), scope)
                    self.ledger.mapped(ipath, note="its own value: no workflow parameter has its name")
                else:
                    fixed = suggest_name(key)
                    self.params[key] = fixed
                    self.param_specs[fixed] = {"type": "string"}
                    scope.inputs[key] = "${{ params.%s }}" % fixed
                    self.ledger.mapped(ipath, f"params.{fixed}", "a required param: Argo needs its value at submit "
                                                                 "(-p), orch at run time")
            except Unsupported as err:
                self.ledger.unsupported(ipath, str(err))
        return scope

    def _pipeline_name(self) -> str:
        meta = self.doc.data.get("metadata") or {}
        self.ledger.mapped(("metadata",), "name") if not meta else None
        written = meta.get("name") or str(meta.get("generateName") or "argo-workflow").rstrip("-")
        key = "name" if meta.get("name") else "generateName"
        limit = MAX_SCHEDULED_NAME if self.doc.data.get("kind") == "CronWorkflow" else MAX_NAME
        fixed = suggest_name(written)[:limit].rstrip("-_")
        if key in meta:
            if fixed == written:
                self.ledger.mapped(("metadata", key), "name")
            else:
                self.ledger.mapped(("metadata", key), "name", f"{written!r} is named {fixed!r}: orch's names refuse it")
        return fixed

    def _metadata(self, out: dict) -> None:
        meta = self.doc.data.get("metadata") or {}
        for key, value in meta.items():
            where = ("metadata", key)
            if key in ("name", "generateName"):
                continue
            if key == "labels":
                out["labels"] = {k: str(v) for k, v in (value or {}).items()}
                self.ledger.mapped(where, "labels")
            elif key == "annotations":
                for name, text in (value or {}).items():
                    if name in ("workflows.argoproj.io/description", "workflows.argoproj.io/title"):
                        out["description"] = (out.get("description", "") + "\n" + str(text)).strip()
                        self.ledger.mapped((*where, name), "description")
                    elif name in INFORMATIONAL:
                        self.ledger.approximated((*where, name), "an informational annotation (Argo does not read it "
                                                                 "as it runs): not kept, orch pipelines have none")
                    else:
                        self.ledger.unsupported((*where, name), "an orch pipeline has no annotations")
            elif key == "namespace":
                self.ledger.approximated(where, "the namespace is chosen where the spec is deployed "
                                                "(orch deploy --namespace), not in the spec")
            else:
                self.ledger.unsupported(where, f"metadata.{key} has no orch field")

    def _params(self, out: dict) -> None:
        root = (*self.root, "arguments", "parameters")
        params = {}
        for i, param in enumerate(((self.spec.get("arguments") or {}).get("parameters")) or []):
            where = (*root, i)
            name = param.get("name")
            fixed = suggest_name(name)
            self.params[name] = fixed
            entry: dict = {"type": "string"}
            for key, value in param.items():
                if key == "name":
                    self.ledger.mapped((*where, key), f"params.{fixed}",
                                       "" if fixed == name else f"{name!r} is named {fixed!r}: orch's names refuse it")
                elif key == "value":
                    entry["default"] = str(value)
                    self.ledger.mapped((*where, key), f"params.{fixed}.default")
                elif key == "description":
                    entry["description"] = str(value)
                    self.ledger.mapped((*where, key), f"params.{fixed}.description")
                elif key == "enum":
                    self.ledger.approximated((*where, key), "orch params take any value: the enum is not checked",
                                             f"params.{fixed}")
                else:
                    self.ledger.unsupported((*where, key), f"a parameter's {key!r} has no orch form")
            params[fixed] = entry
        self.param_specs = params
        out["params"] = params  # entry inputs may add required ones; dropped at the end when empty

    # --- templates --------------------------------------------------------------------------------------

    def _template(self, name: str):
        if name in self.inline:
            return self.inline[name]
        i, template = self.templates[name]
        self.called.add(name)
        return (*self.root, "templates", i), template

    def _body(self, name: str, scope: Scope, prefix: str, spec_path: tuple) -> dict:
        """The steps a template makes where it is the pipeline's (or a group's) body."""
        path, template = self._template(name)
        kind = _kind(template)
        if kind == "dag":
            return self._dag(path, template, scope, prefix, spec_path)
        if kind == "steps":
            return self._steps(path, template, scope, prefix, spec_path)
        local = suggest_name(name)
        self.names[_join(self.argo_path, name)] = _join(prefix, local)
        return {local: self._leaf(path, template, scope, _join(prefix, local), (*spec_path, local))}

    def _common(self, path: tuple, template: dict, step: dict, qualified: str, spec_path: tuple, scope: Scope) -> None:
        """The fields any template has: retries, timeouts, pod settings."""
        led = self.ledger
        led.mapped((*path, "name"), spec_path[-1] if spec_path else None)
        kubernetes = step.get("kubernetes") or {}
        pod.pod_fields(template, path, led, kubernetes, TEMPLATE_POD, scope)
        if kubernetes:
            step["kubernetes"] = kubernetes
        if "retryStrategy" in template:
            found, retrying = retries(template["retryStrategy"], (*path, "retryStrategy"), led)
            if found:
                step["retries"] = found
            self.retrying[qualified] = retrying
        try:
            self._timeouts(path, template, step, scope)
        except Unsupported as err:
            led.unsupported(path, f"a timeout: {err}")

    def _timeouts(self, path: tuple, template: dict, step: dict, scope: Scope) -> None:
        led = self.ledger

        def literal(value) -> float:
            text = translate(str(value), scope)
            if "${{" in text:
                raise Unsupported(f"{value!r} comes from a param or an output: an orch timeout is a literal")
            return number(seconds(text))

        if "activeDeadlineSeconds" in template:
            step["timeout"] = literal(template["activeDeadlineSeconds"])
            led.mapped((*path, "activeDeadlineSeconds"), "timeout", "the pod's deadline: one attempt")
        if "timeout" in template:
            step["timeout"] = literal(template["timeout"])
            led.approximated((*path, "timeout"), "Argo's template timeout runs from the node's start over its "
                                                 "retries; orch's timeout bounds each attempt", "timeout")

    def _leaf(self, path: tuple, template: dict, scope: Scope, qualified: str, spec_path: tuple) -> dict:
        """A container, script or suspend template, called once with `scope`'s inputs, as an orch step."""
        led = self.ledger
        kind = _kind(template)
        step: dict = {}
        scope = scope.child(output_paths={})
        plan = cmd.Plan([])
        self._inputs(path, template, scope, plan)
        self._current = qualified
        outputs = self._leaf_outputs(path, template, scope, plan)
        self.outputs[qualified] = outputs
        if kind in LEAF:
            body = template[kind]
            where = (*path, kind)
            try:
                argv = [translate(str(a), scope) for a in (body.get("command") or [])]
                args = [translate(str(a), scope) for a in (body.get("args") or [])]
            except Unsupported as err:
                led.unsupported(where, str(err))
                argv, args = ["false"], []
            if not argv:
                led.unsupported(where, "no command: the image's entrypoint runs, which orch cannot see "
                                                   "(an orch step runs an argv)")
                argv = ["sh", "-c", "echo 'the image entrypoint is unknown to orch' >&2; exit 1"]
            else:
                for key in ("command", "args"):
                    if key in body:
                        led.mapped((*where, key), "command")
            plan.argv = argv + args
            if kind == "script":
                try:
                    plan.source = translate(str(body.get("source", "")), scope)
                    led.mapped((*where, "source"), "command", "written to a file that command + args run, "
                                                              "as Argo does (the image needs sh)")
                except Unsupported as err:
                    led.unsupported((*where, "source"), str(err))
                    plan.source = ""
            if template.get("volumes"):
                self.volumes = {**self.volumes, **pod.volume_sources(template["volumes"], (*path, "volumes"), led)}
            pod.container(body, where, led, scope, self.volumes, step)
            if body.get("workingDir"):
                plan.workdir = translate(str(body["workingDir"]), scope)
                led.mapped((*where, "workingDir"), "command", "the wrapper changes to it before the command")
        elif kind == "suspend":
            duration = (template.get("suspend") or {}).get("duration")
            if duration is None:
                led.unsupported((*path, "suspend"), "a suspend without a duration waits for a person to resume it")
                plan.argv = ["sh", "-c", "echo 'suspended: orch cannot resume' >&2; exit 1"]
            else:
                plan.argv = ["sleep", str(number(seconds(duration)))]
                led.mapped((*path, "suspend"), "command", "a timed suspend is a wait")
        else:
            led.unsupported((*path, kind), f"a {kind} template has no orch step form")
            plan.argv = ["sh", "-c", f"echo 'Argo {kind} template: not imported' >&2; exit 1"]
        step["command"] = cmd.command(plan)
        if outputs:
            step["outputs"] = outputs
        self._common(path, template, step, qualified, spec_path, scope)
        if scope.notes:
            self._notes(scope, path, spec_path)
        self._rest(path, template, ("name", "inputs", "outputs", "retryStrategy", "activeDeadlineSeconds", "timeout",
                                    *TEMPLATE_POD, kind, "volumes"))
        for i, volume in enumerate(template.get("volumes") or []):
            if volume.get("name") in self.volumes:
                led.mapped((*path, "volumes", i), note="declared for the pod; mounted where a container mounts it")
        return step

    def _notes(self, scope: Scope, path: tuple, spec_path: tuple) -> None:
        for status, note in dict.fromkeys(scope.notes):
            if status == "approximated":
                self.ledger.approximated(path, note)
        scope.notes.clear()

    def commented(self, out: dict) -> dict[tuple, str]:
        """A `# comment` above each spec field an approximation concerns: the step a task or template became,
        the field its target names where the step has it (`retries`, `trigger`), else the pipeline's field."""
        found: dict[tuple, list[str]] = {}
        for path, entry in self.main_ledger.entries.items():
            if entry.status != "approximated":
                continue
            field = (entry.target or "").split(".")[0]
            prefix = next((path[:n] for n in range(len(path), 0, -1) if path[:n] in self.spec_of), None)
            places = self.spec_of.get(prefix, []) if prefix else [()]
            for place in places:
                step = _at(out, place)
                at = (*place, field) if field and isinstance(step, dict) and field in step else place
                if at:
                    found.setdefault(at, [])
                    if entry.note not in found[at]:
                        found[at].append(entry.note)
        return {at: "\n".join(notes) for at, notes in found.items()}

    def _rest(self, path: tuple, template: dict, known) -> None:
        for key in template:
            if key not in known:
                self.ledger.unsupported((*path, key), _WHY.get(key, f"a template's {key!r} has no orch field"))

    def _inputs(self, path: tuple, template: dict, scope: Scope, plan) -> None:
        inputs = template.get("inputs") or {}
        for i, artifact in enumerate(inputs.get("artifacts") or []):
            where = (*path, "inputs", "artifacts", i)
            name, target = artifact.get("name"), artifact.get("path")
            given = scope.artifacts.get(("given", name)) if False else None
            value = scope.inputs.get(f"artifact:{name}")
            if value is not None and target:
                plan.inputs.append((value, target))
                scope.artifacts[name] = target
                self.ledger.mapped(where, "command", "the upstream artifact's copy is placed at its path before "
                                                     "the command runs")
            elif "raw" in artifact and target:
                plan.raw.append((str(artifact["raw"].get("data", "")), target))
                scope.artifacts[name] = target
                self.ledger.mapped(where, "command", "the raw data is written to its path before the command runs")
            else:
                self.ledger.unsupported(where, "an input artifact from a store (s3, git, http, gcs…) has no orch form: "
                                               "orch artifacts come from upstream steps")
        for key in inputs:
            if key not in ("parameters", "artifacts"):
                self.ledger.unsupported((*path, "inputs", key), f"inputs.{key} has no orch form")

    def _leaf_outputs(self, path: tuple, template: dict, scope: Scope, plan) -> dict:
        found: dict = {}
        outputs = template.get("outputs") or {}
        for i, param in enumerate(outputs.get("parameters") or []):
            where = (*path, "outputs", "parameters", i)
            source = param.get("valueFrom") or {}
            name = suggest_name(param.get("name"))
            if set(source) - {"path", "default"} or "path" not in source or set(param) - {"name", "valueFrom"}:
                self.ledger.unsupported(where, "only an output parameter read from a file (valueFrom.path, default) "
                                               "has an orch form")
                continue
            default = source.get("default")
            plan.outputs.append((source["path"], name, None if default is None else str(default), False))
            scope.output_paths[param["name"]] = source["path"]
            found[name] = {"type": "string"}
            self.aliases[(self._current, name)] = param["name"]
            self.ledger.mapped(where, f"outputs.{name}", "copied from its path to $ORCH_OUTPUTS after the command, "
                                                         "its default where the file is missing")
        for i, artifact in enumerate(outputs.get("artifacts") or []):
            where = (*path, "outputs", "artifacts", i)
            name = suggest_name(artifact.get("name"))
            if "path" not in artifact:
                self.ledger.unsupported(where, "an output artifact without a path")
                continue
            plan.outputs.append((artifact["path"], name, None, True))
            scope.output_paths[artifact["name"]] = artifact["path"]
            found[name] = {"type": "artifact"}
            self.ledger.mapped((*where, "name"), f"outputs.{name}")
            self.ledger.mapped((*where, "path"), f"outputs.{name}", "copied to $ORCH_OUTPUTS after the command")
            for key in artifact:
                if key in ("name", "path"):
                    continue
                if key in ("archive", "s3", "gcs", "azure", "oss", "artifactory", "hdfs", "globalName",
                           "artifactGC", "deleted", "archiveLogs"):
                    self.ledger.approximated((*where, key), f"{key}: orch stores every artifact in the pipeline's "
                                                            "store, under its own key, as a tar for a folder")
                elif key == "optional":
                    self.ledger.approximated((*where, key), "an optional artifact that is missing fails the orch step")
                else:
                    self.ledger.unsupported((*where, key), f"an output artifact's {key!r} has no orch form")
        if "result" in outputs:
            self.ledger.unsupported((*path, "outputs", "result"), "a declared result")
        for key in outputs:
            if key not in ("parameters", "artifacts", "result"):
                self.ledger.unsupported((*path, "outputs", key), f"outputs.{key} has no orch form")
        return found

    # --- DAG and steps templates -------------------------------------------------------------------------

    def _dag(self, path: tuple, template: dict, scope: Scope, prefix: str, spec_path: tuple) -> dict:
        led = self.ledger
        dag = template.get("dag") or {}
        tasks = [t for t in dag.get("tasks") or [] if isinstance(t, dict)]
        by_name = {t.get("name"): t for t in tasks}
        local = self._scope_names(prefix, [t.get("name") for t in tasks], scope)
        inner = scope.child(tasks=local, looped=False, artifacts={})
        self._want_for(inner, prefix, local)
        fail_fast = dag.get("failFast", True)
        self.fail_fast_votes.append(bool(fail_fast))
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
            tasks = _targeted(tasks, target.split(), by_name)
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
        self._template_rest(path, template, prefix, steps)
        return steps

    def _trigger(self, task, where, logic, local, step) -> None:
        key = "depends" if task.get("depends") else "dependencies"
        try:
            upstream = deps.names(logic)
            trigger, wrong, tried = deps.trigger(logic)
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
            self.ledger.approximated((*where, key), f"{logic!r} read as trigger {trigger}: it decides otherwise for some "
                                                    "upstream states (Omitted is orch's upstream_failed)", "trigger")
        else:
            self.ledger.mapped((*where, key), "after", f"{trigger}: the same decision for every upstream state")

    def _steps(self, path: tuple, template: dict, scope: Scope, prefix: str, spec_path: tuple) -> dict:
        groups = [g for g in template.get("steps") or []]
        flat = [(gi, si, s) for gi, g in enumerate(groups) for si, s in enumerate(g or []) if isinstance(s, dict)]
        local = self._scope_names(prefix, [s.get("name") for _, _, s in flat], scope)
        inner = scope.child(tasks=local, looped=False, artifacts={})
        self._want_for(inner, prefix, local)
        steps: dict = {}
        previous: list[str] = []
        for gi, group in enumerate(groups):
            if len(group or []) > 1:
                self.steps_parallel = True
            current = []
            for si, item in enumerate(group or []):
                where = (*path, "steps", gi, si)
                name = local[item.get("name")]
                step = self._call(item, where, inner, prefix, name, (*spec_path, name))
                if previous:
                    step["after"] = list(previous)
                    step["trigger"] = "none_failed"
                if "continueOn" in item:
                    pass
                steps[name] = step
                current.append(name)
            if current:
                previous = current
            if gi and current:
                self.ledger.mapped((*path, "steps", gi), "after", "after every step of the group before, "
                                   "none_failed: a failed step stops the next groups, a skipped one does not")
        self._template_rest(path, template, prefix, steps)
        return steps

    def _template_rest(self, path, template, prefix, steps) -> None:
        kind = _kind(template)
        self.ledger.mapped((*path, "name"))
        if "parallelism" in template:
            self._parallelism(template["parallelism"], (*path, "parallelism"), steps, prefix)
        for key in template:
            if key in ("name", kind, "parallelism", "inputs", "outputs"):
                continue
            if key == "failFast":
                self.ledger.approximated((*path, key), "orch's fail_fast is the whole pipeline's", "fail_fast")
                continue
            if key in TEMPLATE_POD:
                self.ledger.mapped((*path, key), note=f"a pod setting on a {kind} template: Argo makes no pod of it")
                continue
            self.ledger.unsupported((*path, key), _WHY.get(key, f"a {kind} template's {key!r} has no orch field"))
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
        local = _local_names(names, outer)
        for name, fixed in local.items():
            if suggest_name(str(name)) in outer and fixed != suggest_name(str(name)):
                self.renamed[_join(prefix, fixed)] = (f"{name!r} is named {fixed!r}: the values passed into this "
                                                     f"group read a step {suggest_name(str(name))!r} outside it, "
                                                     "which the same name inside would hide")
        self.locals[prefix] = local
        return local

    def _want_for(self, scope: Scope, prefix: str, local: dict[str, str]) -> None:
        def want(step: str, output: str, how: str) -> str:
            qualified = _join(prefix, step)
            self.read.add(qualified)
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
        scope.qualified = {**scope.qualified, **{v: _join(prefix, v) for v in local.values()}}

    # --- one call --------------------------------------------------------------------------------------

    def _call(self, task: dict, where: tuple, scope: Scope, prefix: str, name: str, spec_path: tuple) -> dict:
        """A DAG task or a steps template's step: the template it calls with its arguments, its loop, its when."""
        led = self.ledger
        qualified = _join(prefix, name)
        led.mapped((*where, "name"), None, self.renamed.get(qualified) or
                   ("" if name == task.get("name") else f"{task.get('name')!r} is named {name!r}: orch's names refuse it"))
        argo_path = _join(self.argo_path, task.get("name"))
        self.names[argo_path] = qualified
        self.spec_of.setdefault(where, []).append(spec_path)
        target, foreign = self._target(task, where)
        if target is None:
            return _failing("a template not in this manifest")
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
        self._task_rest(task, where, step, qualified)
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
        kind = _kind(template)
        if kind in ("dag", "steps") and target in self.stack:
            led.unsupported(path, f"template {target!r} calls itself: a recursive workflow has no fixed orch graph")
            return _failing("a recursive call")
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
                                                   Scope(params=self.params, notes=outer.notes))
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
        local = self.locals.get(qualified) or _local_names(_task_names(template))
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
                values = [(_go_format(fmt, n) if fmt else str(n)) for n in range(start, end + step, step)]
                led.mapped((*where, "withSequence"), "foreach", "the sequence's numbers as text, as Argo's items")
                return values
            except (Unsupported, ValueError, KeyError) as err:
                led.unsupported((*where, "withSequence"), str(err))
                return []
        return None

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
                       "depends", "dependencies"):
                continue
            if key == "continueOn":
                self.ledger.approximated((*where, key), "Argo does not fail the run for this step's failure; an orch "
                                                        "pipeline fails with any failed step", "trigger")
            else:
                self.ledger.unsupported((*where, key), _WHY.get(key, f"a task's {key!r} has no orch field"))

    # --- the exit handler and the end ---------------------------------------------------------------------

    def _exit(self, out: dict) -> None:
        name = self.spec["onExit"]
        where = (*self.root, "onExit")
        if name not in self.templates:
            self.ledger.unsupported(where, f"onExit names no template here: {name!r}")
            return
        scope = self._entry_scope(name, Scope(params=self.params, final=True))
        main_names, self.names = self.names, {}
        finals = self._body(name, scope, "", ("finally",))
        exit_names, self.names = self.names, main_names
        if any("steps" in s for s in finals.values()):
            self.ledger.unsupported(where, "an exit handler calling dag or steps templates: orch's finally steps "
                                           "are steps, never groups")
            finals = {k: v for k, v in finals.items() if "steps" not in v}
        renamed = {old: f"{old}-exit" for old in set(finals) & set(out["steps"])}
        finals = {renamed.get(k, k): v for k, v in finals.items()}
        for key, value in exit_names.items():
            if value in finals or value in renamed:
                self.names[f"onExit:{key}"] = renamed.get(value, value)
        out["finally"] = finals
        self.ledger.approximated(where, "finally steps run once every step ended, as onExit does; a failed exit "
                                        "handler fails Argo's run, while orch's finally steps never change its status",
                                 "finally")

    def _finish(self, out: dict) -> None:
        """Outputs wanted by readers, declared on their steps; fail_fast where the steps templates need it."""
        def fill(steps: dict, prefix: str) -> None:
            for name, step in steps.items():
                qualified = _join(prefix, name)
                if "steps" in step:
                    fill(step["steps"], qualified)
                    continue
                wanted = self.outputs.get(qualified) or {}
                if wanted:
                    step["outputs"] = {**wanted, **{k: v for k, v in (step.get("outputs") or {}).items()
                                                    if k not in wanted}}
                    for key, value in step["outputs"].items():
                        if value.get("from") is None and value.get("type") == "string" and key == "result":
                            value["from"] = "stdout"
        fill(out["steps"], "")
        fill(out.get("finally") or {}, "")
        for qualified in set(self.fanouts) & self.read:
            self.ledger.approximated(self.fanouts[qualified], "a loop's outputs read as one value: Argo gives a JSON "
                                     "list written compactly ([\"a\",\"b\"]), orch its list as JSON with spaces "
                                     "([\"a\", \"b\"]) inside text")
        if self.groups and out.get("fail_fast"):
            out["fail_fast"] = False
            self.ledger.approximated((*self.root, "entrypoint"), "Argo's failFast stops new tasks in the failed task's "
                                     "own DAG (and its callers' as the failure reaches them); orch's fail_fast with "
                                     "groups reaches every group and cannot be rendered for Argo: off here", "fail_fast")
        if self.steps_parallel and out.get("fail_fast"):
            out["fail_fast"] = False
            self.ledger.approximated((*self.root, "entrypoint"), "a steps template's parallel steps all start "
                                     "together: orch's fail_fast would stop the ones after a failure", "fail_fast")


_WHY = {
    "initContainers": "orch steps have no init containers", "sidecars": "orch steps have no sidecars",
    "daemon": "a daemon step outlives its step; orch has none", "memoize": "orch memoizes no step",
    "synchronization": "orch has no semaphores or mutexes", "metrics": "orch emits no custom metrics",
    "archiveLocation": "orch's artifacts go to the pipeline's store", "hooks": "orch has no lifecycle hooks",
    "onExit": "an exit handler of one task: orch's finally steps are the pipeline's",
    "executor": "orch sets the executor itself", "plugin": "executor plugins have no orch form",
    "inline": "inline templates are not imported yet", "templateRef": "a template of another manifest",
}


def _at(data, path: tuple):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _targeted(tasks: list[dict], targets: list[str], by_name: dict) -> list[dict]:
    """The target tasks and their ancestors (dag.go: a target DAG runs those only), in manifest order."""
    keep: set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name in keep or name not in by_name:
            continue
        keep.add(name)
        try:
            todo += deps.names(deps.expression(by_name[name], by_name))
        except Unsupported:
            pass
    return [t for t in tasks if t.get("name") in keep]


def _kind(template: dict) -> str:
    for kind in KINDS:
        if kind in template:
            return kind
    return "none"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _local_names(names: list, taken_outside: set[str] = frozenset()) -> dict[str, str]:
    """Argo names -> orch names, unique: a name orch refuses is fixed (suggest_name), a collision (or a name in
    `taken_outside`) numbered."""
    found: dict[str, str] = {}
    taken: set[str] = {t.replace("_", "-") for t in taken_outside}
    for name in names:
        fixed = suggest_name(str(name))
        candidate, n = fixed, 2
        while candidate.replace("_", "-") in taken:
            candidate, n = f"{fixed[:58]}-{n}", n + 1
        taken.add(candidate.replace("_", "-"))
        found[name] = candidate
    return found


def _task_names(template: dict) -> list[str]:
    if "dag" in template:
        return [t.get("name") for t in (template["dag"] or {}).get("tasks") or []]
    return [s.get("name") for g in template.get("steps") or [] for s in g or []]


def _failing(why: str) -> dict:
    return {"command": ["sh", "-c", f"echo {cmd.quoted('not imported: ' + why)} >&2; exit 1"]}


def _go_format(fmt: str, n: int) -> str:
    try:
        return re.sub(r"%0?(\d*)d", lambda m: str(n).zfill(int(m.group(1) or 0)), fmt)
    except ValueError:
        return str(n)
