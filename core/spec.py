"""The pipeline spec (`apiVersion: orch/v1`) as pydantic models: field-level rules only.

Rules that span fields or steps (references, edges, cycles, name collisions) live in
`validate.py`, so one broken step never hides the problems of the others.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Optional, Union, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PrivateAttr,
    WithJsonSchema,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from .errors import Refusal
from .fields import Model, Text
from .limits import DEFAULT_CODE_BYTES, MAX_CODE_BYTES, MAX_DELAY_SECONDS, MAX_PACKAGES, MAX_REQUIREMENT_CHARS, MAX_RETRIES, int_fits
from .pod import _LABEL_KEY, _LABEL_VALUE, Kubernetes, Memory, Quantity, Toleration, kubernetes_syntax, syntax  # noqa: F401 - Toleration: part of the spec's face
from .refs import RefProblem, find_refs
from .typed import value_fits
from .units import format_duration, parse_bytes, parse_delay, parse_timeout

API_VERSION = "orch/v1"
ValueType = Literal["string", "integer", "number", "boolean", "json"]
ParamType = Literal["string", "integer", "number", "boolean", "json", "artifact"]  # artifact: a URI, fetched
OutputType = Literal["string", "integer", "number", "boolean", "json", "artifact"]  # artifact: a file or a folder
Trigger = Literal["all_succeeded", "none_failed", "all_done", "any_failed"]
RetryOn = Literal["any", "failure", "error"]  # which failed attempts are retried (docs/semantics.md#retries)

_DURATION_SCHEMA = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"}
# A timeout is more than 0 and at most 366 days; a delay at most 366 days (limits.py).
Timeout = Annotated[
    float,
    BeforeValidator(parse_timeout),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({
        "anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 366 * 86400}, _DURATION_SCHEMA],
        "description": "seconds, or text such as '30s', '10m', '1h30m'; more than 0, at most 366 days",
    }),
]
Delay = Annotated[
    float,
    BeforeValidator(parse_delay),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({
        "anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_DELAY_SECONDS}, _DURATION_SCHEMA],
        "description": "seconds, or text such as '30s', '10m', '1h30m'; at most 366 days",
    }),
]
class Param(Model):
    type: ParamType = "string"
    default: Any = None
    description: Optional[str] = None

    @property
    def required(self) -> bool:
        """Whether a run must be given this param: the spec sets no default.

        `default: null` is a default (null) only for a json param, the one type null belongs to;
        for the others it reads as no default, as it always has.
        """
        if "default" not in self.model_fields_set:
            return True
        return self.default is None and self.type != "json"

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
        default = self.default
        if isinstance(default, float) and not math.isfinite(default):
            raise Refusal("E109", f"default {default!r} is not a finite number")
        if isinstance(default, int) and not isinstance(default, bool) and not int_fits(default):
            raise Refusal("E110", "default is outside the signed 64-bit integer range")
        if default is not None and not value_fits(default, self.type):
            raise ValueError(f"default {_quote(default)} is not of type {self.type}")
        if self.type == "artifact" and default is not None:
            from .artifacts import PARAM_URI_HINT, param_uri_problem

            problem = param_uri_problem(default)
            if problem:
                raise Refusal("E229", problem, PARAM_URI_HINT)
        return self


class Retries(Model):
    """A failed attempt is retried up to `limit` times; retry k waits min(delay*factor**(k-1), max_delay).
    `on` says which are: `failure` (the step ran and failed), `error` (it could not run or was lost), or `any`."""

    limit: int = Field(ge=0)
    delay: Delay = 0.0
    factor: float = Field(default=1.0, ge=1.0, allow_inf_nan=False)
    max_delay: Optional[Delay] = None
    on: RetryOn = "any"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"limit": value} if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("limit")
    @classmethod
    def _bounded(cls, limit: int) -> int:
        if limit > MAX_RETRIES:
            raise Refusal("E215", f"retries.limit {limit} is more than {MAX_RETRIES}",
                          "a step that fails this often needs a fix, not more retries")
        return limit

    def retries(self, error: bool) -> bool:
        """Whether an attempt that failed (`error`: could not run or was lost) is one `on` retries."""
        return self.on == "any" or (self.on == "error") == error

    def delay_before(self, retry: int) -> float:
        """Seconds between the failure and retry `retry` (1-based); never more than max_delay, nor 366 days."""
        cap = self.max_delay if self.max_delay is not None else MAX_DELAY_SECONDS
        try:
            delay = self.delay * self.factor ** (retry - 1)
        except OverflowError:  # factor**(k-1) beyond any float: past the cap anyway
            return float(cap)
        return min(delay, cap)

    def delays(self) -> list[float]:
        """Every retry's delay, in order: what a backend that takes a list of delays renders."""
        return [float(self.delay_before(k)) for k in range(1, self.limit + 1)]


