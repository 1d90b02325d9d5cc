"""orch's side of `code: {ship: true}`: pack the project the spec lives in, say what went in, upload it once.

The project is the spec's folder (a Python spec: its file's folder): what git would commit there, or
the folder less the usual ignores (codepack.py). The archive is content-addressed, so a render
names the same `<store>/code/<sha256>.tar.gz` a run uploads, and a run with unchanged code uploads
nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from orch.core.artifacts import ships_code
from orch.core.errors import Diagnostic, SpecError
from orch.core.graph import PipelineGraph


@dataclass(frozen=True)
class Shipped:
    """The packed code a rendered file or a run refers to: its sha256, and its URI once it is in a store."""

    sha256: str
    uri: Optional[str] = None
    archive: Optional[Path] = None  # the archive in this machine's cache


def project_root(spec_path: Optional[str]) -> Path:
    """The folder whose files are shipped and that steps import from: the spec's; a Python spec's where its import
    starts (pyspec.import_root: the folder above a package, the working folder for `module:NAME`); stdin: the
    working folder."""
    from orch.core.pyspec import import_root, is_python_spec

    if spec_path and is_python_spec(spec_path):
        return import_root(spec_path)
    if spec_path and spec_path != "-" and Path(spec_path).is_file():
        return Path(spec_path).resolve().parent
    return Path.cwd()


def _orchs_own(store: Optional[str]) -> tuple[Path, ...]:
    """Folders of orch's own that may lie inside a project and are never shipped: its state ($ORCH_HOME), a
    folder store (the cache is pack's to skip)."""
    own = [Path(os.environ.get("ORCH_HOME") or ".orch")]
    if store and store.startswith("file://"):
        own.append(Path(store[len("file://"):]))
    return tuple(own)


def ship(graph: PipelineGraph, spec_path: Optional[str], store: Optional[str] = None,
         say: Callable[[str], None] = print) -> Optional[Shipped]:
    """The pipeline's packed code (None unless it ships code), uploaded to `store` when one is given.
    A pack past `code.max_size` is refused, located at `code`, before anything is packed (exit 2)."""
    if not ships_code(graph.pipeline):
        return None
    from . import codepack

    code = graph.pipeline.code
    try:
        pack = codepack.pack(project_root(spec_path), tuple(code.exclude), code.max_size, skip=_orchs_own(store))
    except codepack.PackTooBig as err:
        raise SpecError([graph.locate(Diagnostic("E232", str(err), ("code",), hint=err.hint))]) from None
    for line in codepack.summary(pack):
        say(line)
    if store is None:
        return Shipped(pack.sha256, None, pack.archive)
    uri = codepack.code_uri(store, pack.sha256)
    uploaded = codepack.upload_once(pack, store)
    say(f"code: {'uploaded to' if uploaded else 'already in'} {uri}")
    return Shipped(pack.sha256, uri, pack.archive)
