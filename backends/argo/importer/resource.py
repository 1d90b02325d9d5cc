"""A resource template as an orch command step running the kubectl calls Argo's executor makes.

Argo runs a resource template as a pod whose main container is `argoexec resource ACTION`
(workflow/controller/operator.go, executeResource); the executor (workflow/executor/resource.go) writes the
manifest to /tmp/manifest.yaml, runs kubectl in-process --

    kubectl ACTION [--ignore-not-found (delete)] [--type STRATEGY --patch-file FILE (patch)] FLAGS... [-f FILE] -o json|name

(`-f` left out of a json patch, and of another patch with flags whose manifest has no `kind`), refuses an output
without a kind and a name, then (not for delete) polls the resource every 5 s (RESOURCE_STATE_CHECK_INTERVAL)
until a failureCondition requirement matches (the node fails) or every successCondition one does
(selector.py), and reads each output parameter with `kubectl get -o jsonpath=…` or `-o json` and gojq.

The step runs the same calls in KUBECTL_IMAGE through `sh -c`: the manifest is the script's first argument,
written to a file (so no quoting of it can go wrong, whatever a param holds), the flags the following
arguments, the outputs written to $ORCH_OUTPUTS. `{{pod.name}}` is the pod the step runs in ($HOSTNAME, which
Kubernetes sets to the pod's name), filled in when the step starts.
"""

from __future__ import annotations

import re

import yaml

from orch.core.names import suggest_name

from . import command as cmd
from . import selector
from .common import failing
from .tags import TAG, Scope, Unsupported, translate

# The image the step's kubectl runs in. Argo's own executor image (quay.io/argoproj/argoexec) is distroless: it
# holds no shell and no kubectl binary (Argo links kubectl into argoexec). alpine/k8s is Alpine (busybox sh,
# mktemp, sed, tail) with kubectl and jq -- jq reads the conditions and jqFilter outputs -- one tag per kubectl
# release. A pipeline pins it once here; a reviewer changes the step's `image` to their cluster's version.
KUBECTL_IMAGE = "alpine/k8s:1.31.4"

ACTIONS = ("get", "create", "apply", "delete", "replace", "patch")
STRATEGIES = ("strategic", "merge", "json")
POLL_SECONDS = 5  # Argo's RESOURCE_STATE_CHECK_INTERVAL default (cmd/argoexec/executor/init.go)
POD_NAME = re.compile(r"\{\{\s*pod\.name\s*\}\}")
POD_TAG = "{{pod.name}}"


def filled(text: str, scope: Scope) -> tuple[str, bool]:
    """`text` with its Argo tags translated (tags.translate), `{{pod.name}}` kept for the script to fill in;
    whether it was there."""
    pieces = POD_NAME.split(text)
    return POD_TAG.join(translate(p, scope) for p in pieces), len(pieces) > 1


def literal(text: str, scope: Scope, what: str) -> str:
    """A text the script embeds (a condition, a jsonpath, a jq filter): its tags must be literal inputs."""
    found = translate(text, scope)
    if "${{" in found:
        raise Unsupported(f"{what} comes from a param or an output: the importer reads it as written")
    return found


def shape(manifest: str):
    """The manifest's YAML with every tag a plain word, as Argo reads it once substituted; None if unreadable."""
    try:
        return yaml.safe_load(TAG.sub("x", manifest))
    except yaml.YAMLError:
        return None


def kubectl_argv(action: str, strategy: str, file_flag: bool, manifest: str) -> str:
    """The kubectl call of getKubectlArguments, as script text: the flags are "$@"."""
    words = ["kubectl", action]
    if action == "delete":
        words.append("--ignore-not-found")
    if action == "patch":
        words += ["--type", strategy, "--patch-file", manifest]
    words.append('"$@"')
    if file_flag:
        words += ["-f", manifest]
    words += ["-o", "name" if action == "delete" else "json"]
    return " ".join(words)