class Resources(Model):
    cpu: Optional[Quantity] = None
    memory: Optional[Memory] = None
    gpu: Optional[int] = Field(default=None, ge=0)


def image_syntax(image: str) -> str:
    """An image reference in Kubernetes' syntax, once each `${{ … }}` in it stands for a name part: a
    param's value fills it where the backend renders the pod (the references are checked by validate)."""
    if "${{" not in image:
        return kubernetes_syntax(_IMAGE, "image reference", image)
    try:
        refs = find_refs(image)
    except RefProblem:
        return image  # validate reports the malformed reference, located
    skeleton, end = [], 0
    for ref in refs:
        skeleton += [image[end:ref.start], "x"]
        end = ref.end
    return kubernetes_syntax(_IMAGE, "image reference", "".join(skeleton) + image[end:], image)


_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,4095}\Z")  # registry/name:tag@digest, no more
_SECRET_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"  # a DNS label: a Kubernetes Secret, a Prefect block, an Airflow id
_SECRET_KEY = r"^[-._a-zA-Z0-9]{1,253}$"  # a Kubernetes Secret's data key


class SecretRef(Model):
    """A secret a step's environment variable takes its value from: `{secret: hf-token, key: token}`."""

    secret: Annotated[str, syntax(re.compile(_SECRET_NAME), "secret name", "a DNS label: a-z, 0-9, '-', at most 63")] = \
        Field(description="the secret's name")
    key: Annotated[str, syntax(re.compile(_SECRET_KEY), "secret key", "A-Z a-z 0-9 - _ .")] = Field(description="one key of it")


_SECRET_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["secret", "key"], "properties": {
    "secret": {"type": "string", "pattern": _SECRET_NAME}, "key": {"type": "string", "pattern": _SECRET_KEY}}}


def _requirement(text: str) -> str:
    """A PEP 508 requirement (`scikit-learn==1.5.*`, `pkg @ https://…`), never a pip option."""
    from packaging.requirements import InvalidRequirement, Requirement

    if len(text) > MAX_REQUIREMENT_CHARS:
        raise Refusal("E233", f"a requirement of {len(text):,} characters; the limit is {MAX_REQUIREMENT_CHARS:,}")
    try:
        Requirement(text)
    except InvalidRequirement as err:
        hint = "pip options go in the environment (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL)" if text.lstrip().startswith("-") else \
            "write requirements as pip takes them: 'scikit-learn==1.5.*', 'torch>=2.3', 'pkg @ https://…/pkg.whl'"
        raise Refusal("E233", f"{text!r} is not a requirement: {str(err).splitlines()[0]}", hint) from None
    return text.strip()


Requirement = Annotated[str, AfterValidator(_requirement)]


def _split_secrets(data: Any) -> Any:
    """`env` values that name a secret are kept apart, in `secrets`, so `env` stays name -> text for every reader."""
    if isinstance(data, dict) and "secrets" in data:
        raise ValueError("write a secret in 'env': {NAME: {secret: NAME, key: KEY}}")
    if not isinstance(data, dict) or not isinstance(data.get("env"), dict):
        return data
    env = data["env"]
    refs = {k: v for k, v in env.items() if isinstance(v, (dict, SecretRef))}
    if not refs:
        return data
    return {**data, "env": {k: v for k, v in env.items() if k not in refs}, "secrets": refs}


