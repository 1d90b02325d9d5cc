"""Pod settings (`kubernetes:` on a step or in defaults) for the backends that run steps as pods.

Every name and value orch writes into a pod as it is must pass Kubernetes' own syntax
(apimachinery validation), checked here so a spec fails at `orch validate`, located, not at
`kubectl apply`. No brace, space or control character passes those syntaxes, so none of Argo's
`{{` or Jinja's `{%` can reach a pod through them; the free-text fields (annotation values, the
patch) are refused where they hold a tag opener, for there is no escape.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from .errors import Refusal
from .fields import Model, Text
from .limits import MAX_POD_SPEC_PATCH_BYTES, MAX_VOLUMES
from .units import parse_quantity

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_MOUNT_PATH = re.compile(r"^/[^\x00-\x1f:{}]{0,4095}\Z")  # absolute; no ':' (Kubernetes), no brace (templating)
_SUB_PATH = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[^\x00-\x1f{}]{1,4095}\Z")  # relative, never '..'
TEMPLATED = "Argo and Airflow would read a '{{' here as their own templating, and there is no escape"
TAG_OPENERS = ("{{", "{%", "{#")

Quantity = Annotated[
    str,
    BeforeValidator(parse_quantity),
    WithJsonSchema({"type": ["string", "number"], "description": "a Kubernetes quantity: '500m', '2', '16Gi'"}),
]



def _bytes_not_millibytes(value: str) -> str:
    if value.endswith("m"):
        raise ValueError(f"{value!r} is milli-bytes; write {value[:-1]}Mi or {value[:-1]}M")
    return value


Memory = Annotated[Quantity, AfterValidator(_bytes_not_millibytes)]  # a memory quantity: '512Mi', never '512m'

# Kubernetes' PodSpec (core/v1), the fields a pod_spec_patch may name
POD_SPEC_FIELDS = frozenset("""
activeDeadlineSeconds affinity automountServiceAccountToken containers dnsConfig dnsPolicy enableServiceLinks
ephemeralContainers hostAliases hostIPC hostNetwork hostPID hostUsers hostname hostnameOverride imagePullSecrets
initContainers nodeName nodeSelector os overhead preemptionPolicy priority priorityClassName readinessGates
resourceClaims resources restartPolicy runtimeClassName schedulerName schedulingGates securityContext serviceAccount
serviceAccountName setHostnameAsFQDN shareProcessNamespace subdomain terminationGracePeriodSeconds tolerations
topologySpreadConstraints volumes""".split())


def kubernetes_syntax(pattern: re.Pattern, what: str, value: str, written: str | None = None, rule: str = "") -> str:
    """`value` if it matches; else refused, quoting it as `written` (the text with its references)."""
    if not pattern.match(value):
        raise Refusal("E223", f"{_short(written or value)} is not a valid {what}{' (' + rule + ')' if rule else ''}",
                      f"Kubernetes takes {what}s of its own syntax here{'; ' + TEMPLATED if '{' in value else ''}")
    return written or value


def _short(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57]) + "..."


def syntax(pattern: re.Pattern, what: str, rule: str = ""):
    return AfterValidator(lambda value: kubernetes_syntax(pattern, what, value, rule=rule))


def untemplated(value: str) -> str:
    """Free text that reaches a pod as it is: refused where Argo or Jinja would read a tag in it."""
    if any(opener in value for opener in TAG_OPENERS):
        raise Refusal("E223", f"{_short(value)} holds a template tag opener", TEMPLATED)
    return value


LabelKey = Annotated[str, syntax(_LABEL_KEY, "label key")]
LabelValue = Annotated[Text, syntax(_LABEL_VALUE, "label value")]
ServiceAccount = Annotated[str, syntax(_DNS_SUBDOMAIN, "service account name")]
ObjectName = Annotated[str, syntax(_DNS_SUBDOMAIN, "Kubernetes object name")]
VolumeName = Annotated[str, syntax(_DNS_LABEL, "volume name", "a DNS label: a-z, 0-9, '-', at most 63")]
AnnotationValue = Annotated[Text, AfterValidator(untemplated)]


class Toleration(Model):
    key: Optional[LabelKey] = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: Optional[LabelValue] = None
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = None
    toleration_seconds: Optional[int] = None


class EmptyDir(Model):
    """A scratch folder living as long as the pod; `medium: Memory` is a tmpfs (`/dev/shm` for data loaders)."""

    medium: Optional[Literal["Memory"]] = None
    size_limit: Optional[Quantity] = None


class Volume(Model):
    """One volume and where the step's container mounts it: exactly one source."""

    name: VolumeName
    mount_path: Annotated[str, syntax(_MOUNT_PATH, "mount path", "absolute, without ':'")]
    read_only: bool = False
    sub_path: Optional[Annotated[str, syntax(_SUB_PATH, "sub path", "relative, without '..'")]] = None
    empty_dir: Optional[EmptyDir] = None
    pvc: Optional[ObjectName] = Field(default=None, description="a PersistentVolumeClaim's name")
    config_map: Optional[ObjectName] = None
    secret: Optional[ObjectName] = Field(default=None, description="a Kubernetes Secret's name, mounted as files")

    @field_validator("empty_dir", mode="before")
    @classmethod
    def _empty_dir_shorthand(cls, value: Any) -> Any:
        return {} if value is True else value

    @model_validator(mode="after")
    def _one_source(self) -> "Volume":
        sources = [f for f in SOURCES if getattr(self, f) is not None]
        if len(sources) != 1:
            raise Refusal("E234", f"volume {self.name!r} names {len(sources) or 'no'} source{'s' if len(sources) > 1 else ''}"
                          f"{': ' + ', '.join(sources) if sources else ''}",
                          "give exactly one of empty_dir, pvc, config_map, secret")
        return self

    @property
    def source(self) -> str:
        return next(f for f in SOURCES if getattr(self, f) is not None)


