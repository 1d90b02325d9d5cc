"""A template's container and pod settings as orch's `image`, `env`, `resources` and `kubernetes` fields.

Argo writes them into the pod it makes; orch's Argo backend writes its `kubernetes:` fields into the same places
(core/pod.py), so each maps one to one where orch has the field. PodSpec fields orch has no field for
(`affinity`, `securityContext`, `priorityClassName`, …) go into `pod_spec_patch`, which Argo merges into the pod
as Argo does a template's own (a strategic merge patch). Container fields outside the main container's argv,
image, env, resources and mounts have no orch field.
"""

from __future__ import annotations

import json
import re

import yaml

from orch.core.pod import POD_SPEC_FIELDS

from .tags import Unsupported, translate

GPU = "nvidia.com/gpu"
OWN = {"nodeSelector": "node_selector", "tolerations": "tolerations", "serviceAccountName": "service_account"}
PATCHED = POD_SPEC_FIELDS - {"containers", "initContainers", "volumes", "nodeSelector", "tolerations",
                             "serviceAccountName", "imagePullSecrets", "activeDeadlineSeconds", "ephemeralContainers"}


def container(spec: dict, path: tuple, ledger, scope, volumes: dict, step: dict) -> None:
    """The main container's image, env, resources and mounts into `step`."""
    for key, value in spec.items():
        where = (*path, key)
        try:
            if key == "image":
                step["image"] = translate(str(value), scope)
                ledger.mapped(where, "image")
            elif key in ("command", "args", "source", "workingDir"):
                continue  # the argv: command.py
            elif key == "env":
                _env(value, where, ledger, scope, step)
            elif key == "resources":
                _resources(value, where, ledger, step)
            elif key == "volumeMounts":
                _mounts(value, where, ledger, volumes, step)
            elif key == "imagePullPolicy":
                step.setdefault("kubernetes", {})["image_pull_policy"] = value
                ledger.mapped(where, "kubernetes.image_pull_policy")
            elif key == "name":
                ledger.mapped(where, note="the main container's name: orch names it itself")
            else:
                ledger.unsupported(where, f"the container's {key!r} has no orch field")
        except Unsupported as err:
            ledger.unsupported(where, str(err))


def _env(env, path, ledger, scope, step) -> None:
    found = step.setdefault("env", {})
    for i, item in enumerate(env or []):
        where = (*path, i)
        if "value" in item:
            found[item["name"]] = translate(str(item["value"]), scope)
            ledger.mapped(where, f"env.{item['name']}")
        elif (item.get("valueFrom") or {}).get("secretKeyRef"):
            ref = item["valueFrom"]["secretKeyRef"]
            found[item["name"]] = {"secret": ref.get("name"), "key": ref.get("key")}
            ledger.mapped(where, f"env.{item['name']}", "a Secret's key, as orch's {secret, key}")
        else:
            ledger.unsupported(where, "an env value from a field, a ConfigMap or a resource has no orch form")
    if not found:
        del step["env"]


def _resources(resources, path, ledger, step) -> None:
    for kind, values in (resources or {}).items():
        if kind not in ("requests", "limits"):
            ledger.unsupported((*path, kind), f"resources.{kind} has no orch field")
            continue
        for name, value in (values or {}).items():
            where = (*path, kind, name)
            if name == GPU and not str(value).isdigit():
                ledger.unsupported(where, f"a GPU count {value!r} orch cannot read")
            elif name == GPU:
                step.setdefault("resources", {})["gpu"] = int(value)
                ledger.mapped(where, "resources.gpu", "Kubernetes takes a GPU request equal to its limit")
            elif name in ("cpu", "memory") and kind == "requests":
                step.setdefault("resources", {})[name] = str(value)
                ledger.mapped(where, f"resources.{name}")
            elif name in ("cpu", "memory"):
                step.setdefault("kubernetes", {}).setdefault("limits", {})[name] = str(value)
                ledger.mapped(where, f"kubernetes.limits.{name}")
            else:
                ledger.unsupported(where, f"the resource {name!r} has no orch field")


