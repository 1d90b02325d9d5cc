"""Pipelines written in Python: `orch CMD path/to/pipeline.py[:NAME]` or `module:NAME`, read as a YAML spec is.

The file is imported as Python would import it: a file inside a package (its folder holds `__init__.py`) as that
package's module, with the folder above the outermost package first on sys.path, so `from . import steps` works;
any other file under its own name, its folder first, so sibling modules import. `module:NAME` is imported with the
working folder first. The pipeline is the module-level Pipeline, PipelineBuilder or PipelineGraph named NAME, else
the only one there is. Whatever the import raises is an error at the user's own line (exit 2), never a traceback;
the builder places validation errors at the lines of its calls.

`spec_text` writes the YAML a pipeline stands for (`orch export`); it reads back into an equal pipeline.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any

from .builder import PipelineBuilder, Site, shown
from .errors import Diagnostic, OrchError, SpecError, UsageError
from .graph import PipelineGraph
from .spec import API_VERSION, Pipeline

_FILE = re.compile(r"^(?P<file>.+\.py)(?::(?P<name>[A-Za-z_]\w*))?$")
_MODULE = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<name>[A-Za-z_]\w*)$")
_KINDS = (Pipeline, PipelineBuilder, PipelineGraph)
IMPORT_HINT = "orch imports the file to find its pipeline, and this line raised; run it with python for the traceback"


def is_python_spec(spec: Any) -> bool:
    """Whether `spec` names a Python file (`x.py`, `x.py:NAME`) or a module (`pkg.mod:NAME`), not a YAML file."""
    text = str(spec)
    return bool(_FILE.match(text) or (_MODULE.match(text) and not os.path.exists(text)))


def import_root(spec: Any) -> Path:
    """The folder first on sys.path while a Python spec is imported: the file's folder, or for a file inside a
    package the folder above the outermost package; the working folder for `module:NAME`."""
    match = _FILE.match(str(spec))
    return _module_of(Path(match["file"]).resolve())[0] if match else Path.cwd()


def load(spec: Any) -> PipelineGraph:
    """The validated graph of the pipeline a Python spec names; SpecError or UsageError (exit 2) otherwise."""
    text = str(spec)
    file = _FILE.match(text)
    match = file or _MODULE.match(text)
    if file is None:
        module_name = label = match["module"]
    else:
        label = file["file"]
        if not Path(label).is_file():
            raise UsageError(f"spec file not found: {label}" if not Path(label).exists() else f"{label} is not a file")
        module_name = _module_of(Path(label).resolve())[1]
        _make_room(module_name, import_root(text), label)
    module = _imported(module_name, import_root(text), label)
    return _graph(_chosen(module, match["name"], label), module)


def _module_of(file: Path) -> tuple[Path, str]:
    """The folder to import `file` from, and its module name there (a file in a package: the package's module)."""
    parts = [] if file.stem == "__init__" else [file.stem]
    folder = file.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def _imported(module_name: str, root: Path, label: str):
    """The module, imported with `root` first on sys.path; what the user's code there raises, located at its line.

    The project's modules are imported afresh and forgotten afterwards, so two specs with sibling modules of the
    same name (`steps.py`) each get their own, and sys.path is as it was.
    """
    before = set(sys.modules)
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(module_name)
    except OrchError:
        raise  # the builder's SpecError is located already
    except ModuleNotFoundError as err:
        if not _user_frames(err, root) and f"{module_name}.".startswith(f"{err.name}."):
            raise UsageError(f"no module {module_name!r} on the import path (the working folder first)") from None
        raise SpecError([_raised(err, root, label)]) from None
    except (Exception, SystemExit) as err:  # noqa: BLE001 - the user's code: anything it raises is theirs to see
        raise SpecError([_raised(err, root, label)]) from None
    finally:
        if str(root) in sys.path:
            sys.path.remove(str(root))
        for name in set(sys.modules) - before:
            if _users(getattr(sys.modules[name], "__file__", None), root):
                del sys.modules[name]


def _make_room(module_name: str, root: Path, label: str) -> None:
    """A module of the spec's name (or of a package on its way) imported from elsewhere is not the spec's: drop it,
    unless it is the standard library's or an installed package's (then the file needs another name)."""
    parts = module_name.split(".")
    for name in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
        cached = sys.modules.get(name)
        file = getattr(cached, "__file__", None)
        if cached is None or (file and Path(file).resolve().is_relative_to(root)):
            continue
        if not _users(file, Path("/")):  # not someone's own module, wherever it lies
            raise UsageError(f"{label} would be imported as {name!r}, the name of a module Python has already loaded "
                             f"({file or 'built in'}): rename it")
        del sys.modules[name]


_ORCH = Path(__file__).resolve().parent.parent  # the folder holding core/, backends/, cli/ (an editable install's)
_NOT_USERS = tuple({Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}) + \
    tuple(_ORCH / part for part in ("core", "backends", "cli"))


def _users(file: str | None, root: Path) -> bool:
    """Whether `file` is the user's code under `root`: not orch's, the standard library's or an installed package's."""
    if not file or not os.path.isabs(file):  # "<frozen importlib._bootstrap>", "<string>"
        return False
    path = Path(file).resolve()
    return path.is_relative_to(root) and not any(path.is_relative_to(p) for p in _NOT_USERS)


def _user_frames(err: BaseException, root: Path) -> list:
    return [frame for frame in traceback.extract_tb(err.__traceback__) if _users(frame.filename, root)]


def _raised(err: BaseException, root: Path, label: str) -> Diagnostic:
    """What the import raised, at the user's deepest line it passed through (a SyntaxError: at its own place)."""
    message = f"{type(err).__name__}: {err}"
    if isinstance(err, SyntaxError) and err.lineno and _users(err.filename, root):
        text = (err.text or "").rstrip("\r\n") or None
        return Diagnostic("E120", f"SyntaxError: {err.msg}", (), shown(err.filename), err.lineno, err.offset or 1,
                          IMPORT_HINT, text)
    frames = _user_frames(err, root)
    if not frames:
        return Diagnostic("E120", message, (), label, hint=IMPORT_HINT)
    return Site(frames[-1].filename, frames[-1].lineno).diagnostic("E120", message, (), IMPORT_HINT)


def _chosen(module, name: str | None, label: str):
    """The pipeline object named `name`, else the only one in the module (a builder and what it built are one)."""
    found = _pipelines(module)
    names = ", ".join(found) or "none"
    if name is not None:
        value = getattr(module, name, None)
        if isinstance(value, _KINDS):
            return value
        problem = f"{label} has no {name!r}" if not hasattr(module, name) else \
            f"{label}:{name} is a {type(value).__name__}, not a pipeline"
        raise SpecError([Diagnostic("E121", problem, (), label, hint=f"the pipelines in it: {names}")])
    if len(found) == 1:
        return next(iter(found.values()))
    problem = f"{label} holds no pipeline" if not found else f"{label} holds {len(found)} pipelines: {names}"
    hint = f"name one: {label}:{next(iter(found))}" if found else \
        "define a module-level PipelineBuilder (orch.core.builder), or the Pipeline it builds"
    raise SpecError([Diagnostic("E121", problem, (), label, hint=hint)])


def _pipelines(module) -> dict[str, Any]:
    """Name -> object of each module-level pipeline, one name per pipeline (its first)."""
    found: dict[int, tuple[str, Any]] = {}
    for name, value in vars(module).items():
        if isinstance(value, _KINDS):
            found.setdefault(id(_pipeline_of(value)), (name, value))
    return dict(found.values())


def _pipeline_of(value) -> Any:
    """What identifies a pipeline object: its Pipeline, once there is one (a builder before it built: itself)."""
    if isinstance(value, PipelineBuilder):
        return value.built.pipeline if value.built is not None else value
    return value.pipeline if isinstance(value, PipelineGraph) else value


def _graph(value, module) -> PipelineGraph:
    """The validated graph of a pipeline object: a builder's own (its errors at its lines), else checked afresh."""
    if isinstance(value, PipelineGraph):
        return value
    if isinstance(value, PipelineBuilder):
        return value.graph()
    builders = [v for v in vars(module).values() if isinstance(v, PipelineBuilder) and v.built is not None]
    built = next((b.built for b in builders if b.built.pipeline is value), None)
    if built is not None:
        return built
    from .validate import check
    from .yaml_source import Source

    return check(value, Source(getattr(module, "__file__", None) or module.__name__, None))


# --- export: the YAML a pipeline stands for


def spec_data(pipeline: Pipeline) -> dict:
    """The spec as it would be written: the fields that were set, each default once (in `defaults`, not repeated in
    every step), durations as text. Read back, it is an equal Pipeline."""
    data = {"apiVersion": API_VERSION, **pipeline.model_dump(mode="json", by_alias=True, exclude_unset=True)}
    defaults = data.get("defaults", {})
    for section in ("steps", "finally"):
        for name, step in data.get(section, {}).items():
            _drop_defaults(step, defaults)
            data[section][name] = {**{key: step[key] for key in _FIRST if key in step}, **step}
    return data


_FIRST = ("python", "command", "args")  # what a step does, before how and where it runs


def _drop_defaults(step: dict, defaults: dict) -> None:
    """What the step holds only because `defaults` gave it (loading merges it back in)."""
    for key, default in defaults.items():
        own = step.get(key)
        if own == default:
            del step[key]
        elif key in ("env", "resources") and isinstance(own, dict) and isinstance(default, dict):
            step[key] = {k: v for k, v in own.items() if k not in default or default[k] != v}
            if not step[key]:
                del step[key]


def spec_text(pipeline: Pipeline, origin: str) -> str:
    """The YAML spec of `pipeline`, with a first line saying where it came from."""
    import yaml

    body = yaml.safe_dump(spec_data(pipeline), sort_keys=False, allow_unicode=True, width=120)
    return f"# written by orch export from {origin}\n{body}"
