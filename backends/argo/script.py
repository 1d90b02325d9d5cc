"""The bootstrap's source as shipped in the rendered template: orch.core.typed, then bootstrap.py."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from orch.core import typed

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
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)
