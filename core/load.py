"""From a spec file to a validated pipeline graph, with every problem located.

Fast path: one pydantic validation of the whole document. Only when that fails are the
header and each step validated apart, so the valid parts still get their graph checks
and the user sees all problems in one run.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import Diagnostic, SpecError, UsageError
from .graph import PipelineGraph
from .limits import MAX_SPEC_BYTES, MAX_STEPS
from . import groups, templates
from .model_errors import diagnostics_from
from .spec import API_VERSION, Pipeline, Step, with_defaults
from .validate import check
from .yaml_source import Source, load_yaml


def load_spec(path: str | Path) -> PipelineGraph:
    """Read, parse and validate the spec at `path` (UTF-8, at most MAX_SPEC_BYTES); a Python file (`x.py[:NAME]`)
    or `module:NAME` is imported instead (pyspec.py)."""
    from . import pyspec

    if str(path) == "-":
        return _from_stdin()
    if pyspec.is_python_spec(path):
        return pyspec.load(path)
    path = Path(path)
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_SPEC_BYTES:
                raise SpecError([_too_big(str(path), size)])
            data = file.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"spec file not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory; give a spec file such as {path}/pipeline.yaml") from None
    except OSError as err:
        raise UsageError(f"cannot read spec {path}: {err.strerror or err}") from None
    if len(data) > MAX_SPEC_BYTES:  # it grew while we read it (a pipe, a growing file)
        raise SpecError([_too_big(str(path), len(data))])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError([_not_utf8(str(path), data, err.start)]) from None
    return parse_spec(text, str(path))


def _from_stdin() -> PipelineGraph:
    """A spec piped in (`orch import argo wf.yaml | orch render - -b airflow`), bounded as a file is."""
    import sys

    data = sys.stdin.buffer.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError([_too_big("<stdin>", len(data))])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError([_not_utf8("<stdin>", data, err.start)]) from None
    return parse_spec(text, "<stdin>")


def parse_spec(text: str, file: str | None = None) -> PipelineGraph:
    """Parse and validate spec text (YAML or JSON)."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([_too_big(file, len(text))])
    with gc_paused():
        data, source = load_yaml(text, file)
        return build(data, source)


def _too_big(file: str | None, size: int) -> Diagnostic:
    return Diagnostic("E115", f"the spec is {size / 2**20:.1f} MiB; the limit is {MAX_SPEC_BYTES // 2**20} MiB",
                      file=file, line=1, col=1, hint="split the pipeline, or pass large values as params or files")


def _not_utf8(file: str, data: bytes, start: int) -> Diagnostic:
    """Where the first byte that is not UTF-8 sits, as line:col (characters, like every other position)."""
    line_start = data.rfind(b"\n", 0, start) + 1
    line_end = data.find(b"\n", start)
    source_line = data[line_start:None if line_end == -1 else line_end].decode("utf-8", errors="replace").rstrip("\r")
    col = len(data[line_start:start].decode("utf-8"))
    return Diagnostic("E108", f"the spec is not UTF-8 text: byte 0x{data[start]:02x} cannot be decoded",
                      file=file, line=data.count(b"\n", 0, start) + 1, col=col + 1,
                      hint="save the file as UTF-8", source_line=source_line)


