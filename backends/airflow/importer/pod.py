"""A KubernetesPodOperator as a command step in its image, with its pod settings as the step's `kubernetes:`
(core/pod.py): the container's argv (`cmds` + `arguments`), env, requests and limits, node selector,
tolerations, service account, pull policy and secrets, labels, annotations, and volumes orch can name (a PVC,
a ConfigMap, a Secret, an emptyDir). Which cluster and namespace a pod lands in is the backend's choice in orch.
"""

from __future__ import annotations

from .tasks import templated

CLUSTER = {"namespace", "kubernetes_conn_id", "in_cluster", "cluster_context", "config_file", "name",
           "random_name_suffix", "startup_timeout_seconds", "startup_check_interval_seconds", "get_logs",
           "on_finish_action", "is_delete_operator_pod", "reattach_on_restart", "log_events_on_failure",
           "container_logs", "base_container_name", "deferrable", "poll_interval"}


def read_pod(reading, task: dict, step: dict) -> None:
    kwargs, path = task["kwargs"], ("tasks", task["task_id"])
    ledger = reading.ledger
    if "image" in kwargs:
        step["image"] = kwargs["image"]
        ledger.mapped((*path, "image"), reading.target(task, "image"))
    argv = [str(a) for a in (kwargs.get("cmds") or [])] + [str(a) for a in (kwargs.get("arguments") or [])]
    if not kwargs.get("cmds"):
        ledger.unsupported((*path, "cmds"), "no cmds: the image's entrypoint runs; an orch step names its argv")
    step["command"] = [templated(reading, task, a, (*path, "cmds" if i < len(kwargs.get("cmds") or []) else
                                                   "arguments", i if i < len(kwargs.get("cmds") or []) else
                                                   i - len(kwargs.get("cmds") or []))) for i, a in enumerate(argv)]
    env = kwargs.get("env_vars")
    if isinstance(env, dict):
        step["env"] = {k: templated(reading, task, str(v), (*path, "env_vars", k)) for k, v in env.items()}
    elif env:
        step["env"] = {}
        for i, var in enumerate(env):
            value = var.get("value", {}) if isinstance(var, dict) else {}
            value = value.get("value", {}) if isinstance(value, dict) else {}
            if isinstance(value, dict) and "name" in value and "value" in value:
                step["env"][value["name"]] = templated(reading, task, str(value["value"]), (*path, "env_vars", i))
            else:
                ledger.unsupported((*path, "env_vars", i), "an env var from a source orch cannot name")
    pod: dict = {}
    for key, target in (("labels", "labels"), ("annotations", "annotations"), ("node_selector", "node_selector")):
        if kwargs.get(key):
            pod[target] = dict(kwargs[key])
            ledger.mapped((*path, key), reading.target(task, f"kubernetes.{target}"))
    if kwargs.get("service_account_name"):
        pod["service_account"] = kwargs["service_account_name"]
        ledger.mapped((*path, "service_account_name"), reading.target(task, "kubernetes.service_account"))
    if kwargs.get("image_pull_policy"):
        pod["image_pull_policy"] = kwargs["image_pull_policy"]
        ledger.mapped((*path, "image_pull_policy"), reading.target(task, "kubernetes.image_pull_policy"))
    tolerations(reading, task, pod)
    resources(reading, task, step, pod)
    volumes(reading, task, pod)
    secrets = kwargs.get("image_pull_secrets")
    if secrets:
        names = [s.strip() for s in secrets.split(",")] if isinstance(secrets, str) else \
            [(s.get("value") or {}).get("name") for s in secrets]
        pod["image_pull_secrets"] = [n for n in names if n]
        ledger.mapped((*path, "image_pull_secrets"), reading.target(task, "kubernetes.image_pull_secrets"))
    for key in CLUSTER & set(kwargs):
        ledger.approximated((*path, key), "where and how the pod is made and watched: orch's backend decides")
    if pod:
        step["kubernetes"] = pod