SOURCES = ("empty_dir", "pvc", "config_map", "secret")


class Limits(Model):
    """What the container may use at most (`resources` are what it asks for: requests)."""

    cpu: Optional[Quantity] = None
    memory: Optional[Memory] = None


def _patch_problem(patch: dict) -> str | None:
    unknown = sorted(set(patch) - POD_SPEC_FIELDS)
    if unknown:
        return f"{unknown[0]!r} is not a field of a Kubernetes PodSpec (write them as Kubernetes does: camelCase)"
    try:
        text = json.dumps(patch, allow_nan=False)
    except (TypeError, ValueError) as err:
        return f"the patch is not JSON data: {err}"
    if len(text.encode()) > MAX_POD_SPEC_PATCH_BYTES:
        return f"the patch is {len(text.encode()):,} bytes as JSON; the limit is {MAX_POD_SPEC_PATCH_BYTES:,}"
    if any(opener in text for opener in TAG_OPENERS):
        return "the patch holds a template tag opener; " + TEMPLATED
    return None


class Kubernetes(Model):
    """Pod settings for the backends that run steps as pods (Argo, Airflow's KubernetesPodOperator,
    a Prefect Kubernetes work pool's job). Local runs ignore them."""

    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    service_account: Optional[ServiceAccount] = None
    image_pull_policy: Optional[Literal["Always", "IfNotPresent", "Never"]] = None
    volumes: list[Volume] = Field(default_factory=list, max_length=MAX_VOLUMES)
    limits: Optional[Limits] = None
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, description="the pod's labels")
    annotations: dict[LabelKey, AnnotationValue] = Field(default_factory=dict, description="the pod's annotations")
    image_pull_secrets: list[ObjectName] = Field(default_factory=list)
    pod_spec_patch: Optional[dict[str, Any]] = Field(
        default=None, description="merged into the pod's spec (a strategic merge patch) where the backend can")

    @field_validator("volumes")
    @classmethod
    def _distinct_volumes(cls, volumes: list[Volume]) -> list[Volume]:
        for what in ("name", "mount_path"):
            seen = set()
            for volume in volumes:
                value = getattr(volume, what)
                if value in seen:
                    raise Refusal("E234", f"two volumes have the {what.replace('_', ' ')} {value!r}",
                                  "each volume needs its own name and mount path")
                seen.add(value)
        return volumes

    @field_validator("pod_spec_patch")
    @classmethod
    def _patch(cls, patch: Optional[dict]) -> Optional[dict]:
        if patch is not None:
            problem = _patch_problem(patch)
            if problem:
                raise Refusal("E235", problem, "see `kubectl explain pod.spec` for the fields")
        return patch
