"""Shared helpers: write a spec to disk, run the real `orch` entry point in-process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orch.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture
def spec_file(tmp_path):
    """Write dedented YAML to a file and return its path."""

    def write(text: str, name: str = "pipeline.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def orch(capsysbinary):
    """Run `orch ARGS...` as the console script does; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        captured = capsysbinary.readouterr()
        return exit_info.value.code, captured.out.decode(errors="replace"), captured.err.decode(errors="replace")

    return run
