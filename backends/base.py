"""What every backend declares about itself, importable without its engine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Artifact:
    """A rendered file: its path relative to the output folder, and its text."""

    path: str
    text: str


@dataclass(frozen=True)
class Backend:
    """A backend's face. `engine` is the distribution it drives (None: nothing beyond orch)."""

    name: str
    description: str
    engine: str | None = None
    extra: str | None = None  # the orch extra that installs the engine
    abilities: tuple[str, ...] = field(default=())  # of 'render', 'run', 'deploy', 'import'
    module: str | None = None  # where `run` and `render` live, imported only when used
    renders_without_engine: bool = False  # its render writes text only: no engine needed to render

    def engine_version(self) -> str | None:
        """The installed engine's version, or None when it is not installed."""
        return _version(self.engine or "orch")

    def load(self, to_render: bool = False):
        """The implementation module; BackendUnavailable if its engine is not installed (and needed)."""
        from orch.core.errors import BackendUnavailable

        if self.module is None:
            raise BackendUnavailable(f"the {self.name} backend cannot run pipelines yet")
        if self.engine_version() is None and not (to_render and self.renders_without_engine):
            raise BackendUnavailable(f"the {self.name} backend needs {self.engine}: {self.install_hint()}")
        import importlib

        return importlib.import_module(self.module)

    def install_hint(self) -> str:
        return f"pip install 'orch[{self.extra}]'" if self.extra else "pip install orch"


def _version(distribution: str) -> str | None:
    from importlib import metadata  # (40 ms: not for what imports a backend's package only, like the local starter)

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
