"""The bootstrap's source as shipped in the rendered template: orch.core.typed, then bootstrap.py."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from orch.core import typed

from ..embed import without_docstrings
from . import bootstrap

MARK = "# embedded: typed"


@lru_cache(maxsize=1)
def bootstrap_source() -> str:
    """One standalone Python program, without docstrings and comments (every template carries it);
    it never holds '{{' or '}}', which Argo would read as tags."""
    helpers = Path(typed.__file__).read_text(encoding="utf-8")
    runner = "\n".join(line for line in Path(bootstrap.__file__).read_text(encoding="utf-8").splitlines()
                       if MARK not in line)
    source = "\n\n".join(_bare(text) for text in (helpers, runner)) + "\n"
    if "{{" in source or "}}" in source:  # pragma: no cover - guarded by a test
        raise AssertionError("the bootstrap must not contain Argo tag delimiters")
    return source


def _bare(source: str) -> str:
    """The code without docstrings or comments (ast round trip)."""
    return ast.unparse(without_docstrings(ast.parse(source)))
