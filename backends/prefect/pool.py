"""A Prefect Kubernetes work pool for the flow: `prefect.yaml` (the deployment and its job variables)
and a base job template for the pool, rendered beside the flow module when `defaults` holds pod settings.

A Prefect flow run is one Kubernetes job, one pod, for all its tasks: the pod settings are the
pipeline's `defaults` (a step's own cannot apply; the capability report says so). Prefect's default
Kubernetes job template (prefect-kubernetes' `_get_default_job_manifest_template`, >= 0.7.6) has
placeholders for the image, pull policy, service account, env, job labels and annotations and the
cpu/memory requests and limits, but none for volumes, mounts, node selector, tolerations, image pull
secrets, a GPU limit or the pod's own labels and annotations: the template here is that default with
a `{{ placeholder }}` for each of those -- a whole string value, which Prefect replaces by the job
variable's value, and removes when the deployment gives none -- and for each other field of a
`pod_spec_patch`. A placeholder fills a whole value and merges nothing, so the patch is merged here, at
render time, into the variables it meets (volumes and pull secrets by name, the node selector by key,
tolerations appended); its `containers` and `restartPolicy` are left out: the job's one container and
its policy are Prefect's own, which its worker checks.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

import yaml

from orch.core.pod import Kubernetes, Toleration, Volume
from orch.core.spec import Pipeline

from ..base import Artifact

POOL = "kubernetes"  # the work pool's name in prefect.yaml: the user's to change
TEMPLATE_FILE = "kubernetes-job-template.json"
FLOWS_FOLDER = "/opt/prefect/flows"  # where the image holds the flow module (Prefect's recipes' folder)
# PodSpec fields the template writes itself: a patch naming them is merged into their job variables or left out
OWN_FIELDS = {"nodeSelector": "node_selector", "tolerations": "tolerations", "volumes": "volumes",
              "imagePullSecrets": "image_pull_secrets", "serviceAccountName": "service_account_name",
              "serviceAccount": "service_account_name"}
UNPATCHABLE = ("containers", "restartPolicy")  # the job's own container and policy: Prefect's worker checks them


def has_pod_settings(pipeline: Pipeline) -> bool:
    """Whether `defaults` sets what a Kubernetes pod takes (its kubernetes settings, an image, resources)."""
    defaults = pipeline.defaults
    return bool(defaults.kubernetes or defaults.image or defaults.resources)


def artifacts(pipeline: Pipeline, module_file: str, flow_function: str, parameters: dict[str, Any]) -> list[Artifact]:
    """prefect.yaml and the pool's base job template."""
    variables = job_variables(pipeline)
    return [Artifact("prefect.yaml", deployment_yaml(pipeline, module_file, flow_function, parameters, variables)),
            Artifact(TEMPLATE_FILE, json.dumps(base_job_template(patch_fields(pipeline.defaults.kubernetes)), indent=2) + "\n")]


def job_variables(pipeline: Pipeline) -> dict[str, Any]:
    """The deployment's job variables: `defaults`' pod settings as the template's variables take them."""
    defaults = pipeline.defaults
    kubernetes = defaults.kubernetes or Kubernetes()
    values: dict[str, Any] = {}
    if defaults.image and "${{" not in defaults.image:
        values["image"] = defaults.image
    if kubernetes.image_pull_policy:
        values["image_pull_policy"] = kubernetes.image_pull_policy
    if kubernetes.service_account:
        values["service_account_name"] = kubernetes.service_account
    resources = defaults.resources
    for field, variable in (("cpu", "cpu_request"), ("memory", "memory_request")):
        if resources and getattr(resources, field):
            values[variable] = getattr(resources, field)
    for field, variable in (("cpu", "cpu_limit"), ("memory", "memory_limit")):
        if kubernetes.limits and getattr(kubernetes.limits, field):
            values[variable] = getattr(kubernetes.limits, field)
    if resources and resources.gpu:
        values["gpu_limit"] = str(resources.gpu)
    if kubernetes.node_selector:
        values["node_selector"] = dict(kubernetes.node_selector)
    if kubernetes.tolerations:
        values["tolerations"] = [toleration(t) for t in kubernetes.tolerations]
    if kubernetes.volumes:
        values["volumes"] = [volume(v) for v in kubernetes.volumes]
        values["volume_mounts"] = [volume_mount(v) for v in kubernetes.volumes]
    if kubernetes.image_pull_secrets:
        values["image_pull_secrets"] = [{"name": name} for name in kubernetes.image_pull_secrets]
    if kubernetes.labels:
        values["pod_labels"] = dict(kubernetes.labels)
    if kubernetes.annotations:
        values["pod_annotations"] = dict(kubernetes.annotations)
    return _patched(values, kubernetes.pod_spec_patch or {})


