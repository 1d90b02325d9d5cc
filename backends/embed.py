"""The helper code that rendered Python artifacts carry: orch's own source, copied in.

A rendered flow module or DAG file must need nothing of orch, so the few helpers it runs
(typed values, the child-process step runner, the engine's runtime) are pasted in as
source, in dependency order, with the `from orch...  # embedded: X` lines removed.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from orch.core import typed

from . import steprun

MARK = "# embedded:"


@lru_cache(maxsize=None)
def embedded_source(runtime: Path, banner: str) -> str:
    """typed.py (docstrings dropped: it is long and generic), steprun.py, then `runtime`, under `banner`."""
    helpers = ast.unparse(without_docstrings(ast.parse(Path(typed.__file__).read_text(encoding="utf-8"))))
    helpers = "\n".join(line for line in helpers.splitlines() if not line.startswith("from __future__"))
    parts = [helpers] + [_body(Path(path)) for path in (steprun.__file__, runtime)]
    return (banner + "\n\n" + "\n\n\n".join(part.strip() for part in parts) + "\n\n\n# ---- the pipeline ----\n")


def assemble(parts: list[str]) -> str:
    """A rendered Python file from its parts, two blank lines apart; checked by `ast.parse`, so a
    renderer bug never leaves a broken file behind."""
    source = "\n\n\n".join(part.rstrip("\n") for part in parts) + "\n"
    ast.parse(source)
    return source


@lru_cache(maxsize=None)
def module_globals(source: str) -> frozenset[str]:
    """Every name bound at the top level of `source` (functions, classes, assignments, imports)."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            names.update(e.id for t in node.targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return frozenset(names)


def _body(path: Path) -> str:
    """A file's code after its module docstring (which speaks to orch's developers), without embed lines."""
    text = path.read_text(encoding="utf-8")
    text = text[text.index('"""', 3) + 3:].lstrip("\n")
    return "\n".join(line for line in text.splitlines() if MARK not in line)


def without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return tree
