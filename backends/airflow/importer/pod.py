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
        put_image(reading, task, step, kwargs["image"], (*path, "image"))
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


def put_image(reading, task: dict, step: dict, image, at: tuple) -> None:
    """The step's image, where it is an image reference Kubernetes takes."""
    from orch.core.spec import image_syntax

    try:
        image_syntax(str(image))
    except Exception as refused:  # the core's refusal of a reference that is not one
        reading.ledger.unsupported(at, f"{image!r} is not an image reference: {refused}")
        return
    step["image"] = str(image)
    reading.ledger.mapped(at, reading.target(task, "image"))


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
    at = ("tasks", task["task_id"], "container_resources")
    problem = put_resources(given.get("value", {}) if isinstance(given, dict) else {}, step, pod)
    if problem:
        reading.ledger.unsupported(at, problem)
    else:
        reading.ledger.mapped(at, reading.target(task, "resources"), "requests as resources, limits as "
                                                                      "kubernetes.limits, nvidia.com/gpu as gpu")


def put_resources(value: dict, step: dict, pod: dict) -> str | None:
    """A V1ResourceRequirements (as a dict) into the step's resources and pod limits; what orch cannot hold, said."""
    requests, limits = value.get("requests") or {}, value.get("limits") or {}
    wanted = {key: requests[key] for key in ("cpu", "memory") if key in requests}
    gpu = requests.get("nvidia.com/gpu") or limits.get("nvidia.com/gpu")
    if gpu:
        wanted["gpu"] = int(gpu)
    if wanted:
        step["resources"] = wanted
    bounded = {k: limits[k] for k in ("cpu", "memory") if k in limits}
    if bounded:
        pod["limits"] = bounded
    other = (set(requests) | set(limits)) - {"cpu", "memory", "nvidia.com/gpu"}
    return f"resources orch has no field for: {sorted(other) or 'claims'}" if other or value.get("claims") else None


def volumes(reading, task: dict, pod: dict) -> None:
    kwargs, path = task["kwargs"], ("tasks", task["task_id"])
    declared = [item.get("value", {}) if isinstance(item, dict) else {} for item in kwargs.get("volumes") or []]
    mounts = [item.get("value", {}) if isinstance(item, dict) else {} for item in kwargs.get("volume_mounts") or []]
    kept, used, refused = put_volumes(declared, mounts)
    for i in range(len(mounts)):
        if i in refused:
            reading.ledger.unsupported((*path, "volume_mounts", i), refused[i])
        else:
            reading.ledger.mapped((*path, "volume_mounts", i), reading.target(task, "kubernetes.volumes"))
    for index in range(len(declared)):
        if index in used:
            reading.ledger.mapped((*path, "volumes", index), reading.target(task, "kubernetes.volumes"))
        else:
            reading.ledger.unsupported((*path, "volumes", index), "a volume no container mounts: orch's volumes are mounts")
    if kept:
        pod["volumes"] = kept


def put_volumes(declared: list[dict], mounts: list[dict]) -> tuple[list[dict], set, dict]:
    """orch volumes from Kubernetes volumes and mounts (as dicts): those kept, the volumes used, why a mount was not."""
    by_name = {volume.get("name"): (i, volume) for i, volume in enumerate(declared)}
    kept, used, refused = [], set(), {}
    for i, mount in enumerate(mounts):
        index, volume = by_name.get(mount.get("name"), (None, {}))
        source = _source(volume)
        if source is None or set(mount) - {"name", "mount_path", "read_only", "sub_path"}:
            refused[i] = "a volume orch cannot name (a PVC, ConfigMap, Secret or emptyDir mounted plainly)"
            continue
        entry = {"name": mount["name"], "mount_path": mount["mount_path"], **source}
        entry.update({key: mount[key] for key in ("read_only", "sub_path") if mount.get(key) is not None})
        kept.append(entry)
        used.add(index)
    return kept, used, refused


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


