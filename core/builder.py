"""Build a pipeline from Python: a small decorator API that yields the same model as YAML.

    pipe = PipelineBuilder("ml-training", schedule="0 2 * * *")
    bucket = pipe.param("bucket", default="my-data-bucket")

    @pipe.step(args={"bucket": bucket}, outputs={"data_path": "string"})
    def ingest(bucket): ...

    @pipe.step(args={"data_path": ingest.outputs.data_path}, when=ingest.outputs.data_path != "")
    def features(data_path): ...

    count = pipe.command("count", ["sh", "-c", "wc -l < data.csv"], outputs={"rows": from_stdout("integer")})

    pipeline = pipe.build()   # validated exactly as a YAML spec is

References print as `${{ … }}` in args, env and commands (f-strings too); compared with
`==`, `>`, … they become `when` conditions, combined with `&`, `|` and `~`.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .graph import PipelineGraph
from .spec import API_VERSION, Pipeline, type_of_value


class Condition:
    """Text of a `when` condition, composable with & (and), | (or) and ~ (not)."""

    def __init__(self, text: str):
        self.text = text

    def __and__(self, other: "Condition") -> "Condition":
        return Condition(f"({self.text}) and ({_condition_text(other)})")

    def __or__(self, other: "Condition") -> "Condition":
        return Condition(f"({self.text}) or ({_condition_text(other)})")

    def __invert__(self) -> "Condition":
        return Condition(f"not ({self.text})")

    def __str__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        raise TypeError("use &, | and ~ to combine conditions, not and/or/not")


class Reference:
    """A param, output or run value; its text is the `${{ … }}` reference."""

    def __init__(self, path: str):
        self.path = path

    def __str__(self) -> str:
        return "${{ " + self.path + " }}"

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731 - f-strings embed the reference

    def _compare(self, op: str, other: Any) -> Condition:
        return Condition(f"{self.path} {op} {_operand(other)}")

    def __eq__(self, other):  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other):  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other):
        return self._compare("<", other)

    def __le__(self, other):
        return self._compare("<=", other)

    def __gt__(self, other):
        return self._compare(">", other)

    def __ge__(self, other):
        return self._compare(">=", other)

    def is_in(self, values: Any) -> Condition:
        return Condition(f"{self.path} in {_operand(values)}")

    def is_true(self) -> Condition:
        """A boolean param or output used as the whole condition."""
        return Condition(self.path)

    __hash__ = object.__hash__


class _Outputs:
    def __init__(self, step: str):
        self._step = step

    def __getattr__(self, name: str) -> Reference:
        return Reference(f"steps.{self._step}.outputs.{name}")

    def __getitem__(self, name: str) -> Reference:  # names with hyphens
        return self.__getattr__(name)


class StepHandle:
    """What `@pipe.step` returns: still callable as the function, and a source of references."""

    def __init__(self, name: str, function: Callable | None):
        self.name = name
        self.function = function
        self.outputs = _Outputs(name)

    def __call__(self, *args, **kwargs):
        if self.function is None:
            raise TypeError(f"step {self.name!r} is a command step, not a function")
        return self.function(*args, **kwargs)


ITEM = Reference("item")
RUN_ID = Reference("run.id")
RUN_DATE = Reference("run.date")


_NO_DEFAULT = object()


def from_stdout(type: str) -> dict:
    """An output of a command step read from its stdout: `outputs={"rows": from_stdout("integer")}`."""
    return {"type": type, "from": "stdout"}


class PipelineBuilder:
    def __init__(self, name: str, **fields: Any):
        self.fields = {"name": name, **fields}
        self.params: dict[str, dict] = {}
        self.steps: dict[str, dict] = {}

    def param(self, name: str, type: str | None = None, default: Any = _NO_DEFAULT, description: str | None = None) -> Reference:
        """A param; without `default` it is required (`default=None` is a default of null, for json)."""
        given = default is not _NO_DEFAULT
        spec: dict[str, Any] = {"type": type or (type_of_value(default) if given and default is not None else "string")}
        if given:
            spec["default"] = default
        if description is not None:
            spec["description"] = description
        self.params[name] = spec
        return Reference(f"params.{name}")

    def step(self, function: Callable | None = None, *, name: str | None = None, **fields: Any):
        """Register a python step: as a decorator (`@pipe.step(...)`) or a call (`pipe.step(fn, ...)`)."""

        def register(fn: Callable) -> StepHandle:
            return self._add(name or fn.__name__, {"python": f"{fn.__module__}:{fn.__name__}", **fields}, fn)

        return register(function) if function is not None else register

    def command(self, name: str, command: list, **fields: Any) -> StepHandle:
        return self._add(name, {"command": command, **fields}, None)

    def _add(self, name: str, fields: dict, function: Callable | None) -> StepHandle:
        if name in self.steps:
            raise ValueError(f"step {name!r} is defined twice")
        self.steps[name] = {key: _plain(value) for key, value in fields.items()}
        return StepHandle(name, function)

    def build(self) -> Pipeline:
        return self.graph().pipeline

    def graph(self) -> PipelineGraph:
        """The validated pipeline, or SpecError with every problem, as a YAML spec gets them."""
        from .load import build
        from .yaml_source import Source

        data = {"apiVersion": API_VERSION, **{k: _plain(v) for k, v in self.fields.items()}, "params": self.params,
                "steps": self.steps}
        return build(data, Source("<python>", None))


def _plain(value: Any) -> Any:
    """Builder objects -> spec values: references to their text, conditions to theirs."""
    if isinstance(value, (Reference, Condition)):
        return value.text if isinstance(value, Condition) else str(value)
    if isinstance(value, StepHandle):
        return value.name
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _condition_text(value: Any) -> str:
    return value.text if isinstance(value, Condition) else value.path if isinstance(value, Reference) else str(value)


def _operand(value: Any) -> str:
    if isinstance(value, Reference):
        return value.path
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_operand(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value)  # numbers, true, false, null


__all__ = ["ITEM", "RUN_DATE", "RUN_ID", "Condition", "PipelineBuilder", "Reference", "StepHandle", "from_stdout"]