class StepDefaults(Model):
    """Settings applied to every step that does not set them itself."""

    image: Optional[str] = Field(default=None, json_schema_extra={"minLength": 1})
    env: dict[str, Text] = Field(default_factory=dict, json_schema_extra={"additionalProperties": {
        "anyOf": [{"type": ["string", "number", "boolean"]}, _SECRET_SCHEMA]}})
    secrets: SkipJsonSchema[dict[str, SecretRef]] = Field(default_factory=dict, exclude=True)  # env taken from secrets
    packages: list[Requirement] = Field(default_factory=list, max_length=MAX_PACKAGES,
                                        description="requirements installed into the step's own virtualenv at start")
    resources: Optional[Resources] = None
    retries: Optional[Retries] = None
    timeout: Optional[Timeout] = None
    trigger: Optional[Trigger] = None
    kubernetes: Optional[Kubernetes] = None

    _split = model_validator(mode="before")(classmethod(lambda cls, data: _split_secrets(data)))

    @model_serializer(mode="wrap")
    def _secrets_in_env(self, handler):
        """Secrets written back into `env`, as the spec writes them, so a dump read back means the same."""
        data = handler(self)
        if self.secrets and isinstance(data, dict):
            data["env"] = {**data.get("env", {}), **{k: ref.model_dump() for k, ref in self.secrets.items()}}
        return data

    @field_validator("image")
    @classmethod
    def _image_named(cls, image: Optional[str]) -> Optional[str]:
        if image is not None and not image.strip():
            raise Refusal("E201", "an image name cannot be empty", "omit 'image' for the default one")
        return None if image is None else image_syntax(image)


class Output(Model):
    """An output in object form: its type, and where a command step's value comes from."""

    type: OutputType
    from_: Literal["file", "stdout"] = Field(default="file", alias="from",
                                             description="file: $ORCH_OUTPUTS/NAME; stdout: the command's whole stdout")


_TYPES = get_args(OutputType)


def _output_shorthand(value: Any) -> Any:
    """`rows: integer` is `rows: {type: integer}`; anything but a mapping or a type name is refused as a type."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value in _TYPES:
        return {"type": value}
    raise PydanticCustomError("literal_error", "Input should be {expected}",
                              {"expected": ", ".join(repr(t) for t in _TYPES)})


OutputDecl = Annotated[Output, BeforeValidator(_output_shorthand, json_schema_input_type=Union[OutputType, Output])]


class Step(StepDefaults):
    python: Optional[str] = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                                  description="module:function to call")
    command: Optional[list[Text]] = Field(default=None, min_length=1, description="argv to run")
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of a python step")
    outputs: dict[str, OutputDecl] = Field(default_factory=dict, description="name -> type, or {type, from: stdout}")
    after: list[str] = Field(default_factory=list)
    when: Optional[Text] = None  # `when: true` in YAML is the condition true
    foreach: Optional[Any] = Field(default=None, json_schema_extra={"anyOf": [{"type": "array"}, {"type": "string"}]})
    parallelism: Optional[int] = Field(default=None, ge=1)
    _stdout: tuple[str, ...] = PrivateAttr(default=())  # outputs declared `from: stdout`, in order (validate.py allows one)
    _template: Optional[str] = PrivateAttr(default=None)  # the template it was expanded from (templates.py)

    @model_validator(mode="after")
    def _output_types(self) -> "Step":
        """`outputs` stays name -> type for every reader; where a value comes from is kept aside."""
        declared = self.outputs
        if any(isinstance(o, Output) for o in declared.values()):
            object.__setattr__(self, "outputs", {n: o.type if isinstance(o, Output) else o for n, o in declared.items()})
            self._stdout = tuple(n for n, o in declared.items() if isinstance(o, Output) and o.from_ == "stdout")
        return self

    @property
    def stdout_output(self) -> Optional[str]:
        """The output read from the command's stdout, if one is."""
        return self._stdout[0] if self._stdout else None

    @field_serializer("outputs")
    def _outputs_as_written(self, outputs: dict) -> dict:
        """A stdout output in object form, so a dump read back (specdiff, the builder) means the same."""
        return {n: {"type": t, "from": "stdout"} if n in self._stdout else t for n, t in outputs.items()}

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


