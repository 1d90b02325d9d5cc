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

A python step without `outputs=` takes them from its function's return annotation (a TypedDict,
NamedTuple or dataclass: one output per field; another type: one output, `result`), and its `args`
must fit the function's signature. Every builder call records where it was made, so a problem in
the pipeline is reported at that line of the .py file, as a YAML spec's are at its text.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import linecache
import os
import sys
from typing import Annotated, Any, Callable, Union, get_args, get_origin, get_type_hints, is_typeddict

from .errors import Diagnostic, SpecError, did_you_mean
from .graph import PipelineGraph
from .spec import API_VERSION, Pipeline, type_of_value
from .yaml_source import Source

ARTIFACT = "orch:artifact"  # the mark Artifact carries in its Annotated metadata
# A return annotation (or a field's) for an artifact: the path of a file or folder the step wrote
Artifact = Annotated[Union[str, os.PathLike], ARTIFACT]


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
RUN_STATUS = Reference("run.status")  # in finally steps: succeeded or failed
RUN_FAILED_STEPS = Reference("run.failed_steps")  # in finally steps: the failed steps' names
RUN_ID = Reference("run.id")
RUN_DATE = Reference("run.date")


_NO_DEFAULT = object()


class Site:
    """Where a builder call was made: the file and line of its caller's frame."""

    def __init__(self, file: str, line: int):
        self.file, self.line = file, line

    def diagnostic(self, code: str, message: str, path: tuple = (), hint: str | None = None) -> Diagnostic:
        """A diagnostic on this line, the caret at its first character."""
        text = linecache.getline(self.file, self.line).rstrip("\r\n")
        col = len(text) - len(text.lstrip()) + 1
        return Diagnostic(code, message, tuple(path), shown(self.file), self.line, col, hint, text or None)


def caller() -> Site:
    """The site of the call into the builder: the frame of whoever called the function that calls this (cheap:
    no stack walk, no source read until an error needs the line)."""
    frame = sys._getframe(2)
    return Site(frame.f_code.co_filename, frame.f_lineno)


def shown(file: str) -> str:
    """A file as errors name it: relative to the working folder when it lies inside it."""
    relative = os.path.relpath(file) if os.path.isabs(file) else file
    return file if relative.startswith("..") else relative


class CallSites(Source):
    """The Source of a pipeline built in Python: a problem at `steps.NAME…` or `params.NAME…` is placed on the
    line of the builder call that declared that step or param; any other on the PipelineBuilder(...) line."""

    def __init__(self, site: Site):
        super().__init__("<python>", None)  # no text: validate checks what the YAML reader would have
        self.sites: dict[tuple, Site] = {(): site}

    def mark(self, path: tuple, site: Site) -> None:
        """`site` declared what lies at `path` (a step or a param)."""
        self.sites[path] = site

    def diagnostic(self, code, message, path=(), hint=None, *, at_key=False, offset=None) -> Diagnostic:
        """On the line of the innermost call that declared something on `path` (a step inside a group: its own)."""
        path = tuple(path)
        site = next((self.sites[path[:k]] for k in range(len(path), 0, -1) if path[:k] in self.sites), self.sites[()])
        return site.diagnostic(code, message, path, hint)


def from_stdout(type: str) -> dict:
    """An output of a command step read from its stdout: `outputs={"rows": from_stdout("integer")}`."""
    return {"type": type, "from": "stdout"}


class GroupHandle(StepHandle):
    """What `pipe.group(...)` returns: a `with` block whose steps are the group's, and a source of references to
    the outputs it declares with `output(name, reference)`."""

    def __init__(self, name: str, builder: "PipelineBuilder", fields: dict):
        super().__init__(name, None)
        self.builder, self.fields = builder, fields

    def output(self, name: str, reference: Reference) -> Reference:
        """Declare the group's output `name` as a step's output inside it; the reference to it, from outside."""
        self.fields.setdefault("outputs", {})[name] = str(reference)
        return getattr(self.outputs, name)

    def __enter__(self) -> "GroupHandle":
        self.builder.scopes.append((self.fields["steps"], self.builder.scopes[-1][1] + (self.name, "steps")))
        return self

    def __exit__(self, *exc) -> None:
        self.builder.scopes.pop()


class _Finally:
    """`with pipe.finally_steps():` -- the steps added inside it are the pipeline's finally steps."""

    def __init__(self, builder: "PipelineBuilder"):
        self.builder = builder

    def __enter__(self) -> None:
        if len(self.builder.scopes) > 1:
            raise TypeError("finally steps belong to the pipeline: open finally_steps() outside any group")
        self.builder.scopes.append((self.builder.final, ("finally",)))

    def __exit__(self, *exc) -> None:
        self.builder.scopes.pop()