@contextmanager
def gc_paused():
    """Loading creates millions of young containers and frees none: collections would only rescan them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build(data: Any, source: Source) -> PipelineGraph:
    if not isinstance(data, dict):
        raise SpecError([source.diagnostic("E203", "a spec is a mapping of fields",
                                           hint="start with 'apiVersion: orch/v1' and 'name: my-pipeline'")])
    steps = data.get("steps")
    if isinstance(steps, dict) and len(steps) > MAX_STEPS:  # before validating any of them
        raise SpecError([source.diagnostic("E219", f"the pipeline has {len(steps):,} steps; the limit is {MAX_STEPS:,}",
                                           ("steps",), "split it into several pipelines", at_key=True)])
    data, source, prior = groups.flatten(data, source)
    data, source, problems, broken, origins = templates.expand(data, source)
    prior += problems + _header_problems(data, source)
    if not prior:
        try:
            return check(_remember_templates(Pipeline.model_validate(data), origins), source)
        except ValidationError:
            pass
    return _validate_in_parts(data, source, prior, broken, origins)


def _remember_templates(pipeline: Pipeline, origins: dict[str, str]) -> Pipeline:
    for name, template in origins.items():
        step = pipeline.all_steps.get(name)
        if step is not None:
            step._template = template
    return pipeline


def _header_problems(data: dict, source: Source) -> list[Diagnostic]:
    if "apiVersion" not in data:
        return [source.diagnostic("E204", "missing 'apiVersion'", (), f"add 'apiVersion: {API_VERSION}' as the first line")]
    return []


def _validate_in_parts(data: dict, source: Source, prior: list[Diagnostic], broken: set[str] = frozenset(),
                       origins: dict[str, str] | None = None) -> PipelineGraph:
    problems = list(prior)
    raw_steps = data.get("steps")
    header_data = {**data, "steps": {}} if isinstance(raw_steps, dict) else dict(data)
    header, broken_params, broken_top = _header(header_data, source, problems)
    if header is None:
        raise SpecError(problems)
    steps, broken_steps, broken_fields = {}, set(broken_top & {"steps"}) | set(broken), {}
    lost = set((data.get("groups") or {})) - set(header.groups)  # broken groups: their steps are not checked apart
    broken_steps |= lost
    for name, raw in (raw_steps.items() if isinstance(raw_steps, dict) else ()):
        if any(groups.inside(name, group) for group in lost):
            broken_steps.add(name)
            continue
        step, dropped = _step(name, raw if raw is not None else {}, source, problems)
        if step is None:
            broken_steps.add(name)
        else:
            steps[name] = with_defaults(step, header.defaults)
            broken_fields[name] = dropped
    pipeline = _remember_templates(header.model_copy(update={"steps": steps}), origins or {})
    return check(pipeline, source, broken_steps=broken_steps, broken_params=broken_params,
                 broken_fields=broken_fields, prior=problems)


def _header(data: dict, source: Source, problems: list[Diagnostic]):
    """The pipeline without its steps, salvaged around broken fields so checks can go on."""
    try:
        return Pipeline.model_validate(data), set(), set()
    except ValidationError as err:
        problems += diagnostics_from(err, source, Pipeline)
        locs = [e["loc"] for e in err.errors()]
    broken_top = {loc[0] for loc in locs if loc}
    broken_params = {loc[1] for loc in locs if len(loc) > 1 and loc[0] == "params"}
    salvage = dict(data)
    for key in broken_top:
        if key == "params" and isinstance(data.get("params"), dict):
            salvage["params"] = {k: v for k, v in data["params"].items() if k not in broken_params}
        elif key == "groups" and isinstance(data.get("groups"), dict):
            broken_groups = {loc[1] for loc in locs if len(loc) > 1 and loc[0] == "groups"}
            salvage["groups"] = {k: v for k, v in data["groups"].items() if k not in broken_groups}
        elif key == "name":
            salvage["name"] = "pipeline"
        elif key == "steps":
            salvage["steps"] = {}
        else:
            salvage.pop(key, None)
    try:
        return Pipeline.model_validate(salvage), broken_params, broken_top
    except ValidationError:
        return None, broken_params, broken_top


def _step(name: str, raw: Any, source: Source, problems: list[Diagnostic]) -> tuple[Step | None, set]:
    """The step, or the step without its broken fields so its other rules are still checked,
    and the fields dropped. None when nothing can be salvaged, or when its outputs are broken
    (references to them would only repeat the error).
    """
    try:
        return Step.model_validate(raw), set()
    except ValidationError as err:
        problems += diagnostics_from(err, source, Step, ("steps", name))
        broken = {e["loc"][0] for e in err.errors() if e["loc"]}
    if not isinstance(raw, dict) or "outputs" in broken:
        return None, broken
    try:
        return Step.model_validate({k: v for k, v in raw.items() if k not in broken}), broken
    except ValidationError:
        return None, broken