def script(action: str, strategy: str, file_flag: bool, manifest_path: str | None, pod: bool,
           success: list, failure: list, outputs: list[tuple[str, str, str, str | None]]) -> str:
    """The `sh -c` text: the manifest written (from $1 unless `manifest_path`, an input artifact's), the pod's
    name filled in, kubectl run, the resource polled, the outputs read. `outputs`: (orch name, jsonpath|jq, the
    expression, default)."""
    lines = []
    if manifest_path is None:
        lines.append('manifest=$(mktemp) && printf %s "$1" > "$manifest" && shift || exit 1')
        where = '"$manifest"'
    else:
        where = cmd.quoted(manifest_path)
    if pod:
        lines.append("pod=${HOSTNAME:-$(hostname)}  # {{pod.name}}: Kubernetes names the host after the pod")
        if manifest_path is None:
            lines.append("sed \"s/{{pod\\.name}}/$pod/g\" \"$manifest\" > \"$manifest.pod\" && "
                         "mv \"$manifest.pod\" \"$manifest\" || exit 1")
        lines.append("for arg do shift; set -- \"$@\" \"$(printf '%s\\n' \"$arg\" | sed \"s/{{pod\\.name}}/$pod/g\")\"; "
                     "done")
    call = kubectl_argv(action, strategy, file_flag, where)
    if action == "delete":
        lines.append(call)
        return "\n".join(lines)
    lines.append(f"out=$(mktemp) && {call} > \"$out\" || exit 1")
    if action == "get":  # a get printing nothing (flags selecting none): Argo neither waits nor reads the resource
        empty = [f"printf %s {cmd.quoted(default or '')} > \"$ORCH_OUTPUTS/{name}\"" for name, _, _, default in outputs]
        lines.append("if [ ! -s \"$out\" ]; then " + "; ".join([*empty, "exit 0"]) + "; fi")
    lines.append("jq -e '(.kind // \"\") != \"\" and (.metadata.name // \"\") != \"\"' \"$out\" > /dev/null || "
                 "{ echo 'Kind and name are both required but at least one of them is missing from the manifest' >&2;"
                 " exit 1; }")
    if success or failure:
        program = selector.verdict_program(success, failure)
        said = ", ".join(r.text() for r in failure)
        lines += [
            "while :; do",
            "  kubectl get -f \"$out\" -o json > \"$out.now\" || exit 1",
            f"  verdict=$(jq -r {cmd.quoted(program)} \"$out.now\") || exit 1",
            "  [ \"$verdict\" = succeeded ] && break",
            f"  [ \"$verdict\" = failed ] && {{ echo {cmd.quoted('failure condition matched: ' + said)} >&2; exit 1; }}",
            f"  sleep {POLL_SECONDS}",
            "done",
        ]
    for name, how, expression, _ in outputs:
        target = f'"$ORCH_OUTPUTS/{name}"'
        if how == "jsonpath":
            lines.append(f"kubectl get -f \"$out\" -o {cmd.quoted('jsonpath=' + expression)} > {target} || exit 1")
            # Argo keeps the text as kubectl prints it; orch drops one trailing newline, so one is added back
            lines.append(f"[ -s {target} ] && [ -z \"$(tail -c 1 {target})\" ] && echo >> {target}")
        else:
            lines.append("kubectl get -f \"$out\" -o json > \"$out.now\" || exit 1")
            lines.append(f"jq -j {cmd.quoted(jq_output(expression))} \"$out.now\" > {target} || exit 1")
    lines.append("exit 0")
    return "\n".join(lines)


def jq_output(program: str) -> str:
    """jqFilter as Argo's jqFilter() writes it: each result on a line (a string as itself, anything else as
    Go's json.Marshal writes it: compact, keys sorted), the whole trimmed. The program sits on lines of its own,
    so a `#` comment in it ends where it does."""
    return ('def sorted: if type == "object" then to_entries | sort_by(.key) | map(.value |= sorted) | from_entries '
            'elif type == "array" then map(sorted) else . end; '
            f'[(\n{program}\n) | if type == "string" then . else (sorted | tojson) end] | join("\\n") '
            '| sub("\\\\A\\\\s+"; "") | sub("\\\\s+\\\\z"; "")')