class Group(Model):
    """A group's own fields (its steps are flattened into the pipeline's: groups.py): it runs as one node."""

    outputs: dict[str, Text] = Field(default_factory=dict,
                                     description="name -> '${{ steps.S.outputs.O }}' of a step (or group) inside it")
    after: list[str] = Field(default_factory=list)
    when: Optional[Text] = None
    trigger: Optional[Trigger] = None
    foreach: Optional[Any] = Field(default=None, json_schema_extra={"anyOf": [{"type": "array"}, {"type": "string"}]})
    parallelism: Optional[int] = Field(default=None, ge=1, description="items of the fan-out running at once")
    fail_fast: Optional[bool] = Field(default=None, description="after a step or group directly inside fails, start "
                                      "none of the others (unset: the enclosing group's, else the pipeline's)")
    description: Optional[str] = None

    _after_shorthand = field_validator("after", mode="before")(classmethod(lambda cls, v: [v] if isinstance(v, str) else v))
    _foreach_shape = field_validator("foreach")(classmethod(lambda cls, v: Step._foreach_shape(v)))


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
        from .cron import cron_problem, never_fires  # croniter is only needed for scheduled specs

        if problem := cron_problem(value):
            raise ValueError(problem)
        if problem := never_fires(value):
            raise Refusal("E222", problem, "check the day of the month against the month (February has at most 29 days)")
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        from .cron import timezone_problem

        if problem := timezone_problem(value):
            raise ValueError(problem)
        return value


class Artifacts(Model):
    """Where artifact outputs are stored. `orch run --artifacts URL` and $ORCH_ARTIFACTS override `store`."""

    store: str = Field(description="s3://bucket/prefix, gs://…, az://…, file:///path or a folder; credentials come "
                                   "from the environment (AWS_*, an Airflow connection, Argo's artifact repository)")

    @field_validator("store")
    @classmethod
    def _store_url(cls, store: str) -> str:
        from .artifacts import store_problem

        problem = store_problem(store)
        if problem:
            raise Refusal("E228", *problem)
        return store


class Code(Model):
    """Whether the project is packed and shipped with each run, so a stock image (or a worker without the code) serves."""

    ship: bool = Field(default=False, description="pack the project that holds the spec and fetch it in every step")
    max_size: Annotated[int, BeforeValidator(parse_bytes)] = Field(
        default=DEFAULT_CODE_BYTES, gt=0, json_schema_extra={"type": ["integer", "string"]},
        description="the most the packed files may add up to: bytes, or '100MB', '1Gi'")
    exclude: list[str] = Field(default_factory=list, description="more paths not to ship (fnmatch patterns)")

    @field_validator("max_size")
    @classmethod
    def _bounded(cls, size: int) -> int:
        if size > MAX_CODE_BYTES:
            raise Refusal("E232", f"code.max_size {size:,} bytes is more than {MAX_CODE_BYTES // 10**9} GB",
                          "ship code in an image past that")
        return size


def json_schema() -> dict:
    """The spec's JSON Schema, for editors: the model's, and what the text may hold beyond it (the model sees it
    once read): a group in `steps` (a step with steps of its own), `templates`, `uses` + `with` (groups.py,
    templates.py)."""
    schema = Pipeline.model_json_schema(by_alias=True)
    defs = schema["$defs"]
    defs["Retries"] = {"anyOf": [defs["Retries"], {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES,
                                                   "description": "retries: N is retries: {limit: N}"}]}
    step = defs["Step"]
    step["properties"].update({"uses": {"type": "string", "description": "the template this step is"},
                               "with": {"type": "object", "description": "the template's inputs"}})
    node = {"anyOf": [{"$ref": "#/$defs/Step"}, {"$ref": "#/$defs/GroupOfSteps"}]}
    group = Group.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs.update(group.pop("$defs", {}))
    group["properties"]["steps"] = {"type": "object", "minProperties": 1, "additionalProperties": node,
                                    "description": "the group's steps (and groups)"}
    group["required"] = ["steps"]
    defs["GroupOfSteps"] = group
    schema["properties"]["steps"]["additionalProperties"] = node
    template = {**step, "properties": {k: v for k, v in step["properties"].items() if k not in ("uses", "with")}}
    template["properties"]["inputs"] = {"type": "object", "description": "name -> type, or {type, default, description}",
                                        "additionalProperties": {"anyOf": [
                                            {"enum": ["string", "integer", "number", "boolean", "json"]},
                                            {"type": "object", "additionalProperties": False, "properties": {
                                                "type": {"enum": ["string", "integer", "number", "boolean", "json"]},
                                                "default": {}, "description": {"type": "string"}}}]}}
    schema["properties"]["templates"] = {"type": "object", "additionalProperties": template,
                                         "description": "reusable steps: a step with `uses: NAME` and `with: {…}` is one"}
    return schema