def tolerations(reading, task: dict, pod: dict) -> None:
    found = task["kwargs"].get("tolerations") or []
    kept = []
    for item in found:
        value = item.get("value", item) if isinstance(item, dict) else {}
        kept.append({k: v for k, v in value.items() if k in ("key", "operator", "value", "effect", "toleration_seconds")})
    if kept:
        pod["tolerations"] = kept
        reading.ledger.mapped(("tasks", task["task_id"], "tolerations"), reading.target(task, "kubernetes.tolerations"))


def resources(reading, task: dict, step: dict, pod: dict) -> None:
    given = task["kwargs"].get("container_resources")
    if not given:
        return
    value = given.get("value", {}) if isinstance(given, dict) else {}
    requests, limits = value.get("requests") or {}, value.get("limits") or {}
    at = ("tasks", task["task_id"], "container_resources")
    wanted = {}
    for key in ("cpu", "memory"):
        if key in requests:
            wanted[key] = requests[key]
    gpu = requests.get("nvidia.com/gpu") or limits.get("nvidia.com/gpu")
    if gpu:
        wanted["gpu"] = int(gpu)
    if wanted:
        step["resources"] = wanted
    bounded = {k: limits[k] for k in ("cpu", "memory") if k in limits}
    if bounded:
        pod["limits"] = bounded
    other = (set(requests) | set(limits)) - {"cpu", "memory", "nvidia.com/gpu"}
    if other or value.get("claims"):
        reading.ledger.unsupported(at, f"resources orch has no field for: {sorted(other) or 'claims'}")
    else:
        reading.ledger.mapped(at, reading.target(task, "resources"), "requests as resources, limits as "
                                                                      "kubernetes.limits, nvidia.com/gpu as gpu")


def volumes(reading, task: dict, pod: dict) -> None:
    kwargs, path = task["kwargs"], ("tasks", task["task_id"])
    declared = {}
    for i, item in enumerate(kwargs.get("volumes") or []):
        value = item.get("value", {}) if isinstance(item, dict) else {}
        declared[value.get("name")] = (i, value)
    kept = []
    for i, item in enumerate(kwargs.get("volume_mounts") or []):
        mount = item.get("value", {}) if isinstance(item, dict) else {}
        index, volume = declared.pop(mount.get("name"), (None, {}))
        source = _source(volume)
        if source is None or set(mount) - {"name", "mount_path", "read_only", "sub_path"}:
            reading.ledger.unsupported((*path, "volume_mounts", i), "a volume orch cannot name (a PVC, ConfigMap, "
                                                                    "Secret or emptyDir mounted plainly)")
            continue
        entry = {"name": mount["name"], "mount_path": mount["mount_path"], **source}
        for key in ("read_only", "sub_path"):
            if mount.get(key) is not None:
                entry[key] = mount[key]
        kept.append(entry)
        reading.ledger.mapped((*path, "volume_mounts", i), reading.target(task, "kubernetes.volumes"))
        reading.ledger.mapped((*path, "volumes", index), reading.target(task, "kubernetes.volumes"))
    for name, (index, _) in declared.items():
        reading.ledger.unsupported((*path, "volumes", index), "a volume no container mounts: orch's volumes are mounts")
    if kept:
        pod["volumes"] = kept


def _source(volume: dict) -> dict | None:
    rest = {k: v for k, v in volume.items() if k != "name"}
    if len(rest) != 1:
        return None
    (kind, value), = rest.items()
    if kind == "persistent_volume_claim" and set(value) <= {"claim_name"}:
        return {"pvc": value["claim_name"]}
    if kind == "config_map" and set(value) <= {"name"}:
        return {"config_map": value["name"]}
    if kind == "secret" and set(value) <= {"secret_name"}:
        return {"secret": value["secret_name"]}
    if kind == "empty_dir":
        empty = {k: v for k, v in {"medium": value.get("medium"), "size_limit": value.get("size_limit")}.items() if v}
        return {"empty_dir": empty or True} if set(value) <= {"medium", "size_limit"} else None
    return None