class PipelineBuilder:
    def __init__(self, name: str, **fields: Any):
        self.fields = {"name": name, **fields}
        self.params: dict[str, dict] = {}
        self.steps: dict[str, dict] = {}
        self.final: dict[str, dict] = {}
        self.scopes: list[tuple[dict, tuple]] = [(self.steps, ("steps",))]  # where steps go now, and its path
        self.sites = CallSites(caller())
        self.built: PipelineGraph | None = None  # the last graph() (the loader counts a builder and it as one pipeline)

    def group(self, name: str, **fields: Any) -> GroupHandle:
        """A group of the steps added inside `with pipe.group(name, foreach=..., when=..., ...) as g:`; its outputs
        declared with `g.output(name, step.outputs.x)`."""
        site = caller()
        group = {**{key: _plain(value) for key, value in fields.items()}, "steps": {}}
        self._place(name, group, site)
        return GroupHandle(name, self, group)

    def finally_steps(self) -> _Finally:
        """`with pipe.finally_steps():` -- steps that run once every other step ended (RUN_STATUS, RUN_FAILED_STEPS)."""
        return _Finally(self)

    def param(self, name: str, type: str | None = None, default: Any = _NO_DEFAULT, description: str | None = None) -> Reference:
        """A param; without `default` it is required (`default=None` is a default of null, for json)."""
        given = default is not _NO_DEFAULT
        spec: dict[str, Any] = {"type": type or (type_of_value(default) if given and default is not None else "string")}
        if given:
            spec["default"] = default
        if description is not None:
            spec["description"] = description
        self.params[name] = spec
        self.sites.mark(("params", name), caller())
        return Reference(f"params.{name}")

    def step(self, function: Callable | None = None, *, name: str | None = None, **fields: Any):
        """Register a python step: as a decorator (`@pipe.step(...)`) or a call (`pipe.step(fn, ...)`).
        Without `outputs=`, its outputs come from the function's return annotation (outputs_of)."""
        site = caller()

        def register(fn: Callable) -> StepHandle:
            step = name or fn.__name__
            path = self.scopes[-1][1] + (step,)
            problems = [site.diagnostic("E123", message, path + ("args",), hint)
                        for message, hint in _args_problems(fn, fields.get("args", {}))]
            declared = dict(fields)
            if "outputs" not in fields:
                try:
                    outputs = outputs_of(fn)
                except _Unfit as unfit:
                    problems.append(site.diagnostic("E122", str(unfit), path + ("outputs",), UNFIT_HINT))
                else:
                    declared.update({"outputs": outputs} if outputs else {})
            if problems:
                raise SpecError(problems)
            return self._add(step, {"python": f"{fn.__module__}:{fn.__name__}", **declared}, fn, site)

        return register(function) if function is not None else register

    def command(self, name: str, command: list, **fields: Any) -> StepHandle:
        return self._add(name, {"command": command, **fields}, None, caller())

    def _add(self, name: str, fields: dict, function: Callable | None, site: Site) -> StepHandle:
        self._place(name, {key: _plain(value) for key, value in fields.items()}, site)
        return StepHandle(name, function)

    def _place(self, name: str, fields: dict, site: Site) -> None:
        """A step or group into the scope being built (the pipeline's, a group's, the finally steps)."""
        steps, path = self.scopes[-1]
        if name in steps:
            first = self.sites.sites.get(path + (name,))
            where = f" (first at line {first.line})" if first else ""
            raise SpecError([site.diagnostic("E124", f"step {name!r} is defined twice{where}", path + (name,),
                                             "give one of them another name: pipe.step(fn, name='other')")])
        steps[name] = fields
        self.sites.mark(path + (name,), site)

    def build(self) -> Pipeline:
        return self.graph().pipeline

    def graph(self) -> PipelineGraph:
        """The validated pipeline, or SpecError with every problem, as a YAML spec gets them, at the lines that
        declared them."""
        from .load import build

        data = {"apiVersion": API_VERSION, **{k: _plain(v) for k, v in self.fields.items()}, "params": self.params,
                "steps": self.steps, **({"finally": self.final} if self.final else {})}
        self.built = build(data, self.sites)
        return self.built


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


# --- typed functions: outputs from the return annotation, args against the signature


class _Unfit(Exception):
    """A return annotation, or a field of one, that no output type fits."""


UNFIT_HINT = ("annotate with str, int, float, bool, dict, list, Any, pathlib.Path or Artifact, or a TypedDict, "
              "NamedTuple or dataclass of them; or declare outputs={...} yourself")