def read_pod_override(reading, task: dict, step: dict) -> None:
    """KubernetesExecutor's `executor_config={"pod_override": V1Pod}`: the pod a task runs in, as the step's image
    and pod settings (its `base` container's image, resources and mounts; the pod's labels, annotations,
    tolerations, node selector, service account; affinity as a pod spec patch)."""
    config, path = task["kwargs"]["executor_config"], ("tasks", task["task_id"], "executor_config")
    override = config.get("pod_override") if isinstance(config, dict) else None
    if not isinstance(override, dict) or set(config) != {"pod_override"}:
        reading.ledger.unsupported(path, "an executor's settings other than a KubernetesExecutor pod_override")
        return
    at = (*path, "pod_override")
    for key in ("__kind__", "type"):
        reading.ledger.mapped((*at, key))
    reading.ledger.mapped((*at, "api"), note="the same pod as Kubernetes writes it")
    pod, api = override.get("value", {}), override.get("api", {})
    settings = dict(step.get("kubernetes", {}))
    _pod_fields(reading, task, pod, api, settings, (*at, "value"))
    mounts = _base_container(reading, task, pod.get("spec", {}).get("containers") or [], step, settings,
                             (*at, "value", "spec", "containers"))
    _override_volumes(reading, task, pod.get("spec", {}).get("volumes") or [], mounts, settings, (*at, "value", "spec"))
    if settings:
        step["kubernetes"] = settings


def _pod_fields(reading, task: dict, pod: dict, api: dict, settings: dict, at: tuple) -> None:
    """The pod's metadata and spec fields (not its containers and volumes) into `settings`."""
    ledger = reading.ledger
    for key, value in pod.get("metadata", {}).items():
        if key in ("labels", "annotations"):
            settings[key] = {**settings.get(key, {}), **value}
            ledger.mapped((*at, "metadata", key), reading.target(task, f"kubernetes.{key}"))
        else:
            ledger.unsupported((*at, "metadata", key), f"the pod's {key}: orch names its pods")
    for key, value in pod.get("spec", {}).items():
        where = (*at, "spec", key)
        if key in ("node_selector", "service_account_name"):
            target = "service_account" if key == "service_account_name" else key
            settings[target] = value
            ledger.mapped(where, reading.target(task, f"kubernetes.{target}"))
        elif key == "tolerations":
            settings["tolerations"] = [{k: v for k, v in t.items() if k in ("key", "operator", "value", "effect",
                                                                             "toleration_seconds")} for t in value]
            ledger.mapped(where, reading.target(task, "kubernetes.tolerations"))
        elif key == "affinity":
            settings["pod_spec_patch"] = {**settings.get("pod_spec_patch", {}), "affinity": api["spec"]["affinity"]}
            ledger.mapped(where, reading.target(task, "kubernetes.pod_spec_patch"))
        elif key not in ("containers", "volumes"):
            ledger.unsupported(where, f"the pod's {key}: orch has no field for it")


def _base_container(reading, task: dict, containers: list, step: dict, settings: dict, at: tuple) -> list:
    """The `base` container (the task's own) into the step; its mounts as (container, index, mount)."""
    ledger, mounts = reading.ledger, []
    for i, container in enumerate(containers):
        where = (*at, i)
        if container.get("name") != "base":
            ledger.unsupported(where, "a second container (a sidecar): an orch step is one container")
            continue
        for key, value in container.items():
            if key == "name":
                ledger.mapped((*where, key), note="Airflow's name of the task's container")
            elif key == "image":
                put_image(reading, task, step, value, (*where, key))
            elif key == "resources":
                problem = put_resources(value, step, settings)
                if problem:
                    ledger.unsupported((*where, key), problem)
                else:
                    ledger.mapped((*where, key), reading.target(task, "resources"))
            elif key == "volume_mounts":
                mounts = [(i, j, mount) for j, mount in enumerate(value)]
            else:
                ledger.unsupported((*where, key), f"the container's {key}: orch has no field for it")
    return mounts


def _override_volumes(reading, task: dict, declared: list, mounts: list, settings: dict, at: tuple) -> None:
    ledger = reading.ledger
    kept, used, refused = put_volumes(declared, [mount for _, _, mount in mounts])
    for n, (i, j, _) in enumerate(mounts):
        where = (*at, "containers", i, "volume_mounts", j)
        if n in refused:
            ledger.unsupported(where, refused[n])
        else:
            ledger.mapped(where, reading.target(task, "kubernetes.volumes"))
    for index in range(len(declared)):
        if index in used:
            ledger.mapped((*at, "volumes", index), reading.target(task, "kubernetes.volumes"))
        else:
            ledger.unsupported((*at, "volumes", index), "a volume orch cannot mount (or none mounts)")
    if kept:
        settings["volumes"] = kept
