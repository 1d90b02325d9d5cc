"""The helper code that rendered Python artifacts carry: orch's own source, copied in.

A rendered flow module or DAG file must need nothing of orch, so the helpers it runs (typed
values, the child-process step runner, the engine's runtime) are pasted in as source. Only
what the pipeline part reaches is kept -- top-level definitions, and methods of orch's own
plain classes, found by name from the pipeline part outwards -- without docstrings or
comments, and split in two: the few the pipeline part needs while the module is imported
(a decorator's arguments), which must come before it, and the rest, which can follow it.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from orch.core import artifacts, result, secrets, typed

from . import codeunpack, pyenv, stepplace, steprun, transfer, workspace

# every runtime.py builds on these, in this order (only what a rendered file reaches is kept)
CORE = tuple(Path(m.__file__) for m in (typed, artifacts, secrets, result, steprun, transfer, codeunpack, workspace, pyenv, stepplace))


@dataclass(frozen=True, eq=False)
class Unit:
    """A top-level statement of a helper file, or a member of one of orch's plain classes: its bare
    text and its names. A class's text is `pieces`: its own lines, and members that may be left out."""

    pieces: tuple["str | Unit", ...]
    binds: frozenset[str]
    uses: frozenset[str]  # every name it reads and attribute it mentions (a class: outside its members)
    early: frozenset[str]  # the names it reads when the module is imported
    is_import: bool = False

    @property
    def members(self) -> tuple["Unit", ...]:
        return tuple(p for p in self.pieces if isinstance(p, Unit))

    def text(self, kept=None) -> str:
        """The unit's text; a class with its members in `kept`, one blank line apart."""
        head, *rest = self.pieces
        rest = [p if isinstance(p, str) else p.text() for p in rest if isinstance(p, str) or kept is None or p in kept]
        return head + "\n" + _spaced(rest, "\n\n") if rest else head


def module(doc: str, runtime: Path, imports: str, head: str, tail: str, about: str) -> str:
    """A rendered file: its docstring and every import (the renderer's `imports` and the helpers'), the
    helpers `head` reads at import time, the pipeline part (`head`), the other helpers it or `tail`
    calls under a banner saying `about` them, then `tail` (the lines that must run last)."""
    units = _units(CORE + (runtime,))
    code = [ast.parse(head), ast.parse(tail)]
    used = set().union(*(_mentions(tree) for tree in code))  # names, and attributes as '.name'
    kept = _reached(units, used)
    early = _closure([u for u in units if u in kept and not u.is_import], set().union(*map(_early_names, code[0].body)))
    late = [u for u in units if u in kept and u not in early and not u.is_import]
    imports = _imports([u for u in _units_of(imports) + units if u.is_import], used)
    early_part = f"{EARLY}\n\n{_join([u for u in units if u in early], kept)}" if early else ""
    return assemble([f"{doc}\n\n{imports}", early_part, f"{PIPELINE}\n\n{head}", f"{LATE} {about}\n\n{_join(late, kept)}", tail])


EARLY = "# ---- written by orch: what the pipeline's decorators read ----"
PIPELINE = "# ---- the pipeline ----"
LATE = "# ---- written by orch: how a step runs, called by the pipeline above;"


def helper_names(runtime: Path) -> frozenset[str]:
    """Every top-level name the helpers of `runtime` may bind in a rendered file."""
    return frozenset().union(*(u.binds for u in _units(CORE + (runtime,))))


def assemble(parts: list[str]) -> str:
    """A rendered Python file from its parts, two blank lines apart; checked by `ast.parse`, so a
    renderer bug never leaves a broken file behind."""
    source = "\n\n\n".join(part.strip("\n") for part in parts if part.strip()) + "\n"
    ast.parse(source)
    return source


def without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _docstring(body[0]):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _reached(units: list[Unit], used: set[str]) -> set[Unit]:
    """The units `used` reaches, directly or through other units (`used` grows as they are kept)."""
    kept: set[Unit] = set()
    grew = True
    while grew:
        grew = False
        for top in units:
            for unit in (top, *top.members) if top in kept else (top,):
                binds = unit.binds if unit is top else {"." + name for name in unit.binds}  # a member: by attribute
                if unit not in kept and (binds & used or not binds):
                    kept.add(unit)
                    used |= unit.uses
                    grew = True
    return kept


def _closure(units: list[Unit], need: set[str]) -> set[Unit]:
    """The units binding a name in `need`, and those their import-time reads need in turn."""
    found: set[Unit] = set()
    grew = True
    while grew:
        grew = False
        for unit in units:
            if unit not in found and unit.binds & need:
                found.add(unit)
                need |= unit.early
                grew = True
    return found


def _join(units: list[Unit], kept: set[Unit]) -> str:
    return _spaced([unit.text(kept) for unit in units], "\n\n\n")


def _spaced(parts: list[str], gap: str) -> str:
    """One-line statements together, the others `gap` apart."""
    return "".join(("\n" if "\n" not in part + before else gap) + part for before, part in zip(["\n"] + parts, parts))[len(gap):] \
        if parts else ""