def _mounts(mounts, path, ledger, volumes, step) -> None:
    for i, mount in enumerate(mounts or []):
        where = (*path, i)
        source = volumes.get(mount.get("name"))
        if source is None:
            ledger.unsupported(where, f"volume {mount.get('name')!r} is not one orch can mount (emptyDir, a PVC, "
                                      "a ConfigMap, a Secret declared in the manifest)")
            continue
        volume = {"name": mount["name"], "mount_path": mount["mountPath"], **source[0]}
        if mount.get("readOnly"):
            volume["read_only"] = True
        if mount.get("subPath"):
            volume["sub_path"] = mount["subPath"]
        for key in mount:
            if key not in ("name", "mountPath", "readOnly", "subPath"):
                ledger.unsupported((*where, key), f"volumeMounts' {key!r} has no orch field")
        ledger.mapped(where, "kubernetes.volumes")
        ledger.mapped(source[1], "kubernetes.volumes")
        step.setdefault("kubernetes", {}).setdefault("volumes", []).append(volume)


def volume_sources(volumes, path, ledger) -> dict[str, tuple[dict, tuple]]:
    """The volumes orch can mount, by name -> (orch source fields, where declared); the others refused."""
    found = {}
    for i, volume in enumerate(volumes or []):
        where = (*path, i)
        source = _source(volume)
        if source is None:
            ledger.unsupported(where, "only emptyDir, persistentVolumeClaim, configMap and secret volumes have "
                                      "an orch form")
        else:
            found[volume["name"]] = (source, where)
    return found


def _source(volume: dict) -> dict | None:
    keys = set(volume) - {"name"}
    if keys == {"emptyDir"}:
        empty = volume["emptyDir"] or {}
        fields = {k: v for k, v in (("medium", empty.get("medium")), ("size_limit", empty.get("sizeLimit"))) if v}
        return {"empty_dir": fields or True} if set(empty) <= {"medium", "sizeLimit"} else None
    if keys == {"persistentVolumeClaim"} and set(volume["persistentVolumeClaim"]) <= {"claimName", "readOnly"}:
        return {"pvc": volume["persistentVolumeClaim"]["claimName"]}
    if keys == {"configMap"} and set(volume["configMap"]) == {"name"}:
        return {"config_map": volume["configMap"]["name"]}
    if keys == {"secret"} and set(volume["secret"]) == {"secretName"}:
        return {"secret": volume["secret"]["secretName"]}
    return None