class Pipeline(Model):
    api_version: Literal["orch/v1"] = Field(default=API_VERSION, alias="apiVersion")
    name: str
    description: Optional[str] = None
    params: dict[str, Param] = Field(default_factory=dict)
    schedule: Optional[Schedule] = None
    defaults: StepDefaults = Field(default_factory=StepDefaults)
    steps: dict[str, Step]
    finally_: dict[str, Step] = Field(default_factory=dict, alias="finally",
                                      description="steps run once every other step ended, whatever happened")
    groups: SkipJsonSchema[dict[str, Group]] = Field(default_factory=dict, exclude=True)  # qualified name -> group
    fail_fast: bool = False
    state_from: Literal["steps", "leaves"] = Field(
        default="steps", description="what fails the pipeline: any step or group that failed (`steps`), or only a "
                                     "leaf -- a top-level step or group nothing runs after -- that ended failed or "
                                     "upstream_failed (`leaves`: Airflow's DAG run and Argo's DAG judge so)")
    timeout: Optional[Timeout] = None
    labels: dict[str, Text] = Field(default_factory=dict)
    artifacts: Optional[Artifacts] = None
    code: Optional[Code] = None

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
        for field in ("steps", "finally_"):  # frozen model: set once, while validating
            object.__setattr__(self, field, {name: with_defaults(step, self.defaults) for name, step in getattr(self, field).items()})
        return self

    @field_serializer("steps", mode="wrap")
    def _steps_nested(self, steps: dict, handler, info) -> dict:
        """Groups' steps back inside their groups, so a dump reads back as the spec that was written."""
        dumped = handler(steps)
        if not self.groups:
            return dumped
        from .groups import nest

        options = dict(mode=info.mode, by_alias=info.by_alias, exclude_defaults=info.exclude_defaults,
                       exclude_unset=info.exclude_unset, exclude_none=info.exclude_none)
        return nest(dumped, {name: group.model_dump(**options) for name, group in self.groups.items()})

    @property
    def all_steps(self) -> dict[str, Step]:
        """The steps, then the finally steps: one namespace, what a run reports."""
        return {**self.steps, **self.finally_} if self.finally_ else self.steps


_MERGED_MAPPINGS = ("env", "secrets", "resources", "kubernetes")


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
    if ("env" in update or "secrets" in update) and defaults.secrets | step.secrets:
        own = step.model_fields_set  # a variable the step sets itself, as text or as a secret, wins over a default's
        env, secrets = update.get("env", step.env), update.get("secrets", step.secrets)
        update["env"] = {k: v for k, v in env.items() if not ("secrets" in own and k in step.secrets)}
        update["secrets"] = {k: v for k, v in secrets.items() if not ("env" in own and k in step.env and k not in step.secrets)}
    return step.model_copy(update=update) if update else step


def _merge(default: Any, own: Any) -> Any:
    """A mapping key by key; a model field by field, its mappings (labels, annotations, node_selector) key by key
    too -- but a pod_spec_patch, a patch, whole -- and its lists (volumes, tolerations) replaced."""
    if isinstance(own, dict):
        return {**default, **own}
    merged = {f: getattr(default, f) for f in default.model_fields_set}
    for f in own.model_fields_set:
        value = getattr(own, f)
        keep = merged.get(f)
        merged[f] = {**keep, **value} if isinstance(value, dict) and isinstance(keep, dict) and f not in _WHOLE else value
    return type(own).model_validate(merged)


_WHOLE = ("pod_spec_patch",)  # mappings a step's own replaces whole


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:38] + "…" + text[-38:]


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
