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

from orch.core.fidelity import path_text
from orch.core.names import MAX_NAME, MAX_SCHEDULED_NAME, suggest_name

from . import policies, pod, stores
from .calls import Calls
from .container_set import ContainerSets
from .common import INFORMATIONAL, NOT_KEPT, SPEC_POD, failing, join, kind_of, value_at
from .cron import schedule as cron_schedule
from .hooks import Hooks
from .http import Https
from .leaf import Leaves
from .manifest import with_defaults
from .policies import POLICIES
from .resource import Resources
from .retries import Retrying, number, seconds
from .tags import Scope, Unsupported, translate


class Workflow(Calls, Leaves, ContainerSets, Resources, Https, Hooks):
    """The conversion of one document: the spec dict, its comments, and what the behaviour check needs."""

    def __init__(self, document, ledger, library: dict | None = None):
        self.doc, self.ledger = document, ledger
        self.library = library or {}
        self.siblings: dict[str, dict] = {}  # the Argo tasks (or steps) of the DAG or steps template being read
        self.followed: set[int] = set()  # the steps (by id) of a steps template with a group after theirs
        self.not_recovered = ""  # why a manifest carrying orch's spec is not its rendering any more  # (kind, name) -> the WorkflowTemplate documents templateRefs may name
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
        self.container_sets: dict[str, tuple[dict, str | None]] = {}  # group -> (its spec dict, its `main` step)
        self.retrying: dict[str, Retrying] = {}  # qualified step -> its retries
        self.literals: dict[tuple[str, str], list] = {}  # (qualified step, output) -> literals compared with
        self.names: dict[str, str] = {}  # Argo node path -> orch qualified name
        self.aliases: dict[tuple[str, str], str] = {}  # (qualified step, orch output) -> Argo output name
        self.fail_fast_of: dict[str, bool] = {}  # a scope's prefix ('' the entrypoint's) -> its DAG's failFast
        self.inline: dict[str, tuple[tuple, dict]] = {}
        self.main_ledger = ledger
        self.spec_notes: dict[tuple, str] = {}  # comments the spec carries beyond the approximations
        self.locals: dict[str, dict[str, str]] = {}  # a scope's prefix -> its Argo names -> orch names
        self.renamed: dict[str, str] = {}  # qualified step -> why it was renamed
        self.spec_of: dict[tuple, list[tuple]] = {}  # a task's or template's path -> the spec paths it became
        self.fanouts: dict[str, tuple] = {}  # fan-out step -> the task's path
        self.read: set[str] = set()  # steps whose outputs a reference reads  # inline templates, by a name of their own
        self.argo_path = ""  # the Argo node path of the DAG or steps template being read
        self.stack: list[str] = []  # the dag and steps templates being called, to refuse recursion
        self.pod_patches: tuple[dict, dict] = ({}, {})  # the workflow's pod fields and podSpecPatch (pod.py)
        self.header_notes: list[str] = []  # approximations of the pipeline's own with no spec field to sit above
        self.in_exit = False  # reading the exit handler's templates
        self.exit_in_steps = False  # the exit handler became steps after every other (exact), not finally steps
        self.task_hooks: list[tuple] = []  # the tasks' exit hooks, made finally steps once every step is known

    def _scope(self, **changes) -> Scope:
        """A scope at the workflow's level: its params (and their specs, where an undeclared one is added)."""
        return Scope(params=self.params, param_specs=self.param_specs, **changes)

    def convert(self) -> dict:
        """The spec dict of the document, every field it reads written in the ledger."""
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
        self.pod_patches = pod.pod_fields(spec, root, led, kubernetes, SPEC_POD, self._scope())
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
            out["steps"] = {"entrypoint": failing(f"entrypoint {entry!r} names no template")}
            return out
        led.mapped((*root, "entrypoint"), "steps")
        out["steps"] = self._body(entry, self._entry_scope(entry, self._scope()), "", ("steps",))
        exit_name, exit_where = self._workflow_exit()
        if exit_name:
            self._exit(out, exit_name, exit_where)
        if "parallelism" in spec:
            self._parallelism(spec["parallelism"], (*root, "parallelism"), out["steps"], "")
        self._spec_rest(entry)
        if "" in self.fail_fast_of:  # the entrypoint's DAG (a steps template: false)
            out["fail_fast"] = self.fail_fast_of[""]
        if not out["params"]:
            del out["params"]
        self._hooks(out)
        self._workflow_hooks(out, self.exit_in_steps)
        self._finish(out)
        for name, (i, template) in self.templates.items():
            if name not in self.called:
                led.mapped((*root, "templates", i), note="never called from the entrypoint or onExit: nothing runs")
        return out

    def _spec_rest(self, entry: str) -> None:
        """The spec's fields the conversion did not read on its way: the entrypoint's own outputs and volumes,
        templateDefaults' fates, and every other key, refused with its reason."""
        led, spec, root = self.ledger, self.spec, self.root
        entry_path, entry_template = self._template(entry)
        if entry_template.get("outputs"):
            self._entry_outputs(entry_path, entry_template)
        if kind_of(entry_template) in ("dag", "steps") and entry_template.get("volumes"):
            led.unsupported((*entry_path, "volumes"), "volumes on a dag or steps template: declare them on the "
                                                      "workflow or on the container templates")
        handled = ("entrypoint", "templates", "arguments", "onExit", "hooks", "parallelism", "volumes", "activeDeadlineSeconds",
                   "templateDefaults", *SPEC_POD)
        for key in spec:
            if key in POLICIES:
                led.approximated((*root, key), POLICIES[key])
            elif key == "synchronization":
                policies.synchronization(spec[key], (*root, key), led, spec)
            elif key in NOT_KEPT:
                led.unsupported((*root, key), NOT_KEPT[key])
            elif key not in handled:
                led.unsupported((*root, key), f"the workflow's {key!r} has no orch field")
            elif key == "templateDefaults":
                self._defaults_fates(spec[key], (*root, key))
            elif key == "arguments":
                for part in spec[key]:
                    if part == "artifacts":
                        self._artifact_arguments()
                    elif part != "parameters":
                        led.unsupported((*root, key, part), "workflow arguments other than parameters have no orch "
                                                            "params (an artifact is not a param)")

    def _artifact_arguments(self) -> None:
        """The workflow's artifact arguments no entrypoint input read (those read are in the ledger already)."""
        for name, (i, argument) in self.workflow_artifacts.items():
            if name in self.used_artifacts:
                continue
            where = (*self.root, "arguments", "artifacts", i)
            if stores.is_key_only(argument):
                self.ledger.unsupported(where, "a key-only artifact argument reads the cluster's default artifact "
                                               "repository, which the Argo file does not name: orch has no URI for it")
            elif stores.store_of(argument) is None:
                self.ledger.unsupported(where, "an artifact argument without a location has no orch form")
            else:
                self.ledger.mapped(where, note="no input of the entrypoint has its name: Argo passes it to nothing")

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
        if kind_of(template) not in ("dag", "steps"):
            return  # a container entrypoint: its outputs are its step's
        for i, param in enumerate(outputs.get("parameters") or []):
            where = (*path, "outputs", "parameters", i)
            source = param.get("valueFrom") or {}
            if set(source) == {"parameter"} and set(param) <= {"name", "valueFrom"}:
                self.ledger.approximated(where, "a workflow output: orch reports the step output it names "
                                                "(an orch pipeline has no outputs of its own)")
            else:  # nothing in the run reads it: no step's behaviour depends on it
                self.ledger.approximated(where, f"a workflow output, chosen by {json.dumps(source or param)}: only "
                                                "Argo's status shows it; orch's run result holds the outputs of the "
                                                "steps it is chosen from, not the choice (an orch pipeline has no "
                                                "outputs of its own)")
        for i, artifact in enumerate(outputs.get("artifacts") or []):
            self.ledger.approximated((*path, "outputs", "artifacts", i), "a workflow output artifact: only Argo's "
                                     "status shows it; orch's run result lists the artifacts of the steps it comes "
                                     "from (an orch pipeline has no outputs of its own)")
        for key in outputs:
            if key not in ("parameters", "artifacts"):
                self.ledger.unsupported((*path, "outputs", key), f"a workflow's outputs.{key} has no orch form")

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
        for artifact in ((template.get("inputs") or {}).get("artifacts")) or []:
            self._entry_artifact(artifact.get("name"), scope)
        return scope

    def _entry_artifact(self, name, scope: Scope) -> None:
        """The workflow's artifact argument of an entrypoint input's name (Argo binds `spec.arguments` to the
        entrypoint's inputs: ProcessArgs takes the argument whole but for the input's path, mode and recurseMode):
        an artifact param whose default is its location, or the raw data it holds."""
        found = self.workflow_artifacts.get(name)
        if found is None:
            return
        i, argument = found
        where = (*self.root, "arguments", "artifacts", i)
        if "raw" in argument and isinstance(argument["raw"], dict) and set(argument) <= {"name", "raw"}:
            scope.inputs[f"raw:{name}"] = str(argument["raw"].get("data", ""))
            self.ledger.mapped(where, "command", "its data is written where the entrypoint's input places it")
            self.used_artifacts.add(name)
            return
        if stores.store_of(argument) not in (*stores.STORES, *stores.NO_FSSPEC) or stores.is_key_only(argument):
            return  # said where the arguments are read (_spec_rest)
        try:
            uri = stores.uri_of(argument, where, self.ledger)
        except stores.NotAUri as err:
            self.ledger.unsupported(where, str(err))
            self.used_artifacts.add(name)
            return
        param = self._artifact_param(name, uri)
        scope.inputs[f"artifact:{name}"] = "${{ params.%s }}" % param
        self.ledger.mapped(where, f"params.{param}", "an artifact param, its location the default URI (-p at run "
                                                     "gives another, as a submitted Workflow's arguments would)")
        self.ledger.mapped((*where, "name"), f"params.{param}")
        stores.copy_notes(argument, where, self.ledger)
        self.used_artifacts.add(name)

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
                    elif name in ("orch.dev/spec", "orch.dev/render-inputs"):
                        self.ledger.approximated((*where, name), "the spec orch rendered this manifest from, which no "
                                                 f"longer explains it ({self.not_recovered}): imported the general way")
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
        self.workflow_artifacts = {a.get("name"): (i, a) for i, a in
                                   enumerate(((self.spec.get("arguments") or {}).get("artifacts")) or [])
                                   if isinstance(a, dict)}
        self.used_artifacts: set = set()
        out["params"] = params  # entry inputs may add required ones; dropped at the end when empty

    def _template(self, name: str):
        if name in self.inline:
            return self.inline[name]
        i, template = self.templates[name]
        self.called.add(name)
        return (*self.root, "templates", i), template

    def _body(self, name: str, scope: Scope, prefix: str, spec_path: tuple) -> dict:
        """The steps a template makes where it is the pipeline's (or a group's) body."""
        path, template = self._template(name)
        kind = kind_of(template)
        if kind == "dag":
            return self._dag(path, template, scope, prefix, spec_path)
        if kind == "steps":
            return self._steps(path, template, scope, prefix, spec_path)
        local = suggest_name(name)
        self.names[join(self.argo_path, name)] = join(prefix, local)
        if self.ledger is self.main_ledger:  # its approximations are commented above the step it becomes
            self.spec_of.setdefault(path, []).append((*spec_path, local))
        return {local: self._leaf(path, template, scope, join(prefix, local), (*spec_path, local))}

    def commented(self, out: dict) -> dict[tuple, str]:
        """A `# comment` above each spec field an approximation concerns: the step a task or template became,
        the field its target names where the step has it (`retries`, `trigger`), else the pipeline's field; one
        with neither (a controller policy) goes into `header_notes`, for the spec's header."""
        found: dict[tuple, list[str]] = {}
        self.header_notes = []
        for path, entry in self.main_ledger.entries.items():
            if entry.status != "approximated":
                continue
            field = (entry.target or "").split(".")[0]
            prefix = next((path[:n] for n in range(len(path), 0, -1) if path[:n] in self.spec_of), None)
            places = self.spec_of.get(prefix, []) if prefix else [()]
            for place in places:
                step = value_at(out, place)
                at = (*place, field) if field and isinstance(step, dict) and field in step else place
                if not at:  # the pipeline's own, with no field to sit above: said in the header
                    line = f"{path_text(path)}: {entry.note}"
                    if line not in self.header_notes:
                        self.header_notes.append(line)
                    continue
                found.setdefault(at, [])
                if entry.note not in found[at]:
                    found[at].append(entry.note)
        for at, note in self.spec_notes.items():
            found.setdefault(at, []).insert(0, note)
        return {at: "\n".join(notes) for at, notes in found.items()}

    def _workflow_exit(self) -> tuple:
        """The workflow's exit handler: `onExit`, else `hooks.exit` (WorkflowSpec.GetExitHook, onExit first); the
        workflow's other hooks are read by `_workflow_hooks` (hooks.py)."""
        root, spec = self.root, self.spec
        hooks = spec.get("hooks") if isinstance(spec.get("hooks"), dict) else {}
        if spec.get("onExit"):
            if "exit" in hooks:
                self.ledger.mapped((*root, "hooks", "exit"), note="never run: the workflow's onExit wins (GetExitHook)")
            return spec["onExit"], (*root, "onExit")
        hook = hooks.get("exit")
        if not isinstance(hook, dict):
            return None, None
        where = (*root, "hooks", "exit")
        for key in hook:
            if key not in ("template",):
                self.ledger.unsupported((*where, key), f"the workflow exit hook's {key!r}: only its template is read "
                                                       "(it gets the workflow's arguments, as onExit does)")
        return hook.get("template"), (*where, "template")

    def _exit(self, out: dict, name: str, where: tuple) -> None:
        if name not in self.templates:
            self.ledger.unsupported(where, f"onExit names no template here: {name!r}")
            return
        exact = not self._fails_fast() and "timeout" not in out and \
            not re.search(r"workflow\.(status|failures)",
                      json.dumps({k: v for k, v in self.spec.items() if k != "hooks"}))  # a hook's expression: apart
        scope = self._entry_scope(name, self._scope(final=not exact))
        main_names, self.names = self.names, {}
        main_fail_fast = self.fail_fast_of.pop("", None)  # the exit handler's DAG stops only itself, not the pipeline
        self.in_exit = True
        finals = self._body(name, scope, "", ("steps",) if exact else ("finally",))
        self.in_exit = False
        exit_names, self.names = self.names, main_names
        self.fail_fast_of.pop("", None)
        if main_fail_fast is not None:
            self.fail_fast_of[""] = main_fail_fast
        if not exact and any("steps" in s for s in finals.values()):
            self.ledger.unsupported(where, "an exit handler calling dag, steps or containerSet templates: orch's "
                                           "finally steps are steps, never groups")
            finals = {k: v for k, v in finals.items() if "steps" not in v}
        renamed = {old: f"{old}-exit" for old in set(finals) & set(out["steps"])}
        finals = {renamed.get(k, k): v for k, v in finals.items()}
        for key, value in exit_names.items():
            top = value.split(".")[0]
            if top in finals or top in renamed:
                self.names[f"onExit:{key}"] = value.replace(top, renamed.get(top, top), 1)
        if exact:
            self._exit_steps(out, finals, where)
            return
        out["finally"] = finals
        self.ledger.approximated(where, "finally steps run once every step ended, as onExit does; a failed exit "
                                        "handler fails Argo's run, while orch's finally steps never change its status",
                                 "finally")

    def _exit_steps(self, out: dict, exits: dict, where: tuple) -> None:
        """The exit handler as steps after every other step (`all_done`): they run whatever happened, and one that
        fails fails the run -- Argo's rule exactly. Possible where nothing reads workflow.status, no fail_fast
        would stop them and no pipeline timeout would keep them from starting."""
        main = list(out["steps"])
        self.exit_in_steps = True
        for name, step in exits.items():
            if "after" not in step:
                step["after"], step["trigger"] = main, "all_done"
        out["steps"].update(exits)
        first = next(iter(exits), None)
        if first:
            self.spec_notes[("steps", first)] = ("Argo's exit handler (onExit): after every other step, whatever "
                                                 "happened; one that fails fails the run, as in Argo")
        self.ledger.mapped(where, "steps", "steps after every other step (all_done): they run whatever happened and "
                                           "a failed one fails the run, as Argo's exit handler does")

    def _fails_fast(self) -> bool:
        """Whether the spec's top scope will have fail_fast: the entrypoint's DAG's failFast."""
        return self.fail_fast_of.get("", False)

    def _finish(self, out: dict) -> None:
        """Outputs wanted by readers, declared on their steps; fail_fast where the steps templates need it."""
        def fill(steps: dict, prefix: str) -> None:
            for name, step in steps.items():
                qualified = join(prefix, name)
                if "steps" in step:
                    fill(step["steps"], qualified)
                    continue
                wanted = self.outputs.get(qualified) or {}
                if wanted:
                    step["outputs"] = {**wanted, **{k: v for k, v in (step.get("outputs") or {}).items()
                                                    if k not in wanted}}
                    for key, value in step["outputs"].items():
                        if value.get("from") is None and value.get("type") == "string" and key == "result" \
                                and (qualified, key) not in self.aliases:  # an output parameter named result: a file
                            value["from"] = "stdout"
        fill(out["steps"], "")
        fill(out.get("finally") or {}, "")
        for qualified in set(self.fanouts) & self.read:
            self.ledger.approximated(self.fanouts[qualified], "a loop's outputs read as one value: Argo gives a JSON "
                                     "list written compactly ([\"a\",\"b\"]), orch its list as JSON with spaces "
                                     "([\"a\", \"b\"]) inside text")
        self._scope_fail_fast(out["steps"], "", bool(out.get("fail_fast")))

    def _scope_fail_fast(self, steps: dict, prefix: str, inherited: bool) -> None:
        """Each group's fail_fast, its DAG's failFast (false for a steps template), written where it differs from the
        one it inherits and can matter (a group of one step has no other to stop): Argo's failFast stops the failed
        task's own DAG, as orch's fail_fast its own scope."""
        for name, step in list(steps.items()):
            if "steps" not in step:
                continue
            qualified = join(prefix, name)
            own = self.fail_fast_of.get(qualified, inherited)
            if own == inherited or len(step["steps"]) < 2:
                own = inherited
            else:
                steps[name] = {**{k: v for k, v in step.items() if k not in ("steps", "outputs")}, "fail_fast": own,
                               **{k: v for k, v in step.items() if k in ("steps", "outputs")}}
            self._scope_fail_fast(step["steps"], qualified, own)