def pod_fields(holder: dict, path: tuple, ledger, kubernetes: dict, keys, scope=None, workflow: tuple = ({}, {})) -> tuple:
    """Pod-level settings of a template or a workflow spec into orch `kubernetes` fields; `keys` are those the
    caller hands here. Returns (the pod fields written into the patch, the podSpecPatch): a template's patch is
    built as Argo builds its pod from them and the `workflow`'s own (workflowpod.go): the pod's fields, the
    template's over the workflow's, then the workflow's podSpecPatch, then the template's, each a strategic merge."""
    patch: dict = {}
    spec_patch: dict = {}
    for key in keys:
        if key not in holder:
            continue
        value, where = holder[key], (*path, key)
        defaulted: list[str] = []  # the params whose defaults were written in (pod settings are literal)
        if scope is not None and key in OWN:  # tags filled in: a literal input's value is fine, a param's default too
            try:
                value = _filled(value, scope, defaulted)
            except Unsupported as err:
                ledger.unsupported(where, str(err))
                continue
        if key in OWN:
            if key == "tolerations":
                value = [_toleration(t) for t in value or []]
            kubernetes[OWN[key]] = value
            if defaulted:
                ledger.approximated(where, _defaulted(defaulted), f"kubernetes.{OWN[key]}")
            else:
                ledger.mapped(where, f"kubernetes.{OWN[key]}")
        elif key == "imagePullSecrets":
            kubernetes["image_pull_secrets"] = [s["name"] for s in value or []]
            ledger.mapped(where, "kubernetes.image_pull_secrets")
        elif key in ("metadata", "podMetadata"):
            for part in ("labels", "annotations"):
                if (value or {}).get(part):
                    kubernetes[part] = {**kubernetes.get(part, {}), **{k: str(v) for k, v in value[part].items()}}
                    ledger.mapped((*where, part), f"kubernetes.{part}")
            for part in value or {}:
                if part not in ("labels", "annotations"):
                    ledger.unsupported((*where, part), f"pod metadata {part!r} has no orch field")
        elif key == "podSpecPatch":
            try:  # tags filled in first, as Argo substitutes the template before it reads the patch
                text = translate(value if isinstance(value, str) else json.dumps(value), scope) if scope else value
                text = _with_defaults(text, scope, defaulted) if scope and isinstance(text, str) else text
                parsed = yaml.safe_load(text) if isinstance(text, str) else text
            except (yaml.YAMLError, Unsupported):
                parsed = None
            if not isinstance(parsed, dict) or any(o in json.dumps(parsed) for o in ("{{", "${{")):
                ledger.unsupported(where, "podSpecPatch holds outputs, params without a default or Argo tags (orch's "
                                          "patch is a literal mapping), or is not a mapping")
                continue
            spec_patch = parsed
            if defaulted:
                ledger.approximated(where, _defaulted(defaulted), "kubernetes.pod_spec_patch")
            else:
                ledger.mapped(where, "kubernetes.pod_spec_patch")
        elif key == "podResources":  # workflowpod.go writes it as the pod's own resources
            patch["resources"] = value
            ledger.mapped(where, "kubernetes.pod_spec_patch.resources", "the pod-level resources, as Argo writes them "
                                                                        "into the pod's spec")
        elif key in PATCHED:
            patch[key] = value
            ledger.mapped(where, f"kubernetes.pod_spec_patch.{key}", "merged into the pod's spec as Argo writes it")
    if patch or spec_patch:
        fields = {**workflow[0], **patch}
        kubernetes["pod_spec_patch"] = strategic(strategic(fields, workflow[1]), spec_patch)
    return patch, spec_patch


def strategic(base, top):
    """`top` over `base` as Kubernetes' strategic merge patch does for a PodSpec: mappings merged key by key, lists
    of named items (containers, volumes, env) merged by name, item by item; other lists replaced whole."""
    if isinstance(base, dict) and isinstance(top, dict):
        return {**base, **{k: strategic(base[k], v) if k in base else v for k, v in top.items()}}
    if _named(base) and _named(top):
        tops = {item["name"]: item for item in top}
        merged = [strategic(item, tops.pop(item["name"])) if item["name"] in tops else item for item in base]
        return merged + [item for item in top if item["name"] in tops]
    return top


def _named(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and "name" in i for i in value)


def _filled(value, scope, defaulted: list[str]):
    """`value` with its tags filled in, a param by its default (named in `defaulted`); Unsupported where one
    becomes another reference (pod settings are literal)."""
    if isinstance(value, dict):
        return {k: _filled(v, scope, defaulted) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, scope, defaulted) for v in value]
    if isinstance(value, str) and "{{" in value:
        text = _with_defaults(translate(value, scope), scope, defaulted)
        if "${{" in text:
            raise Unsupported(f"{value!r} comes from an output or a param without a default: orch's pod settings "
                              "are literal (the pod is made before any step runs)")
        return text
    return value


PARAM = re.compile(r"\$\{\{ params\.([\w-]+) \}\}")


def _with_defaults(text: str, scope, defaulted: list[str]) -> str:
    """`text` with each reference to a param that has a default replaced by that default."""
    def one(match: re.Match) -> str:
        spec = scope.param_specs.get(match.group(1)) or {}
        if "default" not in spec:
            return match.group(0)
        defaulted.append(match.group(1))
        return str(spec["default"])

    return PARAM.sub(one, text)


def _defaulted(names: list[str]) -> str:
    said = ", ".join(f"{n!r}" for n in dict.fromkeys(names))
    return (f"written with the default of param {said}: orch's pod settings are literal (the pod is made before any "
            "step runs), so a run given another value keeps this one")


def _toleration(item: dict) -> dict:
    names = {"tolerationSeconds": "toleration_seconds"}
    return {names.get(k, k): v for k, v in item.items()}