def _patched(values: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The patch's fields merged in as a strategic merge would: volumes and pull secrets by name, the node
    selector key by key, tolerations appended, the service account replaced; `containers` and `restartPolicy`
    left out; any other field as a variable of its own (`pod_spec_<field>`)."""
    for field, value in patch.items():
        if field in UNPATCHABLE:
            continue
        variable = OWN_FIELDS.get(field)
        if variable is None:
            values[patch_variable(field)] = value
        elif field == "nodeSelector":
            values[variable] = {**values.get(variable, {}), **value}
        elif variable == "service_account_name":
            values[variable] = value
        elif field == "tolerations":
            values[variable] = [*values.get(variable, []), *value]
        else:  # volumes, imagePullSecrets: by name, the patch's winning
            merged = {item.get("name"): item for item in values.get(variable, [])}
            merged.update({item.get("name"): item for item in value})
            values[variable] = list(merged.values())
    return values


def patch_fields(kubernetes: Optional[Kubernetes]) -> list[str]:
    """The PodSpec fields of the patch that get a placeholder of their own."""
    patch = (kubernetes.pod_spec_patch if kubernetes else None) or {}
    return [f for f in patch if f not in UNPATCHABLE and f not in OWN_FIELDS]


def patch_variable(field: str) -> str:
    """`priorityClassName` -> `pod_spec_priority_class_name`, `hostIPC` -> `pod_spec_host_ipc`."""
    return "pod_spec_" + re.sub(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))", r"_\1", field).lower()


def toleration(t: Toleration) -> dict[str, Any]:
    return {k: v for k, v in {"key": t.key, "operator": t.operator, "value": t.value, "effect": t.effect,
                              "tolerationSeconds": t.toleration_seconds}.items() if v is not None}


def volume(v: Volume) -> dict[str, Any]:
    """A Kubernetes Volume from orch's one source."""
    if v.empty_dir is not None:
        source = {"emptyDir": {k: val for k, val in {"medium": v.empty_dir.medium, "sizeLimit": v.empty_dir.size_limit}.items()
                               if val is not None}}
    elif v.pvc is not None:
        source = {"persistentVolumeClaim": {"claimName": v.pvc}}
    elif v.config_map is not None:
        source = {"configMap": {"name": v.config_map}}
    else:
        source = {"secret": {"secretName": v.secret}}
    return {"name": v.name, **source}


def volume_mount(v: Volume) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": v.name, "mountPath": v.mount_path}
    if v.read_only:
        mount["readOnly"] = True
    if v.sub_path:
        mount["subPath"] = v.sub_path
    return mount


def deployment_yaml(pipeline: Pipeline, module_file: str, flow_function: str, parameters: dict[str, Any],
                    variables: dict[str, Any]) -> str:
    """prefect.yaml: one deployment of the flow on the Kubernetes pool, its pod settings as job variables."""
    deployment: dict[str, Any] = {"name": pipeline.name, "entrypoint": f"{module_file}:{flow_function}",
                                  "parameters": parameters}
    if pipeline.description:
        deployment["description"] = " ".join(pipeline.description.split())
    if pipeline.schedule:
        deployment["schedules"] = [{"cron": pipeline.schedule.cron, "timezone": pipeline.schedule.timezone}]
        deployment["concurrency_limit"] = pipeline.schedule.concurrency
    deployment["work_pool"] = {"name": POOL, "work_queue_name": None, "job_variables": variables}
    document = {"name": pipeline.name, "prefect-version": None, "build": None, "push": None,
                "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": FLOWS_FOLDER}}],
                "deployments": [deployment]}
    head = (f"# {pipeline.name}: a Prefect deployment on a Kubernetes work pool, rendered by orch.\n"
            f"# One flow run is one pod: `defaults`' pod settings are its job variables.\n"
            f"#   prefect work-pool create {POOL} --type kubernetes --base-job-template {TEMPLATE_FILE}\n"
            f"#   prefect deploy --all\n"
            f"# The image needs prefect and holds {module_file} in {FLOWS_FOLDER} (or replace the pull step\n"
            f"# with git_clone / pull_from_remote_storage); steps' secrets are read from Prefect Secret blocks.\n")
    return head + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