class Resources:
    """The part of the conversion that makes one step of a resource template (mixed into convert.Workflow)."""

    def _resource(self, path: tuple, template: dict, scope: Scope, plan, step: dict, outputs: list) -> None:
        """The resource template's kubectl calls into `plan.argv`, its image into `step`."""
        led = self.ledger
        where = (*path, "resource")
        body = template.get("resource") or {}
        action = body.get("action")
        try:
            argv, notes, gets = self._resource_argv(where, body, scope, outputs)
        except Unsupported as err:
            led.unsupported(where, str(err))
            plan.argv = failing(str(err))["command"]
            return
        plan.argv = argv
        step["image"] = KUBECTL_IMAGE
        who = template.get("serviceAccountName") or self.spec.get("serviceAccountName")
        account = f"its service account ({who}, as in Argo)" if who else "a service account (kubernetes.service_account)"
        reads = " and to get it (to poll it or read its outputs; kubectl finds it by discovery, where Argo's executor " \
            "polls a REST path it guesses from the kind's plural)" if gets else ""
        said = [f"runs kubectl {action} in {KUBECTL_IMAGE}, as Argo's executor runs it: the step's pod needs {account} "
                f"allowed to {action} the resource{reads}, as Argo's executor does; kubectl acts in the cluster and "
                "namespace the step runs in (outside a pod: the current kubeconfig context, kubectl and jq taken from the machine); a transient API error "
                "fails the step, where Argo's executor retries the call", *notes]
        led.approximated(where, "; ".join(said), "command")

    def _resource_argv(self, where: tuple, body: dict, scope: Scope, outputs: list) -> tuple[list[str], list, bool]:
        """(the step's argv, what differs beyond running kubectl -- said on the `resource` entry --, whether the step
        also gets the resource); every field's entry written."""
        led = self.ledger
        notes: list[str] = []
        for key in body:
            if key not in ("action", "mergeStrategy", "manifest", "manifestFrom", "setOwnerReference",
                           "successCondition", "failureCondition", "flags"):
                led.unsupported((*where, key), f"a resource template's {key!r} has no orch form")
        action = body.get("action")
        if action not in ACTIONS:
            raise Unsupported(f"action {action!r}: Argo takes one of {', '.join(ACTIONS)}")
        led.mapped((*where, "action"), "command", f"kubectl {action}")
        strategy = str(body.get("mergeStrategy") or "strategic")
        if strategy not in STRATEGIES:
            raise Unsupported(f"mergeStrategy {strategy!r}: Argo takes strategic, merge or json")
        if "mergeStrategy" in body:
            led.mapped((*where, "mergeStrategy"), "command", f"kubectl patch --type {strategy}" if action == "patch"
                       else "read by a patch only, as in Argo")
        pod = False
        flags = []
        for flag in body.get("flags") or []:
            text, used = filled(str(flag), scope)
            flags.append(text)
            pod = pod or used
        if "flags" in body:
            led.mapped((*where, "flags"), "command", "appended after the action's own arguments, as Argo's executor "
                                                     "appends them")
        manifest_path, manifest = None, ""
        if "manifestFrom" in body:
            name = ((body.get("manifestFrom") or {}).get("artifact") or {}).get("name")
            if name not in scope.artifacts:
                raise Unsupported(f"manifestFrom names {name!r}, no input artifact of the template placed at a path")
            manifest_path = scope.artifacts[name]
            led.mapped((*where, "manifestFrom"), "command", "kubectl reads the input artifact at its path, as Argo's "
                                                           "executor does")
        elif body.get("manifest") is not None:
            manifest, used = filled(str(body["manifest"]), scope)
            pod = pod or used
            led.mapped((*where, "manifest"), "command", "written to a file kubectl reads, its tags filled in")
        if not manifest and manifest_path is None and not flags:
            raise Unsupported("neither a manifest nor flags: Argo's executor refuses it (the node errors)")
        read = shape(str(body.get("manifest") or ""))
        file_flag = bool(manifest or manifest_path)
        if action == "patch" and (strategy == "json" or (flags and not (isinstance(read, dict) and "kind" in read))):
            file_flag = False  # `kubectl patch KIND NAME --patch-file FILE`
        if action == "patch" and strategy != "json" and flags and manifest_path is not None:
            raise Unsupported("a patch from an artifact with flags: whether kubectl gets -f depends on the file's kind")
        if body.get("setOwnerReference"):
            if not isinstance(read, dict):
                raise Unsupported("setOwnerReference on a manifest that is not one object: Argo's controller errors "
                                  "the node")
            led.approximated((*where, "setOwnerReference"), "no owner reference is written: Argo makes the Workflow "
                                                            "the resource's controller, so Kubernetes deletes the "
                                                            "resource with the Workflow; here it outlives the run",
                             "command")
        elif "setOwnerReference" in body:
            led.mapped((*where, "setOwnerReference"), "command", "no owner reference, as in Argo")
        if pod:
            notes.append("{{pod.name}} is the name of the pod the step runs in ($HOSTNAME, which Kubernetes sets to "
                         "it): orch's pod, with orch's labels and annotations; a step run outside Kubernetes has no "
                         "pod of that name")
        raw = str(body.get("manifest") or "") + " ".join(str(f) for f in body.get("flags") or [])
        if re.search(r"\{\{\s*workflow\.name\s*\}\}", raw):
            notes.append("{{workflow.name}} is orch's run id: a Workflow of that name is the run's own only where "
                         "the spec runs on Argo; elsewhere there is none")
        success, failure = self._conditions(where, body, scope, action)
        if action == "delete" and outputs:
            raise Unsupported("outputs of a delete: Argo's executor refuses them (the node errors)")
        if action == "get" and flags and (success or failure):
            notes.append("a get whose flags select nothing prints nothing: the step then ends at once, where Argo's "
                         "executor polls a resource it has no link to")
        gets = bool(success or failure or outputs) and action != "get"
        text = script(action, strategy, file_flag, manifest_path, pod, success, failure, outputs)
        return ["sh", "-c", text, "argo", *([manifest] if manifest_path is None else []), *flags], notes, gets

    def _conditions(self, where: tuple, body: dict, scope: Scope, action: str) -> tuple[list, list]:
        """The success and failure requirements (selector.parse), each condition's entry written."""
        found = {}
        for key in ("successCondition", "failureCondition"):
            if not body.get(key):
                found[key] = []
                if key in body:
                    self.ledger.mapped((*where, key), "command", "empty: no requirement, as in Argo")
                continue
            if action == "delete":
                raise Unsupported(f"a {key} on a delete: Argo's executor refuses it (the node errors)")
            found[key] = selector.parse(literal(str(body[key]), scope, key))
            rule = "any requirement matching fails the step" if key == "failureCondition" else \
                "the step succeeds once every requirement matches"
            self.ledger.mapped((*where, key), "command", f"the resource read (kubectl get -o json) every {POLL_SECONDS} s "
                                                         f"as Argo's executor polls it, each requirement read as Argo "
                                                         f"reads it (jq over the JSON): {rule}")
        return found["successCondition"], found["failureCondition"]

    def _resource_outputs(self, path: tuple, template: dict, scope: Scope) -> tuple[dict, list]:
        """The output parameters Argo reads from the resource (jsonPath, jqFilter): the orch outputs and what the
        script reads for each."""
        led = self.ledger
        found: dict = {}
        reads: list = []
        outputs = template.get("outputs") or {}
        for i, param in enumerate(outputs.get("parameters") or []):
            where = (*path, "outputs", "parameters", i)
            source = param.get("valueFrom") or {}
            name = suggest_name(param.get("name"))
            how = "jsonpath" if "jsonPath" in source else "jq" if "jqFilter" in source else None
            if how is None or set(source) - {"jsonPath", "jqFilter", "default"} or set(param) - {"name", "valueFrom"} \
                    or len(set(source) & {"jsonPath", "jqFilter"}) > 1:
                led.unsupported(where, "a resource template's output parameter is read from the resource: only "
                                       "valueFrom.jsonPath or jqFilter (and default) has an orch form")
                continue
            try:
                expression = literal(str(source["jsonPath" if how == "jsonpath" else "jqFilter"]), scope,
                                     "the output's expression")
            except Unsupported as err:
                led.unsupported(where, str(err))
                continue
            default = source.get("default")
            reads.append((name, how, expression, None if default is None else str(default)))
            found[name] = {"type": "string"}
            self.aliases[(self._current, name)] = param["name"]
            led.mapped((*where, "name"), f"outputs.{name}")
            if how == "jsonpath":
                led.mapped((*where, "valueFrom", "jsonPath"), f"outputs.{name}",
                           "kubectl get -o jsonpath=… of the resource, written to $ORCH_OUTPUTS as kubectl prints it, "
                           "as Argo's executor reads it")
            else:
                led.approximated((*where, "valueFrom", "jqFilter"),
                                 "jq where Argo runs gojq over the resource's JSON: the same language, but jq writes "
                                 "<, > and & as themselves where Go's encoder escapes them (\\u003c…), and a number "
                                 "as written where Go's goes through a float; each result a line, strings raw, the rest "
                                 "compact JSON with sorted keys, as Argo writes them", f"outputs.{name}")
            if default is not None:
                led.mapped((*where, "valueFrom", "default"), f"outputs.{name}",
                           "used where kubectl get printed nothing, as Argo uses it")
        for key in outputs:
            if key != "parameters":
                led.unsupported((*path, "outputs", key), f"outputs.{key}: Argo's executor saves none for a resource "
                                                         "template")
        return found, reads
