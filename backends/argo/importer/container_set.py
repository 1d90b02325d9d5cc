"""A containerSet template as an orch group: one step per container, `after:` its `dependencies`.

Argo's rules, read in its source: the set is one pod whose containers are each a node of type Container, the
children of the pod's node by their `dependencies` (controller/container_set_template.go). A container with
none starts with the pod; one with dependencies has its emissary wait for each dependency's exit code and run
its command once every one exited 0 -- otherwise it exits with that code without running it, so it is Failed
(cmd/argoexec/commands/emissary.go, waitForDependencyExitCode; operator.go marks a container node by its exit
code). The other containers run on: the pod fails once every container ended, when any failed. The set's
`outputs.result` is the stdout of its container named `main`, and its output parameters and artifacts are saved
by that container's emissary after its command (executor.go, CaptureScriptResult; emissary.go). A template's
`volumeMounts` under `containerSet` are added to every container (GetContainers).

In orch each container is a step of a group: `after` its dependencies under the default all_succeeded (it runs
once each succeeded, else it does not run: upstream_failed), the group's fail_fast false (Argo starts the
independent containers together and never stops them), the group's outputs the `main` step's. What differs is
said once, on the `containerSet` field: one pod against a pod per step, and the state Argo gives a container
whose dependency failed. An emptyDir shared by containers has no orch form (each step's pod has its own).
"""

from __future__ import annotations

from orch.core.names import suggest_name

from . import command as cmd
from . import pod
from .common import TEMPLATE_POD, join, local_names
from .tags import Scope, Unsupported

MAIN = "main"  # common.MainContainerName: the container whose stdout is the result and which saves the outputs

ONE_POD = ("each container is an orch step of this group, in a pod of its own: Argo runs the set as one pod "
           "(its containers scheduled together on one node, sharing its volumes and network, the independent ones "
           "started at once), orch schedules a pod per step, started as its `after` allows; a container whose "
           "dependency failed is Failed in Argo (its command never runs), its orch step upstream_failed (it never "
           "runs either)")

SET_RETRIES = ("the set's process-level retries are not imported: Argo's field doc says `retries` + 1 attempts, "
               "its code makes `retries` in all (GetRetryStrategy: wait.Backoff{Steps: retries}), so how many runs "
               "is not settled from the source alone")


