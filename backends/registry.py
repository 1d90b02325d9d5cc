"""Backends found through the `orch.backends` entry-point group.

A third party adds a backend (Dagster, Kubeflow, ...) by shipping a package with one
entry point in that group; nothing in orch needs to change.
"""

from __future__ import annotations

from importlib import metadata

from orch.core.errors import UsageError, did_you_mean

from .base import Backend

GROUP = "orch.backends"


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=GROUP)}


def names() -> list[str]:
    return sorted(_entry_points())


def get(name: str) -> Backend:
    """The backend registered as `name`; UsageError naming the known ones otherwise."""
    points = _entry_points()
    if name not in points:
        hint = did_you_mean(name, points) or "known backends: " + ", ".join(sorted(points))
        raise UsageError(f"unknown backend {name!r}; {hint}")
    backend = points[name].load()
    if not isinstance(backend, Backend):
        raise UsageError(f"entry point {name!r} of {GROUP} does not name an orch Backend")
    return backend


def all_backends() -> list[Backend]:
    return [get(name) for name in names()]
