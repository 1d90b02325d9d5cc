"""Container, script, suspend, resource (resource.py) and http (http.py) templates, called once with their inputs, as orch steps: the argv (command.py),
the inputs placed and outputs copied, retries, timeouts and pod settings."""

from __future__ import annotations

from orch.core.names import suggest_name

from . import command as cmd
from . import pod, policies
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
            if "args" in body:
                led.mapped((*where, "args"), "command")
        elif not argv:
            led.unsupported(where, "no command: the image's entrypoint runs, which orch cannot see "
                                   "(an orch step runs an argv)")
            argv = ["sh", "-c", "echo 'the image entrypoint is unknown to orch' >&2; exit 1"]
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
