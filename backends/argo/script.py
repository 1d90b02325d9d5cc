"""The bootstrap's source as shipped in the rendered template: orch.core.typed, orch.core.secrets (its Masker),
backends/pyenv.py, backends/codeunpack.py, podplace.py, then bootstrap.py (nearly all of each is reached: nothing is left out)."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from orch.core import secrets, typed

from .. import codeunpack, pyenv
from ..embed import without_docstrings
from . import bootstrap, podplace

MARK = "# embedded: "  # an import of orch's whose source the runner carries
PARTS = (typed, secrets, pyenv, codeunpack, podplace, bootstrap)


@lru_cache(maxsize=1)
def bootstrap_source() -> str:
    """One standalone Python program, without docstrings and comments (every template carries it);
    it never holds '{{' or '}}', which Argo would read as tags."""
    texts = ["\n".join(line for line in Path(m.__file__).read_text(encoding="utf-8").splitlines() if MARK not in line)
             for m in PARTS]
    source = "\n\n".join(_bare(text, first=i == 0) for i, text in enumerate(texts)) + "\n"
    if "{{" in source or "}}" in source:  # pragma: no cover - guarded by a test
        raise AssertionError("the bootstrap must not contain Argo tag delimiters")
    return source


def _bare(source: str, first: bool = True) -> str:
    """The code without docstrings or comments (ast round trip); past the first part, without its `from __future__`
    imports, which only the program's start may hold (the first part's apply to all)."""
    tree = without_docstrings(ast.parse(source))
    if not first:
        tree.body = [node for node in tree.body if not (isinstance(node, ast.ImportFrom) and node.module == "__future__")]
    return ast.unparse(tree)
