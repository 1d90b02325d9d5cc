"""Container, script, suspend, resource (resource.py) and http (http.py) templates, called once with their inputs, as orch steps: the argv (command.py),
the inputs placed and outputs copied, retries, timeouts and pod settings."""

from __future__ import annotations

from orch.core.names import suggest_name

from . import command as cmd
from . import pod, policies, stores
from .common import LEAF, TEMPLATE_POD, WHY, kind_of
from .images import entrypoint_argv
from .policies import TEMPLATE_POLICIES
from .retries import number, retries, seconds
from .tags import Scope, Unsupported, translate


class Leaves:
    """The part of the conversion that makes one step of a leaf template (mixed into convert.Workflow)."""

    def _common(self, path: tuple, template: dict, step: dict, qualified: str, spec_path: tuple, scope: Scope) -> None:
        """The fields any template has: retries, timeouts, pod settings."""
        led = self.ledger
        led.mapped((*path, "name"), spec_path[-1] if spec_path else None)
        kubernetes = step.get("kubernetes") or {}
        if "http" in template:  # Argo's agent pod runs it: the workflow's pod, built without the template's settings
            for key in TEMPLATE_POD:
                if key in template:
                    led.approximated((*path, key), "not kept: Argo makes an http template's request in the "
                                                   "workflow's agent pod, which takes none of a template's pod "
                                                   "settings; the orch step's pod takes the workflow's")
        else:
            pod.pod_fields(template, path, led, kubernetes, TEMPLATE_POD, scope, self.pod_patches)
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

        if "activeDeadlineSeconds" in template and "http" in template:
            led.mapped((*path, "activeDeadlineSeconds"), note="no timeout: Argo sets it on a pod, and an http node "
                                                               "has none of its own")
        elif "activeDeadlineSeconds" in template:
            step["timeout"] = literal(template["activeDeadlineSeconds"])
            led.mapped((*path, "activeDeadlineSeconds"), "timeout", "the pod's deadline: one attempt")
        if "timeout" in template:
            step["timeout"] = literal(template["timeout"])
            led.approximated((*path, "timeout"), "Argo's template timeout runs from the node's start over its "
                                                 "retries; orch's timeout bounds each attempt", "timeout")

    def _leaf(self, path: tuple, template: dict, scope: Scope, qualified: str, spec_path: tuple) -> dict:
        """A container, script or suspend template, called once with `scope`'s inputs, as an orch step."""
        led = self.ledger
        kind = kind_of(template)
        if kind == "containerSet":
            return self._container_set(path, template, scope, qualified, spec_path)
        step: dict = {}
        scope = scope.child(output_paths={})
        plan = cmd.Plan([])
        self._reading = template  # the template whose inputs are being placed
        self._inputs(path, template, scope, plan)
        self._current = qualified
        if kind == "resource":
            outputs, reads = self._resource_outputs(path, template, scope)
        elif kind == "http":
            outputs = self._http_outputs(path, template)
        else:
            outputs = self._leaf_outputs(path, template, scope, plan)
        self.outputs[qualified] = outputs
        if kind in LEAF:
            self._container(path, template, kind, scope, plan, step)
        elif kind == "suspend":
            self._suspend(path, template, plan)
        elif kind == "resource":
            self._resource(path, template, scope, plan, step, reads)
        elif kind == "http":
            self._http(path, template, scope, plan, step)
        else:
            led.unsupported((*path, kind), f"a {kind} template has no orch step form")
            if template.get("volumes"):
                led.unsupported((*path, "volumes"), f"the volumes of a {kind} template, which is not imported")
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

    def _container(self, path: tuple, template: dict, kind: str, scope: Scope, plan, step: dict,
                   body: dict | None = None, where: tuple | None = None) -> None:
        """A container's or script's argv, source and working folder into `plan`, its pod fields into `step`
        (`body` at `where`: one container of a containerSet, else the template's own)."""
        led = self.ledger
        body = template[kind] if body is None else body
        where = (*path, kind) if where is None else where
        try:
            argv = [translate(str(a), scope) for a in (body.get("command") or [])]
            args = [translate(str(a), scope) for a in (body.get("args") or [])]
        except Unsupported as err:
            led.unsupported(where, str(err))
            argv, args = ["false"], []
        known = entrypoint_argv(body.get("image"), args) if not argv and "command" not in body else None
        if known:
            argv, args = known[0], []
            led.mapped((*where, "image"), "command", known[1])
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

    def _suspend(self, path: tuple, template: dict, plan) -> None:
        """A timed suspend waits; one a person resumes has no orch form."""
        duration = (template.get("suspend") or {}).get("duration")
        if duration is None:
            self.ledger.unsupported((*path, "suspend"), "a suspend without a duration waits for a person to resume it")
            plan.argv = ["sh", "-c", "echo 'suspended: orch cannot resume' >&2; exit 1"]
        else:
            plan.argv = ["sleep", str(number(seconds(duration)))]
            self.ledger.mapped((*path, "suspend"), "command", "a timed suspend is a wait")

    def _notes(self, scope: Scope, path: tuple, spec_path: tuple) -> None:
        """The approximations met while filling in tags (scope.notes), on the field that holds them."""
        for status, note in dict.fromkeys(scope.notes):
            if status == "approximated":
                self.ledger.approximated(path, note)
        scope.notes.clear()

    def _rest(self, path: tuple, template: dict, known) -> None:
        for key in template:
            if key in known:
                continue
            if key in TEMPLATE_POLICIES:
                self.ledger.approximated((*path, key), TEMPLATE_POLICIES[key])
            elif key == "synchronization":
                policies.synchronization(template[key], (*path, key), self.ledger, self.spec, template)
            else:
                self.ledger.unsupported((*path, key), WHY.get(key, f"a template's {key!r} has no orch field"))

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
                if value.startswith("${{ params."):
                    self.ledger.mapped(where, "command", "the artifact param's copy (the argument's location) is "
                                                         "placed at its path before the command runs")
                else:
                    self.ledger.mapped(where, "command", "the upstream artifact's copy is placed at its path before "
                                                         "the command runs")
                stores.mode_of(artifact, where, self.ledger, plan.modes)
            elif scope.inputs.get(f"raw:{name}") is not None and target:
                plan.raw.append((scope.inputs[f"raw:{name}"], target))
                scope.artifacts[name] = target
                self.ledger.mapped(where, "command", "the raw data the argument gives is written to its path before "
                                                     "the command runs")
                stores.mode_of(artifact, where, self.ledger, plan.modes)
            elif "raw" in artifact and target:
                plan.raw.append((str(artifact["raw"].get("data", "")), target))
                scope.artifacts[name] = target
                self.ledger.mapped(where, "command", "the raw data is written to its path before the command runs")
                stores.mode_of(artifact, where, self.ledger, plan.modes)
            elif stores.store_of(artifact) in (*stores.STORES, *stores.NO_FSSPEC) and target:
                self._stored_input(artifact, where, scope, plan)
            else:
                self.ledger.unsupported(where, "an input artifact with neither a location nor an upstream artifact "
                                               "passed to it has no orch form")
        for key in inputs:
            if key not in ("parameters", "artifacts"):
                self.ledger.unsupported((*path, "inputs", key), f"inputs.{key} has no orch form")

    def _stored_input(self, artifact: dict, where: tuple, scope: Scope, plan) -> None:
        """An input artifact with its own location: an artifact param, its URI the default, copied to the path."""
        name, target = artifact.get("name"), artifact["path"]
        if stores.is_key_only(artifact):
            found = self._key_producer(str(artifact["s3"]["key"]), scope)
            if found is None:
                self.ledger.unsupported(where, "a key-only input artifact reads the cluster's default artifact "
                                               "repository, which the Argo file does not name: orch has no URI to give "
                                               "the param")
                return
            task, output = found
            try:
                value = translate("{{tasks.%s.outputs.artifacts.%s}}" % (task, output), scope)
            except Unsupported as err:
                self.ledger.unsupported(where, f"a key-only input artifact read as task {task!r}'s output: {err}")
                return
            plan.inputs.append((value, target))
            scope.artifacts[name] = target
            self.ledger.approximated(where, f"key {artifact['s3']['key']!r} is where task {task!r} stores its output "
                                            f"{output!r}: read as that output's copy, placed at the path. orch keys it "
                                            "under the run, so an object another run or workflow left at that key is "
                                            "never read (a producer that did not store it leaves nothing)", "command")
            stores.mode_of(artifact, where, self.ledger, plan.modes)
            return
        try:
            uri = stores.uri_of(artifact, where, self.ledger)
        except stores.NotAUri as err:
            self.ledger.unsupported(where, str(err))
            return
        param = self._artifact_param(name, uri)
        plan.inputs.append(("${{ params.%s }}" % param, target))
        scope.artifacts[name] = target
        self.ledger.mapped(where, f"params.{param}", "an artifact param, its location the default URI: its copy "
                                                     "is placed at the path before the command runs")
        self.ledger.mapped((*where, "name"), f"params.{param}")
        self.ledger.mapped((*where, "path"), "command", "the copy is placed there")
        stores.copy_notes(artifact, where, self.ledger)
        stores.mode_of(artifact, where, self.ledger, plan.modes)

    def _key_producer(self, key: str, scope: Scope):
        """(task, output) of the one sibling task whose template stores an output at the key-only `key`, when that
        key is a literal no other template of the workflow writes, and the task is called once, not looped."""
        if "{{" in key:
            return None
        writers = [(name, out.get("name")) for name, (_, template) in self.templates.items()
                   for out in ((template.get("outputs") or {}).get("artifacts") or [])
                   if isinstance(out, dict) and stores.is_key_only(out) and str(out["s3"]["key"]) == key]
        if len(writers) != 1:
            return None
        template, output = writers[0]
        tasks = [n for n, t in self.siblings.items() if t.get("template") == template and n in scope.tasks]
        if len(tasks) != 1 or self.templates[template][1] is self._reading:  # (a template reading its own key)
            return None
        if any(k in self.siblings[tasks[0]] for k in ("withItems", "withParam", "withSequence")):
            return None
        return tasks[0], output

    def _artifact_param(self, name: str, uri: str) -> str:
        """The orch name of an artifact param defaulting to `uri`: one already made for it, else a new one."""
        base = suggest_name(name or "artifact")
        fixed, n = base, 1
        while fixed in self.param_specs:
            known = self.param_specs[fixed]
            if known.get("type") == "artifact" and known.get("default") == uri:
                return fixed
            n += 1
            fixed = f"{base}_{n}"
        self.param_specs[fixed] = {"type": "artifact", "default": uri}
        return fixed

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
            if name in found:  # Argo keeps outputs.parameters and outputs.artifacts apart
                self.ledger.unsupported(where, f"an output parameter is named {name!r} too: orch's outputs of a step "
                                               "share one set of names, Argo's parameters and artifacts do not")
                continue
            plan.outputs.append((artifact["path"], name, None, True))
            scope.output_paths[artifact["name"]] = artifact["path"]
            found[name] = {"type": "artifact"}
            self.ledger.mapped((*where, "name"), f"outputs.{name}")
            self.ledger.mapped((*where, "path"), f"outputs.{name}", "copied to $ORCH_OUTPUTS after the command")
            for key in artifact:
                if key in ("name", "path"):
                    continue
                if key in ("archive", "s3", "gcs", "azure", "oss", "artifactory", "hdfs", "plugin", "globalName",
                           "artifactGC", "deleted", "archiveLogs"):  # where Argo stores it (a plugin driver too)
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