_PLAIN = ((str, "string"), (bool, "boolean"), (int, "integer"), (float, "number"), (dict, "json"), (list, "json"),
          (Any, "json"))


def outputs_of(function: Callable) -> dict[str, str]:
    """Output name -> type from `function`'s return annotation: none for None or no annotation; a field each for a
    TypedDict, NamedTuple or dataclass; else the one output `result`. _Unfit names what does not fit."""
    label = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"
    try:
        returned = get_type_hints(function, include_extras=True).get("return")
    except Exception as err:  # noqa: BLE001 - any failure to evaluate an annotation is the user's to see
        raise _Unfit(f"the annotations of {label} cannot be read: {type(err).__name__}: {err}") from None
    if returned is None or returned is type(None):
        return {}
    fields = _fields(returned, label)
    if fields is None:
        return {"result": _output_type(returned, f"{label} returns {_shown_type(returned)}")}
    if len(fields) == 1:  # one output is returned bare (its value, not a record of it): the runner would misread it
        (name,) = fields
        raise _Unfit(f"{label} returns {_shown_type(returned)}, a record of one field; a step with one output returns "
                     f"the value itself: annotate its type (the output is then 'result'), or declare "
                     f"outputs={{{name!r}: ...}}")
    return {name: _output_type(kind, f"{label} returns {_shown_type(returned)}, whose field {name!r} is "
                                     f"{_shown_type(kind)}") for name, kind in fields.items()}


def _fields(kind: Any, label: str) -> dict[str, Any] | None:
    """The fields of a TypedDict, NamedTuple or dataclass, in order, with their annotations; None for another type."""
    named_tuple = isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields")
    if not (named_tuple or is_typeddict(kind) or (isinstance(kind, type) and dataclasses.is_dataclass(kind))):
        return None
    try:
        hints = get_type_hints(kind, include_extras=True)
    except Exception as err:  # noqa: BLE001 - as for the function's own annotations
        raise _Unfit(f"the fields of {_shown_type(kind)} (returned by {label}) cannot be read: "
                     f"{type(err).__name__}: {err}") from None
    if is_typeddict(kind):
        return hints
    names = kind._fields if named_tuple else [f.name for f in dataclasses.fields(kind)]
    return {name: hints.get(name, Any) for name in names}  # collections.namedtuple: no annotations, json


def _output_type(annotation: Any, what: str) -> str:
    """The output type an annotation stands for: str string, int integer, float number, bool boolean, dict, list (their
    generics too) and Any json, a path type or Artifact artifact."""
    if get_origin(annotation) is Annotated:
        base, *marks = get_args(annotation)
        return "artifact" if ARTIFACT in marks else _output_type(base, what)
    found = next((name for kind, name in _PLAIN if annotation is kind), None)
    origin = get_origin(annotation) or annotation
    if found is None and origin in (dict, list):
        found = "json"
    if found is None and isinstance(origin, type) and issubclass(origin, os.PathLike):
        found = "artifact"
    if found is None:
        tip = " (several outputs: return a NamedTuple or a TypedDict)" if origin is tuple else ""
        raise _Unfit(f"{what}, which is no output type{tip}")
    return found


def _shown_type(kind: Any) -> str:
    return kind.__qualname__ if isinstance(kind, type) else repr(kind).replace("typing.", "")


def _args_problems(function: Callable, args: Any) -> list[tuple[str, str | None]]:
    """(message, hint) for each `args` key the function has no parameter for (unless it takes **kwargs), and for
    each parameter without a default that `args` does not give."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin or an extension's function: nothing to compare with
        return []
    if not isinstance(args, dict):
        return []  # not a mapping: validation says so, at args
    by_keyword = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    label = getattr(function, "__qualname__", repr(function))
    problems = []
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        problems += [(f"{key!r} is not a parameter of {label}()",
                      did_you_mean(key, by_keyword) or f"its parameters: {', '.join(by_keyword) or 'none'}")
                     for key in args if key not in by_keyword]
    needed = [n for n, p in parameters.items()
              if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for name in needed:
        if parameters[name].kind is parameters[name].POSITIONAL_ONLY:
            problems.append((f"{label}() takes {name!r} by position only; a step passes its args by keyword",
                             f"give {name!r} a default, or make it a keyword parameter"))
        elif name not in args:
            problems.append((f"{label}() needs {name!r}, which args does not give",
                             f"args={{{name!r}: ...}}, or give the parameter a default"))
    return problems


__all__ = ["ITEM", "RUN_DATE", "RUN_FAILED_STEPS", "RUN_ID", "RUN_STATUS", "Artifact", "Condition", "GroupHandle",
           "PipelineBuilder", "Reference", "StepHandle", "from_stdout", "outputs_of"]