@lru_cache(maxsize=None)
def _units(paths: tuple[Path, ...]) -> list[Unit]:
    return [u for path in paths for u in _units_of(path.read_text(encoding="utf-8"))]


def _units_of(source: str) -> list[Unit]:
    """The file's statements, bare, except its module docstring, `from __future__` and orch's own imports."""
    tree = ast.parse(source)
    lines = _bare_lines(source, tree)
    return [_unit(node, lines) for node in tree.body if not _docstring(node) and not (
        isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("__future__", "orch"))]


def _unit(node: ast.stmt, lines: list[str | None]) -> Unit:
    """A statement as a unit; a class without bases (orch's own) with its members as units, but for its
    dunder methods, which Python calls by themselves."""
    def text(first: int, last: int) -> str:
        return "\n".join(line for line in lines[first - 1:last] if line is not None)

    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    early = frozenset(_early_names(node))
    if not (isinstance(node, ast.ClassDef) and not node.bases):
        return Unit((text(start, node.end_lineno).rstrip(),), frozenset(_binds(node)), frozenset(_mentions(node)), early,
                    isinstance(node, (ast.Import, ast.ImportFrom)))
    pieces, own, line = [], set(_mentions(ast.Module(node.decorator_list + node.bases, []))), start
    for member in [m for m in node.body if not _docstring(m)]:
        first = min([member.lineno] + [d.lineno for d in getattr(member, "decorator_list", [])])
        pieces.append(text(line, first - 1).strip("\n"))
        dunder = isinstance(member, ast.FunctionDef) and member.name.startswith("__")
        if dunder:
            own |= _mentions(member)
        pieces.append(text(first, member.end_lineno).strip("\n") if dunder else _unit(member, lines))
        line = member.end_lineno + 1
    pieces = [p for p in pieces if not isinstance(p, str) or p.strip()]
    return Unit(tuple(pieces), frozenset({node.name}), frozenset(own), early)


def _bare_lines(source: str, tree: ast.Module) -> list[str | None]:
    """The file's lines with comments cut and docstrings dropped (None), a body left empty holding `pass`."""
    lines: list[str | None] = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            code = lines[row - 1][:col].rstrip()
            lines[row - 1] = code or None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _docstring(body[0]) and not isinstance(node, ast.Module):
            doc = body[0]
            lines[doc.lineno - 1:doc.end_lineno] = [None] * (doc.end_lineno - doc.lineno + 1)
            if doc.end_lineno < len(lines) and lines[doc.end_lineno] is not None and not lines[doc.end_lineno].strip():
                lines[doc.end_lineno] = None  # the blank line after it
            if len(body) == 1:
                lines[doc.lineno - 1] = " " * doc.col_offset + "pass"
    return lines


def _docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _binds(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _mentions(node: ast.AST) -> set[str]:
    """The names it reads or binds, and its attributes as '.name'."""
    return {n.id if isinstance(n, ast.Name) else "." + n.attr for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Attribute))}


def _early_names(node: ast.stmt) -> set[str]:
    """The names a statement reads when it runs at import time: a def's decorators and defaults, a
    class's bases and its body's own reads, anything else in full."""
    if isinstance(node, ast.FunctionDef):
        parts = node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
        return {n.id for part in parts for n in ast.walk(part) if isinstance(n, ast.Name)}
    if isinstance(node, ast.ClassDef):
        parts = node.decorator_list + node.bases + [k.value for k in node.keywords]
        return {n.id for part in parts for n in ast.walk(part) if isinstance(n, ast.Name)} | \
            set().union(set(), *(_early_names(stmt) for stmt in node.body))
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _imports(units: list[Unit], used: set[str]) -> str:
    """The used names of these imports, merged and sorted: `from __future__` first, then the standard
    library, then the rest; plain imports before `from` ones in each group. A name the first of them binds keeps
    that meaning: a later one binding it to something else (core/result.py's `from datetime import datetime`
    beside a DAG file's `import datetime`) is left out."""
    plain, froms, bound = set(), {}, {}
    for unit in units:
        node = ast.parse(unit.text()).body[0]
        for alias in node.names:
            name = (alias.asname or alias.name).split(".")[0]
            meaning = alias.name.split(".")[0] if isinstance(node, ast.Import) and not alias.asname else (node.module, alias.name)
            if name not in used or bound.setdefault(name, meaning) != meaning:
                continue
            if isinstance(node, ast.Import):
                plain.add(alias.name + (f" as {alias.asname}" if alias.asname else ""))
            else:
                froms.setdefault(node.module, set()).add(alias.name + (f" as {alias.asname}" if alias.asname else ""))
    lines = [(name.split(".")[0], f"import {name}") for name in sorted(plain)]
    lines += [(module.split(".")[0], f"from {module} import {', '.join(sorted(names))}") for module, names in sorted(froms.items())]
    groups = [[line for top, line in lines if (top in sys.stdlib_module_names) == stdlib] for stdlib in (True, False)]
    return "\n\n".join(["from __future__ import annotations"] + ["\n".join(group) for group in groups if group])