# ---- the base job template: Prefect's default for Kubernetes, and what it lacks

def base_job_template(patch: list[str]) -> dict[str, Any]:
    """`{"job_configuration": ..., "variables": ...}` for `prefect work-pool create --base-job-template`."""
    return {"job_configuration": _job_configuration(patch), "variables": _variables(patch)}


def _job_configuration(patch: list[str]) -> dict[str, Any]:
    names = ("command", "env", "labels", "name", "annotations", "namespace")
    configuration: dict[str, Any] = {name: f"{{{{ {name} }}}}" for name in names}
    configuration["job_manifest"] = _job_manifest(patch)
    for name in ("cluster_config", "job_watch_timeout_seconds", "pod_watch_timeout_seconds", "stream_output"):
        configuration[name] = f"{{{{ {name} }}}}"
    return configuration


def _job_manifest(patch: list[str]) -> dict[str, Any]:
    """Prefect's default job manifest; the lines marked `orch` are what this template adds."""
    container = {
        "name": "prefect-job", "env": "{{ env }}", "image": "{{ image }}", "imagePullPolicy": "{{ image_pull_policy }}",
        "args": "{{ command }}",
        "resources": {"limits": {"cpu": "{{ cpu_limit }}", "memory": "{{ memory_limit }}",
                                 "nvidia.com/gpu": "{{ gpu_limit }}"},  # orch
                      "requests": {"cpu": "{{ cpu_request }}", "memory": "{{ memory_request }}"}},
        "volumeMounts": "{{ volume_mounts }}",  # orch
    }
    pod = {"parallelism": 1, "completions": 1, "restartPolicy": "Never", "serviceAccountName": "{{ service_account_name }}",
           "containers": [container],
           "volumes": "{{ volumes }}", "nodeSelector": "{{ node_selector }}", "tolerations": "{{ tolerations }}",  # orch
           "imagePullSecrets": "{{ image_pull_secrets }}"}  # orch
    pod.update({field: f"{{{{ {patch_variable(field)} }}}}" for field in patch})  # orch
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"annotations": "{{ annotations }}", "labels": "{{ labels }}", "namespace": "{{ namespace }}",
                     "generateName": "{{ name }}-"},
        "spec": {"backoffLimit": "{{ backoff_limit }}", "ttlSecondsAfterFinished": "{{ finished_job_ttl }}",
                 "template": {"metadata": {"labels": "{{ pod_labels }}", "annotations": "{{ pod_annotations }}"},  # orch
                              "spec": pod}},
    }


def _string(title: str, description: str, **more) -> dict[str, Any]:
    return {"title": title, "description": description, "type": "string", **more}


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in schema.items() if k != "type"}, "anyOf": [{"type": schema["type"]}, {"type": "null"}],
            "default": None}


_QUANTITY = "Uses Kubernetes resource quantity format (e.g. '500m', '2', '128Mi', '1Gi'). If not provided, none is configured."
_MAPPING = {"type": "object", "additionalProperties": {"type": "string"}}
_OBJECTS = {"type": "array", "items": {"type": "object"}}


