"""The Argo objects orch writes, as plain data: what hera's models dump, built without them.

Each function takes the fields of the hera model of the same name (snake_case) and returns the
mapping its `model_dump(by_alias=True, exclude_none=True)` gives -- camelCase keys, in hera's
field order, no None. Rendering 10,000 steps through pydantic models (and importing hera)
took seconds; `render.workflow_spec` still validates the result with hera's `WorkflowSpec`
for `run`, and tests/argo/test_fast_yaml.py checks the two agree key for key.
"""

from __future__ import annotations

API_VERSION = "argoproj.io/v1alpha1"


def _present(fields: dict) -> dict:
    return {key: value for key, value in fields.items() if value is not None}


def parameter(name, *, default=None, global_name=None, value=None, value_from=None) -> dict:
    return _present({"default": default, "globalName": global_name, "name": name, "value": value, "valueFrom": value_from})


def value_from(*, default=None, expression=None, parameter=None, path=None) -> dict:
    return _present({"default": default, "expression": expression, "parameter": parameter, "path": path})


def env_var(name, value) -> dict:
    return {"name": name, "value": value}


def secret_env_var(name, secret, key, *, optional=None) -> dict:
    """hera's EnvVar whose value the kubelet reads from a Kubernetes Secret's key (valueFrom.secretKeyRef)."""
    return {"name": name, "valueFrom": {"secretKeyRef": _present({"key": key, "name": secret, "optional": optional})}}


def container(image, *, args=None, command=None, env=None, image_pull_policy=None, resources=None, volume_mounts=None,
              working_dir=None) -> dict:
    return _present({"args": args, "command": command, "env": env, "image": image, "imagePullPolicy": image_pull_policy,
                     "resources": resources, "volumeMounts": volume_mounts, "workingDir": working_dir})


def volume_mount(name, mount_path, *, read_only=None, sub_path=None) -> dict:
    return _present({"mountPath": mount_path, "name": name, "readOnly": read_only, "subPath": sub_path})


def volume(name, *, config_map=None, empty_dir=None, persistent_volume_claim=None, secret=None) -> dict:
    """hera's Volume with one of the sources orch writes: configMap {name}, emptyDir {medium, sizeLimit},
    persistentVolumeClaim {claimName, readOnly}, secret {secretName}."""
    return _present({"configMap": config_map, "emptyDir": empty_dir, "name": name,
                     "persistentVolumeClaim": persistent_volume_claim, "secret": secret})


def resources(*, limits=None, requests=None) -> dict:
    return _present({"limits": limits, "requests": requests})


def retry_strategy(limit, *, backoff=None, retry_policy=None) -> dict:
    return _present({"backoff": backoff, "limit": limit, "retryPolicy": retry_policy})


def backoff(duration, *, cap=None, factor=None) -> dict:
    return _present({"cap": cap, "duration": duration, "factor": factor})


def toleration(*, effect=None, key=None, operator=None, toleration_seconds=None, value=None) -> dict:
    return _present({"effect": effect, "key": key, "operator": operator, "tolerationSeconds": toleration_seconds, "value": value})


def template(name, *, active_deadline_seconds=None, container=None, dag=None, inputs=None, metadata=None, node_selector=None,
             outputs=None, parallelism=None, pod_spec_patch=None, retry_strategy=None, service_account_name=None, suspend=None,
             tolerations=None, volumes=None) -> dict:
    return _present({"activeDeadlineSeconds": active_deadline_seconds, "container": container, "dag": dag, "inputs": inputs,
                     "metadata": metadata, "name": name, "nodeSelector": node_selector, "outputs": outputs,
                     "parallelism": parallelism, "podSpecPatch": pod_spec_patch, "retryStrategy": retry_strategy,
                     "serviceAccountName": service_account_name, "suspend": suspend, "tolerations": tolerations,
                     "volumes": volumes})


def dag(tasks, *, fail_fast=None) -> dict:
    return _present({"failFast": fail_fast, "tasks": tasks})


def dag_task(name, *, arguments=None, depends=None, template=None, template_ref=None, when=None, with_param=None) -> dict:
    """No `continueOn`: Argo refuses it in a DAG that uses `depends` (workflow/validate/validate.go, validateDAG), as
    orch's DAGs of steps do; one that must outlive its failed tasks ends in a leaf that accepts any end (render.py)."""
    return _present({"arguments": arguments, "depends": depends, "name": name, "template": template,
                     "templateRef": template_ref, "when": when, "withParam": with_param})


def parameters(items: list) -> dict:
    """hera's Arguments, Inputs or Outputs holding parameters only."""
    return {"parameters": items}


def io(parameters: list, artifacts: list) -> dict | None:
    """hera's Arguments, Inputs or Outputs: the lists that are not empty, None if both are."""
    return _present({"artifacts": artifacts or None, "parameters": parameters or None}) or None


def artifact(name, *, from_=None, global_name=None, optional=None, path=None, s3=None) -> dict:
    return _present({"from": from_, "globalName": global_name, "name": name, "optional": optional, "path": path, "s3": s3})


def workflow_spec(templates, *, active_deadline_seconds=None, arguments=None, entrypoint=None, image_pull_secrets=None,
                  on_exit=None, volumes=None, workflow_metadata=None) -> dict:
    return _present({"activeDeadlineSeconds": active_deadline_seconds, "arguments": arguments, "entrypoint": entrypoint,
                     "imagePullSecrets": image_pull_secrets, "onExit": on_exit, "templates": templates, "volumes": volumes,
                     "workflowMetadata": workflow_metadata})


def document(kind: str, metadata: dict, spec: dict) -> dict:
    """A Workflow, WorkflowTemplate or CronWorkflow."""
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def object_meta(*, annotations=None, generate_name=None, labels=None, name=None) -> dict:
    return _present({"annotations": annotations, "generateName": generate_name, "labels": labels, "name": name})
