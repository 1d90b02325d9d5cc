"""The pipeline spec (`apiVersion: orch/v1`) as pydantic models: field-level rules only.

Rules that span fields or steps (references, edges, cycles, name collisions) live in
`validate.py`, so one broken step never hides the problems of the others.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .typed import value_fits
from .units import format_duration, parse_duration, parse_quantity

API_VERSION = "orch/v1"
ValueType = Literal["string", "integer", "number", "boolean", "json"]
Trigger = Literal["all_succeeded", "none_failed", "all_done", "any_failed"]

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({
        "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"}],
        "description": "seconds, or text such as '30s', '10m', '1h30m'",
    }),
]
Quantity = Annotated[
    str,
    BeforeValidator(parse_quantity),
    WithJsonSchema({"type": ["string", "number"], "description": "a Kubernetes quantity: '500m', '2', '16Gi'"}),
]


def _scalar_text(value: Any) -> Any:
    """Numbers and booleans given where text is expected, as YAML users write them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_scalar_text)]


class Model(BaseModel):
    """Strict about unknown fields, so a typo is an error with a suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Param(Model):
    type: ValueType = "string"
    default: Any = None
    description: Optional[str] = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`bucket: my-data` (or a default without a type) means a param of the default's type."""
        if not isinstance(value, dict):
            return {"type": type_of_value(value), "default": value}
        if "type" not in value and value.get("default") is not None:
            return {**value, "type": type_of_value(value["default"])}
        return value

    @model_validator(mode="after")
    def _default_fits_type(self) -> "Param":
        if self.default is not None and not value_fits(self.default, self.type):
            raise ValueError(f"default {self.default!r} is not of type {self.type}")
        return self


class Retries(Model):
    """A failed attempt is retried up to `limit` times; retry k waits min(delay*factor**(k-1), max_delay)."""

    limit: int = Field(ge=0)
    delay: Duration = 0.0
    factor: float = Field(default=1.0, ge=1.0)
    max_delay: Optional[Duration] = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"limit": value} if isinstance(value, int) and not isinstance(value, bool) else value

    def delay_before(self, retry: int) -> float:
        """Seconds between the failure and retry `retry` (1-based)."""
        delay = self.delay * self.factor ** (retry - 1)
        return min(delay, self.max_delay) if self.max_delay is not None else delay

    def delays(self) -> list[float]:
        """Every retry's delay, in order: what a backend that takes a list of delays renders."""
        return [float(self.delay_before(k)) for k in range(1, self.limit + 1)]


class Resources(Model):
    cpu: Optional[Quantity] = None
    memory: Optional[Quantity] = None
    gpu: Optional[int] = Field(default=None, ge=0)

    @field_validator("memory")
    @classmethod
    def _memory_unit(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value.endswith("m"):
            raise ValueError(f"{value!r} is milli-bytes; write {value[:-1]}Mi or {value[:-1]}M")
        return value


class Toleration(Model):
    key: Optional[str] = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: Optional[str] = None
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = None
    toleration_seconds: Optional[int] = None


class Kubernetes(Model):
    """Pod settings for the backends that run steps as pods (Argo, Airflow's KubernetesPodOperator)."""

    node_selector: dict[str, Text] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    service_account: Optional[str] = None
    image_pull_policy: Optional[Literal["Always", "IfNotPresent", "Never"]] = None


class StepDefaults(Model):
    """Settings applied to every step that does not set them itself."""

    image: Optional[str] = None
    env: dict[str, Text] = Field(default_factory=dict)
    resources: Optional[Resources] = None
    retries: Optional[Retries] = None
    timeout: Optional[Duration] = None
    trigger: Optional[Trigger] = None
    kubernetes: Optional[Kubernetes] = None


class Step(StepDefaults):
    python: Optional[str] = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                                  description="module:function to call")
    command: Optional[list[Text]] = Field(default=None, min_length=1, description="argv to run")
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of a python step")
    outputs: dict[str, ValueType] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)
    when: Optional[Text] = None  # `when: true` in YAML is the condition true
    foreach: Optional[Any] = Field(default=None, json_schema_extra={"anyOf": [{"type": "array"}, {"type": "string"}]})
    parallelism: Optional[int] = Field(default=None, ge=1)

    @field_validator("after", mode="before")
    @classmethod
    def _after_shorthand(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("foreach")
    @classmethod
    def _foreach_shape(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, (list, str)):
            raise ValueError("foreach takes a list, or a reference such as '${{ params.grid }}'")
        return value


class Schedule(Model):
    cron: str
    timezone: str = "UTC"
    catchup: bool = False
    concurrency: int = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"cron": value} if isinstance(value, str) else value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from .cron import cron_problem  # croniter is only needed for scheduled specs

        if problem := cron_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        from .cron import timezone_problem

        if problem := timezone_problem(value):
            raise ValueError(problem)
        return value


_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


class Pipeline(Model):
    api_version: Literal["orch/v1"] = Field(default=API_VERSION, alias="apiVersion")
    name: str
    description: Optional[str] = None
    params: dict[str, Param] = Field(default_factory=dict)
    schedule: Optional[Schedule] = None
    defaults: StepDefaults = Field(default_factory=StepDefaults)
    steps: dict[str, Step]
    fail_fast: bool = False
    timeout: Optional[Duration] = None
    labels: dict[str, Text] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _kubernetes_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if not _LABEL_KEY.match(key):
                raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
            if not _LABEL_VALUE.match(value):
                raise ValueError(f"label {key}={value!r}: values are at most 63 of A-Z a-z 0-9 - _ . and start and end alphanumeric")
        return labels

    @model_validator(mode="after")
    def _merge_defaults(self) -> "Pipeline":
        merged = {name: with_defaults(step, self.defaults) for name, step in self.steps.items()}
        object.__setattr__(self, "steps", merged)  # frozen model: set once, while validating
        return self


_MERGED_MAPPINGS = ("env", "resources", "kubernetes")


def with_defaults(step: Step, defaults: StepDefaults) -> Step:
    """`step` with every default it does not set; mappings merge key by key, step winning.

    Idempotent, so a pipeline may pass through it more than once.
    """
    update = {}
    for field in defaults.model_fields_set:
        default = getattr(defaults, field)
        if field not in step.model_fields_set:
            update[field] = default
        elif field in _MERGED_MAPPINGS and default is not None and getattr(step, field) is not None:
            update[field] = _merge(default, getattr(step, field))
    return step.model_copy(update=update) if update else step


def _merge(default: Any, own: Any) -> Any:
    if isinstance(own, dict):
        return {**default, **own}
    base = {f: getattr(default, f) for f in default.model_fields_set}
    return type(own).model_validate({**base, **{f: getattr(own, f) for f in own.model_fields_set}})


def type_of_value(value: Any) -> str:
    """The param type a literal default implies."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "json"