def _variables(patch: list[str]) -> dict[str, Any]:
    """The variables' JSON schema: prefect-kubernetes' KubernetesWorkerVariables, then orch's additions."""
    properties: dict[str, Any] = {
        "name": _optional(_string("Name", "Name given to infrastructure created by a worker.")),
        "env": {"title": "Environment Variables", "description": "Environment variables to set when starting a flow run.",
                "type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "labels": {"title": "Labels", "description": "Labels applied to infrastructure created by a worker.", **_MAPPING},
        "command": _optional(_string("Command", "The command to use when starting a flow run. In most cases, this should be "
                                     "left blank and the command will be automatically generated by the worker.")),
        "annotations": {"title": "Annotations", "description": "Annotations applied to Kubernetes jobs and pods created by "
                        "the worker.", **_MAPPING},
        "namespace": _string("Namespace", "The Kubernetes namespace to create jobs within.", default="default"),
        "image": _optional(_string("Image", "The image reference of a container image to use for created jobs. If not set, "
                                   "the latest Prefect image will be used.", examples=["docker.io/prefecthq/prefect:3-latest"])),
        "service_account_name": _optional(_string("Service Account Name", "The Kubernetes service account to use for job "
                                                  "creation.")),
        "image_pull_policy": _string("Image Pull Policy", "The Kubernetes image pull policy to use for job containers.",
                                     default="IfNotPresent", enum=["IfNotPresent", "Always", "Never"]),
        "backoff_limit": {"title": "Backoff Limit", "description": "The number of times Kubernetes will retry a job after "
                          "pod eviction. If set to 0, Prefect will reschedule the flow run when the pod is evicted.",
                          "type": "integer", "minimum": 0, "default": 0},
        "finished_job_ttl": _optional({"title": "Finished Job TTL", "description": "The number of seconds to retain jobs "
                                       "after completion. If set, finished jobs will be cleaned up by Kubernetes after the "
                                       "given delay. If not set, jobs will be retained indefinitely.", "type": "integer"}),
        "job_watch_timeout_seconds": _optional({"title": "Job Watch Timeout Seconds", "description": "Number of seconds to "
                                                "wait for each event emitted by a job before timing out. If not set, the "
                                                "worker will wait for each event indefinitely.", "type": "integer"}),
        "pod_watch_timeout_seconds": {"title": "Pod Watch Timeout Seconds", "description": "Number of seconds to watch for "
                                      "pod creation before timing out.", "type": "integer", "default": 60},
        "stream_output": {"title": "Stream Output", "description": "If set, output will be streamed from the job to local "
                          "standard output.", "type": "boolean", "default": True},
        "cluster_config": {"title": "Cluster Config", "description": "The Kubernetes cluster config to use for job creation.",
                           "anyOf": [{"$ref": "#/definitions/KubernetesClusterConfig"}, {"type": "null"}], "default": None},
        "cpu_request": _optional(_string("CPU Request", "The CPU resource request for the Kubernetes job container. " + _QUANTITY)),
        "cpu_limit": _optional(_string("CPU Limit", "The CPU resource limit for the Kubernetes job container. " + _QUANTITY)),
        "memory_request": _optional(_string("Memory Request", "The memory resource request for the Kubernetes job container. "
                                            + _QUANTITY)),
        "memory_limit": _optional(_string("Memory Limit", "The memory resource limit for the Kubernetes job container. "
                                          + _QUANTITY)),
        **_pod_variables(patch),
    }
    return {"description": "Default variables for the Kubernetes worker, and the pod settings orch renders.",
            "type": "object", "properties": properties, "definitions": {"KubernetesClusterConfig": _CLUSTER_CONFIG}}


def _pod_variables(patch: list[str]) -> dict[str, Any]:
    """orch's variables: what Prefect's default template has no placeholder for, and the patch's fields."""
    properties: dict[str, Any] = {
        "gpu_limit": _string("GPU Limit", "nvidia.com/gpu: the GPUs the job container may use (orch: resources.gpu)."),
        "volumes": {"title": "Volumes", "description": "The pod's volumes, as Kubernetes writes them (orch: "
                    "kubernetes.volumes).", **_OBJECTS},
        "volume_mounts": {"title": "Volume Mounts", "description": "Where the job container mounts the volumes (orch: "
                          "kubernetes.volumes).", **_OBJECTS},
        "node_selector": {"title": "Node Selector", "description": "The pod's nodeSelector (orch: kubernetes.node_selector).",
                          **_MAPPING},
        "tolerations": {"title": "Tolerations", "description": "The pod's tolerations (orch: kubernetes.tolerations).",
                        **_OBJECTS},
        "image_pull_secrets": {"title": "Image Pull Secrets", "description": "The pod's imagePullSecrets, [{name: ...}] "
                               "(orch: kubernetes.image_pull_secrets).", **_OBJECTS},
        "pod_labels": {"title": "Pod Labels", "description": "Labels of the pod itself (orch: kubernetes.labels).", **_MAPPING},
        "pod_annotations": {"title": "Pod Annotations", "description": "Annotations of the pod itself (orch: "
                            "kubernetes.annotations).", **_MAPPING},
    }
    for field in patch:
        properties[patch_variable(field)] = {"title": f"Pod spec {field}", "description": f"The pod's {field} (orch: "
                                             "kubernetes.pod_spec_patch)."}
    return properties


_CLUSTER_CONFIG = {
    "title": "KubernetesClusterConfig", "description": "Stores configuration for interaction with Kubernetes clusters.",
    "type": "object", "properties": {
        "config": {"title": "Config", "description": "The entire contents of a kubectl config file.", "type": "object"},
        "context_name": {"title": "Context Name", "description": "The name of the kubectl context to use.", "type": "string"}},
    "required": ["config", "context_name"], "block_type_slug": "kubernetes-cluster-config", "secret_fields": [],
    "block_schema_references": {}}
