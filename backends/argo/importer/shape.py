"""The shape of an Argo manifest, checked before it is read: each field the importer reads has the type Argo's
own schema gives it (a list of templates, a mapping per task, text for a name), so a malformed manifest is
refused located -- as `argo submit` would refuse it -- never read into a traceback."""

from __future__ import annotations

from orch.core.errors import Diagnostic

SCALAR = (str, int, float, bool)
TEXT = (str, int, float)  # what Go's YAML reads as a string from a plain scalar
ANY = object


def _map(children: dict | None = None):
    return (dict, children or {})


def _list(item):
    return (list, item)


NAMED = _map({"name": TEXT})
LABELS = _map({"*": (SCALAR, type(None))})
PARAMETER = _map({"name": TEXT, "value": ANY, "default": ANY, "description": TEXT, "enum": _list(ANY),
                  "valueFrom": _map({"path": TEXT, "default": ANY, "parameter": TEXT})})
ARTIFACT = _map({"name": TEXT, "path": TEXT, "from": TEXT, "raw": _map({"data": TEXT})})
IO = _map({"parameters": _list(PARAMETER), "artifacts": _list(ARTIFACT)})
ARGUMENTS = IO
CONTAINER = _map({"image": TEXT, "command": _list(SCALAR), "args": _list(SCALAR), "source": TEXT, "workingDir": TEXT,
                  "env": _list(_map({"name": TEXT, "valueFrom": _map({"secretKeyRef": _map({"name": TEXT, "key": TEXT})})})),
                  "resources": _map({"requests": LABELS, "limits": LABELS}),
                  "volumeMounts": _list(_map({"name": TEXT, "mountPath": TEXT, "subPath": TEXT}))})
TASK = _map({"name": TEXT, "template": TEXT, "templateRef": _map({"name": TEXT, "template": TEXT}),
             "inline": _map(), "arguments": ARGUMENTS, "withItems": _list(ANY), "withParam": TEXT,
             "withSequence": _map({"count": TEXT, "start": TEXT, "end": TEXT, "format": TEXT}), "when": SCALAR,
             "depends": TEXT, "dependencies": _list(TEXT), "continueOn": _map({"failed": bool, "error": bool})})
TEMPLATE = _map({"name": TEXT, "inputs": IO, "outputs": IO, "container": CONTAINER, "script": CONTAINER,
                 "containerSet": _map({"containers": _list(_map({**CONTAINER[1], "name": TEXT,
                                                                 "dependencies": _list(TEXT)})),
                                       "volumeMounts": _list(_map({"name": TEXT, "mountPath": TEXT,
                                                                   "subPath": TEXT}))}),
                 "dag": _map({"tasks": _list(TASK), "failFast": bool, "target": TEXT}),
                 "steps": _list(_list(TASK)), "suspend": _map({"duration": TEXT}),
                 "retryStrategy": _map({"limit": TEXT, "retryPolicy": TEXT, "expression": TEXT,
                                        "backoff": _map({"duration": TEXT, "factor": TEXT, "cap": TEXT,
                                                         "maxDuration": TEXT})}),
                 "activeDeadlineSeconds": TEXT, "timeout": TEXT, "parallelism": TEXT, "failFast": bool,
                 "nodeSelector": LABELS, "tolerations": _list(_map()), "serviceAccountName": TEXT,
                 "metadata": _map({"labels": LABELS, "annotations": LABELS}), "volumes": _list(NAMED),
                 "affinity": _map(), "securityContext": _map()})
SPEC = {"entrypoint": TEXT, "templates": _list(TEMPLATE), "arguments": ARGUMENTS, "onExit": TEXT,
        "volumes": _list(NAMED), "nodeSelector": LABELS, "tolerations": _list(_map()), "serviceAccountName": TEXT,
        "activeDeadlineSeconds": TEXT, "parallelism": TEXT, "templateDefaults": TEMPLATE,
        "podMetadata": _map({"labels": LABELS, "annotations": LABELS}), "imagePullSecrets": _list(NAMED),
        "affinity": _map(), "securityContext": _map()}
DOCUMENT = _map({"metadata": _map({"name": TEXT, "generateName": TEXT, "labels": LABELS, "annotations": LABELS}),
                 "spec": _map(SPEC)})
CRON = _map({"metadata": _map({"name": TEXT, "generateName": TEXT, "labels": LABELS, "annotations": LABELS}),
             "spec": _map({"schedule": TEXT, "schedules": _list(TEXT), "timezone": TEXT, "concurrencyPolicy": TEXT,
                           "startingDeadlineSeconds": TEXT, "suspend": bool, "workflowSpec": _map(SPEC)})})
NAMES = {dict: "a mapping", list: "a list", bool: "true or false"}


def problems(document) -> list[Diagnostic]:
    """Every field whose value is not of its Argo type, located."""
    found: list[tuple[tuple, str]] = []
    _check(document.data, CRON if document.data.get("kind") == "CronWorkflow" else DOCUMENT, (), found)
    diagnostics = []
    for path, expected in found[:20]:
        line, col = document.locate(path)
        where = ".".join(str(p) for p in path)
        diagnostics.append(Diagnostic("E941", f"{where} must be {expected} in an Argo manifest", file=document.file,
                                      line=line or 1, col=col or 1))
    return diagnostics


def _check(value, schema, path: tuple, found: list) -> None:
    if schema is ANY:
        return
    if isinstance(schema, tuple) and len(schema) == 2 and schema[0] in (dict, list):
        kind, inner = schema
        if not isinstance(value, kind):
            found.append((path, NAMES[kind]))
            return
        if kind is list:
            for i, item in enumerate(value):
                _check(item, inner, (*path, i), found)
        else:
            for key, item in value.items():
                child = inner.get(key, inner.get("*"))
                if not isinstance(key, str):
                    found.append(((*path, key), "text (a key)"))
                elif child is not None:
                    _check(item, child, (*path, key), found)
        return
    types = schema if isinstance(schema, tuple) else (schema,)
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool) and str not in types):
        found.append((path, NAMES.get(types[0], "text") if types[0] is not type(None) else "text"))
