"""Read YAML into plain data, and locate any field path in the text when an error needs it.

A valid spec goes through `yaml_fast` (no node tree). Otherwise, and whenever a
diagnostic needs a position, PyYAML's C parser composes the node tree, which we turn into
data ourselves: strict (duplicate keys and exotic tags are errors) and located.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Diagnostic, Path, SpecError

from .yaml_fast import NULL as _NULL
from .yaml_fast import SCALAR_TAGS as _SCALAR_TAGS
from .yaml_fast import STR as _STR
from .yaml_fast import Loader as _Loader
from .yaml_fast import Unusual, read_fast

_T = "tag:yaml.org,2002:"
_MAP, _SEQ = _T + "map", _T + "seq"


class Source:
    """A spec's text and node tree: turns field paths into file:line:col."""

    def __init__(self, file: str | None, text: str | None, root: Node | None = None):
        self.file = file
        self.text = text
        self._root = root
        self._index: dict[int, dict[str, tuple[Node, Node]]] = {}

    @property
    def root(self) -> Node | None:
        """The node tree, composed on first use (only errors need it)."""
        if self._root is None and self.text:
            try:
                self._root = yaml.compose(self.text, Loader=_Loader)
            except yaml.YAMLError:
                return None
        return self._root

    @cached_property
    def lines(self) -> list[str]:
        return [] if self.text is None else self.text.splitlines() or [""]

    def node_at(self, path: Path) -> tuple[Node | None, Node | None, int]:
        """(key node, value node, depth reached) of the deepest node on `path`."""
        key_node, node, depth = None, self.root, 0
        for part in path:
            if isinstance(node, MappingNode):
                entry = self._entries(node).get(str(part))
                if entry is None:
                    break
                key_node, node = entry
            elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                key_node, node = None, node.value[part]
            else:
                break
            depth += 1
        return key_node, node, depth

    def diagnostic(
        self,
        code: str,
        message: str,
        path: Path = (),
        hint: str | None = None,
        *,
        at_key: bool = False,
        offset: int | None = None,
    ) -> Diagnostic:
        """A diagnostic located at `path` (its key with at_key, `offset` chars into a string)."""
        line = col = 0 if self.lines else None  # a file with no usable node: its start
        if self.root is not None:
            key_node, node, depth = self.node_at(path)
            target = key_node if (at_key and key_node is not None and depth == len(path)) else node
            if target is not None:
                line, col = target.start_mark.line, target.start_mark.column
                if offset is not None and depth == len(path) and _is_one_line(target):
                    col += offset + (1 if target.style in ("'", '"') else 0)
        return self._make(code, message, path, hint, line, col)

    def at_mark(self, code: str, message: str, mark, hint: str | None = None) -> Diagnostic:
        return self._make(code, message, (), hint, mark.line, mark.column)

    def _make(self, code, message, path, hint, line, col) -> Diagnostic:
        source_line = self.lines[line] if line is not None and line < len(self.lines) else None
        return Diagnostic(
            code=code,
            message=message,
            path=tuple(path),
            file=self.file,
            line=None if line is None else line + 1,
            col=None if col is None else col + 1,
            hint=hint,
            source_line=source_line,
        )

    def _entries(self, node: MappingNode) -> dict[str, tuple[Node, Node]]:
        index = self._index.get(id(node))
        if index is None:
            index = {}
            for k, v in node.value:
                index.setdefault(str(k.value), (k, v))
            self._index[id(node)] = index
        return index


def _is_one_line(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.style in (None, "", "'", '"') and node.start_mark.line == node.end_mark.line


def load_yaml(text: str, file: str | None = None) -> tuple[Any, Source]:
    """Parse one YAML document into plain data; raise SpecError with located problems."""
    source = Source(file, text)
    try:
        return read_fast(text), source
    except Unusual:
        return _read_carefully(source), source


def _read_carefully(source: Source) -> Any:
    loader = _Loader(source.text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        if err.context_mark is not None and mark.line >= len(source.lines):
            mark = err.context_mark  # at the end of the file, where the unclosed thing began helps more
        message = err.problem or str(err)
        if err.context and err.problem:
            message = f"{err.context}: {err.problem}" if "while" not in err.context else f"{err.problem} ({err.context})"
        raise SpecError([source.at_mark("E101", f"invalid YAML: {message}", mark)]) from None
    except yaml.YAMLError as err:
        raise SpecError([source.diagnostic("E101", f"invalid YAML: {err}")]) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecError([source.diagnostic("E102", "the spec is empty", hint="start with 'apiVersion: orch/v1'")])
    source._root = root
    problems: list[Diagnostic] = []
    data = _Converter(loader, source, problems).convert(root)
    if problems:
        raise SpecError(problems)
    return data


class _Converter:
    """Node tree -> dicts, lists and scalars. Keys are always read as their text."""

    def __init__(self, loader, source: Source, problems: list[Diagnostic]):
        self.loader = loader
        self.source = source
        self.problems = problems

    def convert(self, node: Node) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _MAP:
            return self._mapping(node)
        if tag == _SEQ:
            return [self.convert(item) for item in node.value]
        if tag == _NULL:
            return None
        if tag in _SCALAR_TAGS and isinstance(node, ScalarNode):
            return self.loader.construct_object(node, deep=True)
        self.problems.append(
            self.source.at_mark("E103", f"unsupported YAML tag {tag!r}", node.start_mark, hint="use plain mappings, lists and scalars")
        )
        return None

    def _mapping(self, node: MappingNode) -> dict:
        """Own keys must be unique; keys merged in with `<<` fill only what is not set."""
        out: dict = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _T + "merge":
                merged += value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            elif not isinstance(key_node, ScalarNode):
                self.problems.append(self.source.at_mark("E104", "a mapping key must be a plain name", key_node.start_mark))
            elif key_node.value in out:
                self.problems.append(self.source.at_mark(
                    "E105", f"duplicate key {key_node.value!r}", key_node.start_mark, hint="each key may appear once in a mapping"
                ))
            else:
                out[key_node.value] = self.convert(value_node)
        for source in merged:
            if not isinstance(source, MappingNode):
                self.problems.append(self.source.at_mark("E106", "'<<' merges only mappings", source.start_mark))
                continue
            for key, value in self._mapping(source).items():
                out.setdefault(key, value)
        return out