class ContainerSets:
    """The part of the conversion that reads containerSet templates (mixed into convert.Workflow)."""

    def _container_set(self, path: tuple, template: dict, scope: Scope, qualified: str, spec_path: tuple) -> dict:
        led = self.ledger
        body = template.get("containerSet") or {}
        where = (*path, "containerSet")
        read_before = "result" in (self.outputs.get(qualified) or {})  # a task written before this one reads it
        containers = [c for c in body.get("containers") or [] if isinstance(c, dict)]
        if not containers:
            led.unsupported(where, "a containerSet without containers: Argo refuses it (Validate)")
        argo_path = next((k for k, v in reversed(self.names.items()) if v == qualified), qualified)
        local = local_names([c.get("name") for c in containers])
        led.mapped((*path, "name"), spec_path[-1] if spec_path else None)
        led.approximated(where, ONE_POD, "steps")
        self.fail_fast_of[qualified] = False
        self.groups.add(qualified)
        if template.get("volumes"):
            self.volumes = {**self.volumes, **pod.volume_sources(template["volumes"], (*path, "volumes"), led)}
        self._shared_volumes(path, body, containers)
        kubernetes: dict = {}
        pod.pod_fields(template, path, led, kubernetes, TEMPLATE_POD, scope)
        main = next((c.get("name") for c in containers if c.get("name") == MAIN), None)
        steps: dict = {}
        for i, container in enumerate(containers):
            name = local[container.get("name")]
            step_q = join(qualified, name)
            self.names[f"{argo_path}.{container.get('name')}"] = step_q
            steps[name] = self._set_member(path, template, (*where, "containers", i), container, local, scope,
                                           step_q, container.get("name") == MAIN, kubernetes)
        group: dict = {"steps": steps}
        outputs = {key: "${{ steps.%s.outputs.%s }}" % (local[MAIN], key)
                   for key in (self.outputs.get(join(qualified, local[main])) or {})} if main else {}
        if outputs:
            group["outputs"] = outputs
        self.outputs[qualified] = {k: {} for k in outputs}
        self.container_sets[qualified] = (group, join(qualified, local[main]) if main else None)
        if read_before and main:
            self._set_output(qualified, "result", "result")
        if (template.get("outputs") or {}) and not main:
            led.unsupported((*path, "outputs"), "a containerSet's outputs are saved by its container named `main` "
                                                "(emissary.go); this set has none")
        self._set_rest(path, template, body, where)
        self.spec_of.setdefault(path, []).append(spec_path)
        return group

    def _set_member(self, path, template, where, container, local, scope, qualified, is_main, kubernetes) -> dict:
        """One container of the set as a step: its argv, image, env, resources and mounts as a container
        template's; the template's outputs on the `main` one."""
        led = self.ledger
        step: dict = {}
        inner = scope.child(output_paths={})
        plan = cmd.Plan([])
        self._current = qualified
        outputs = self._leaf_outputs(path, template, inner, plan) if is_main else {}
        self.outputs[qualified] = outputs
        fields = {k: v for k, v in container.items() if k not in ("name", "dependencies")}
        self._container(path, template, "container", inner, plan, step, fields, where)
        mounts = (template.get("containerSet") or {}).get("volumeMounts")
        if mounts:  # after the container's own, as GetContainers appends them
            pod._mounts(mounts, (*path, "containerSet", "volumeMounts"), led, self.volumes, step)
        step["command"] = cmd.command(plan)
        if outputs:
            step["outputs"] = outputs
        if kubernetes:
            step["kubernetes"] = {**_copy(kubernetes), **step.get("kubernetes", {})}
        name = container.get("name")
        fixed = local[name]
        led.mapped((*where, "name"), None, "" if fixed == name else f"{name!r} is named {fixed!r}: orch's names "
                                                                    "refuse it")
        dependencies = container.get("dependencies") or []
        if dependencies:
            if any(d in local for d in dependencies):
                step["after"] = [local[d] for d in dependencies if d in local]
            unknown = [d for d in dependencies if d not in local]
            if unknown:
                led.unsupported((*where, "dependencies"), f"names no container of this set: {', '.join(unknown)}")
            else:
                led.mapped((*where, "dependencies"), "after", "all_succeeded: Argo runs the container's command once "
                                                              "each dependency exited 0, as orch runs the step once "
                                                              "each succeeded")
        if inner.notes:
            self._notes(inner, where, ())
        return step

    def _shared_volumes(self, path: tuple, body: dict, containers: list) -> None:
        """A volume that several containers of the set mount: one volume of the one pod in Argo. An emptyDir has
        no orch form (each step's pod gets an emptyDir of its own); a claim is mounted by each step's pod."""
        shared = [m for m in body.get("volumeMounts") or [] if isinstance(m, dict)]
        users: dict[str, int] = {}
        for container in containers:
            names = {m.get("name") for m in [*shared, *(container.get("volumeMounts") or [])] if isinstance(m, dict)}
            for name in names:
                users[name] = users.get(name, 0) + 1
        places = [((*path, "containerSet", "volumeMounts", i), m) for i, m in enumerate(shared)]
        places += [((*path, "containerSet", "containers", ci, "volumeMounts", i), m)
                   for ci, c in enumerate(containers) for i, m in enumerate(c.get("volumeMounts") or [])
                   if isinstance(m, dict)]
        for where, mount in places:
            source = (self.volumes.get(mount.get("name")) or ({}, None))[0]
            if users.get(mount.get("name"), 0) < 2:
                continue
            if "empty_dir" in source:
                self.ledger.unsupported(where, f"the emptyDir {mount.get('name')!r} is shared by the set's containers "
                                               "in their one pod; orch runs each container as a step in a pod of "
                                               "its own, with an emptyDir of its own: no orch form shares one "
                                               "between steps")
            elif "pvc" in source:
                self.ledger.approximated(where, f"the claim of {mount.get('name')!r} is mounted by each step's pod, "
                                                "where Argo mounts it once for the set's one pod (a ReadWriteOnce "
                                                "claim can keep the steps' pods from running at once, or on other "
                                                "nodes)", "kubernetes.volumes")

    def _set_rest(self, path: tuple, template: dict, body: dict, where: tuple) -> None:
        """The set's and the template's other fields: retries and deadlines of the pod, inputs orch cannot place."""
        led = self.ledger
        for key in body:
            if key in ("containers", "volumeMounts"):
                continue
            if key == "retryStrategy":
                led.unsupported((*where, key), SET_RETRIES)
            else:
                led.unsupported((*where, key), f"containerSet.{key} has no orch field")
        if "retryStrategy" in template:
            led.unsupported((*path, "retryStrategy"), "Argo retries the set's whole pod, every container again; orch "
                                                      "retries steps, not groups")
        for key in ("activeDeadlineSeconds", "timeout"):
            if key in template:
                led.unsupported((*path, key), "a deadline over the set's one pod: an orch group has no timeout")
        inputs = template.get("inputs") or {}
        for key in inputs:
            if key != "parameters":
                led.unsupported((*path, "inputs", key), f"a containerSet template's inputs.{key}: Argo places them "
                                                        "in the set's one pod")
        self._rest(path, template, ("name", "inputs", "outputs", "retryStrategy", "activeDeadlineSeconds", "timeout",
                                    *TEMPLATE_POD, "containerSet", "volumes"))
        for i, volume in enumerate(template.get("volumes") or []):
            if volume.get("name") in self.volumes:
                led.mapped((*path, "volumes", i), note="declared for the pod; mounted where a container mounts it")

    def _set_output(self, qualified: str, output: str, how: str) -> str:
        """A reader of the set's output: the `main` step's, declared on it and on the group as it is read."""
        group, main = self.container_sets[qualified]
        name = "result" if how == "result" else suggest_name(output)
        if main is None:
            raise Unsupported(f"a containerSet's outputs are its container named `main`'s; {qualified!r} has none")
        produced = self.outputs.setdefault(main, {})
        if how == "result":
            produced.setdefault("result", {"type": "string", "from": "stdout"})
        elif name not in produced:
            raise Unsupported(f"containerSet {qualified!r} has no output {output!r}")
        group.setdefault("outputs", {})[name] = "${{ steps.%s.outputs.%s }}" % (main.rpartition(".")[2], name)
        self.outputs[qualified][name] = {}
        return name


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
