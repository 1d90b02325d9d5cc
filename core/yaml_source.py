"""Read YAML into plain data, and locate any field path in the text when an error needs it.

A valid spec goes through `yaml_fast` (no node tree). Otherwise, and whenever a
diagnostic needs a position, PyYAML's C parser composes the node tree, which we turn into
data ourselves: strict (duplicate keys and exotic tags are errors) and located.

What no spec may hold is refused here, at its place in the text, whichever path reads it:
a NUL or text that is not UTF-8, nesting past MAX_NESTING, recursive aliases, alias bombs,
integers beyond 64 bits, NaN and infinities (limits.py, docs/limits.md).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Diagnostic, Path, SpecError
from .limits import MAX_NESTING, NUL_HINT, SURROGATE_HINT, value_problems
from .typed import json_problem, strict_json
from .yaml_fast import NULL as _NULL
from .yaml_fast import SCALAR_TAGS as _SCALAR_TAGS
from .yaml_fast import TEXT_TAGS as _TEXT_TAGS
from .yaml_fast import TIMESTAMP as _TIMESTAMP
from .yaml_fast import NULL_SPELLINGS, BadScalar, Unusual, alias_limit, construct_scalar, read_fast, scalar_weight
from .yaml_fast import Loader as _Loader

# A line break as YAML counts lines (so excerpts match the parser's line numbers).
_BREAK = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")
# A double-quoted escape that may give a NUL; only then are the strings searched for one.
_ESCAPED_NUL = re.compile(r"\\(?:0|x00|u0000|U00000000)")

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
        if self.text is None:
            return []
        lines = _BREAK.split(self.text)
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()  # the break that ends the last line
        return lines

    def at_index(self, code: str, message: str, index: int, hint: str | None = None) -> Diagnostic:
        """A diagnostic at character `index` of the text."""
        before = self.text[:index]
        starts = [m.end() for m in _BREAK.finditer(before)]
        line_start = starts[-1] if starts else 0
        return self._make(code, message, (), hint, len(starts), index - line_start)

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


_SURROGATE_PAIR = re.compile(r"(\\+)u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})")


def json_surrogate_pairs(text: str) -> str:
    """A JSON spec's escaped surrogate pairs (`\\ud83d\\ude00`, as Python's json.dump writes an emoji) as the
    one escape YAML reads (`\\U0001f600`): YAML's `\\u` takes a whole character, so PyYAML refuses half of
    one. Only in a JSON document, where every string is double-quoted and so every escape is one."""
    if not text.lstrip().startswith(("{", "[")) or "\\u" not in text:
        return text

    def joined(match: re.Match) -> str:
        slashes, high, low = match.groups()
        if len(slashes) % 2 == 0:  # an escaped backslash, then the text 'ud83d'
            return match.group(0)
        code = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)
        return f"{slashes}U{code:08x}"

    return _SURROGATE_PAIR.sub(joined, text)


def load_yaml(text: str, file: str | None = None) -> tuple[Any, Source]:
    """Parse one YAML document into plain data; raise SpecError with located problems.

    A JSON document is read as JSON, which is what its writer meant (YAML 1.1 reads `1e-05`,
    as Python's json.dump writes a small float, as text); anything about it to refuse goes the
    YAML way, which locates it."""
    text = json_surrogate_pairs(text)
    source = Source(file, text)
    _check_text(source)
    data = _read_json(text)
    if data is None:
        try:
            data = read_fast(text)
        except Unusual:
            return _read_carefully(source), source
    problems = _string_problems(data, source)
    if problems:
        raise SpecError(problems)
    return data, source


def _read_json(text: str) -> Any:
    """The data of a JSON object document that holds nothing orch refuses; None otherwise."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = strict_json(text)
    except (ValueError, RecursionError):  # the YAML way reports it, located
        return None
    return None if json_problem(data) else data


def _check_text(source: Source) -> None:
    """A NUL anywhere, or a lone surrogate (text that came from bytes that were not UTF-8)."""
    text = source.text
    nul = text.find("\x00")
    if nul != -1:
        raise SpecError([source.at_index("E107", "the spec holds a NUL character", nul, NUL_HINT)])
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise SpecError([source.at_index("E108", "the spec is not UTF-8 text: it holds a lone surrogate",
                                             err.start, SURROGATE_HINT)]) from None


def _string_problems(data: Any, source: Source) -> list[Diagnostic]:
    """A NUL written as an escape ("\\0", "\\x00", "\\u0000") in any key or string.

    The strings are searched only when the text holds such an escape: no cost otherwise.
    """
    if not _ESCAPED_NUL.search(source.text):
        return []
    return [
        source.diagnostic(code, f"{'key' if at_key else 'text'} {message}", path, NUL_HINT if code == "E107" else SURROGATE_HINT,
                          at_key=at_key)
        for path, code, message, at_key in value_problems(data)
    ]


def _read_carefully(source: Source) -> Any:
    problems = _structure_problems(source)
    if problems:
        raise SpecError(problems)
    loader = _Loader(source.text)
    try:
        root = loader.get_single_node()
    except yaml.reader.ReaderError as err:  # a control character: located by its index
        raise SpecError([source.at_index("E101", f"invalid YAML: {err.reason} (character {err.character!r})",
                                         _char_index(source.text, err.position))]) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        if err.context_mark is not None and mark.line >= len(source.lines):
            mark = err.context_mark  # at the end of the file, where the unclosed thing began helps more
        message = err.problem or str(err)
        if "maximum nesting depth" in message:  # libyaml's own bound (1,000), met before ours in flow style
            raise SpecError([source.at_mark("E112", _TOO_DEEP, err.problem_mark or mark, _DEEP_HINT)]) from None
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
    problems += _string_problems(data, source)  # every problem of the document in one run
    if problems:
        raise SpecError(problems)
    return data


_TOO_DEEP = f"mappings and lists are nested more than {MAX_NESTING} levels deep"
_DEEP_HINT = "flatten the value, or pass it as a json string"


def _char_index(text: str, byte_offset: int) -> int:
    """libyaml counts its reader's offsets in UTF-8 bytes; the text's own index of that byte."""
    if text.isascii():
        return byte_offset
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def _structure_problems(source: Source) -> list[Diagnostic]:
    """Nesting past MAX_NESTING, a recursive alias, or aliases standing for too many values,
    located on the parser's events (the node tree has lost where each alias was written).

    Counted as yaml_fast counts them: a value is each scalar, key and container, and an
    alias stands for every value of what it names. Syntax errors are left to the composer.
    """
    loader = _Loader(source.text)
    budget = alias_limit(source.text)
    sizes: dict[str, int | None] = {}  # anchor -> values it stands for; None while still open
    frames: list[list] = []  # [values so far, anchor]
    try:
        while True:
            event = loader.get_event()
            kind = event.__class__
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                if len(frames) >= MAX_NESTING:
                    return [source.at_mark("E112", _TOO_DEEP, event.start_mark, _DEEP_HINT)]
                frames.append([1, event.anchor])
                if event.anchor is not None:
                    sizes[event.anchor] = None
                continue
            if kind is MappingEndEvent or kind is SequenceEndEvent:
                size, anchor = frames.pop()
                if anchor is not None:
                    sizes[anchor] = size
            elif kind is ScalarEvent:
                size = scalar_weight(event.value)
                if event.anchor is not None:
                    sizes[event.anchor] = size
            elif kind is AliasEvent:
                if event.anchor in sizes and sizes[event.anchor] is None:
                    return [source.at_mark("E114", f"alias *{event.anchor} is inside the value it names (a recursive alias)",
                                           event.start_mark, "an alias can only repeat a value that is complete")]
                size = sizes.get(event.anchor) or 1  # an undefined alias: the composer reports it
                budget -= size - 1
                if budget < 0:
                    return [source.at_mark("E113", f"aliases stand for more than {alias_limit(source.text):,} values in all "
                                           f"(*{event.anchor} alone for {size:,})", event.start_mark,
                                           "an alias repeats its whole value each time it is used; write the values out")]
            elif kind is yaml.StreamEndEvent:
                return []
            else:
                continue
            if frames:
                frames[-1][0] += size
    except yaml.YAMLError:
        return []
    finally:
        loader.dispose()


structure_problems = _structure_problems  # the same guards for other YAML orch reads (orch import argo)


class _Converter:
    """Node tree -> dicts, lists and scalars. Keys are always read as their text."""

    def __init__(self, loader, source: Source, problems: list[Diagnostic]):
        self.loader = loader
        self.source = source
        self.problems = problems

    def convert(self, node: Node) -> Any:
        tag = node.tag
        if tag in _TEXT_TAGS and isinstance(node, ScalarNode):
            if tag == _TIMESTAMP and not self.loader.timestamp_regexp.match(node.value):
                return self._misfit(node, "timestamp")
            return node.value
        if tag == _MAP:
            return self._mapping(node) if isinstance(node, MappingNode) else self._misfit(node, "map")
        if tag == _SEQ:
            return [self.convert(item) for item in node.value] if isinstance(node, SequenceNode) else self._misfit(node, "seq")
        if tag == _NULL:
            if isinstance(node, ScalarNode) and node.value in NULL_SPELLINGS:
                return None
            return self._misfit(node, "null")
        if tag in _SCALAR_TAGS and isinstance(node, ScalarNode):
            try:
                return construct_scalar(self.loader, tag, node.value, node.style)
            except BadScalar as err:
                self.problems.append(self.source.at_mark(err.code, str(err), node.start_mark, err.hint))
                return None
        self.problems.append(
            self.source.at_mark("E103", f"unsupported YAML tag {tag!r}", node.start_mark, hint="use plain mappings, lists and scalars")
        )
        return None

    def _misfit(self, node: Node, tag: str) -> None:
        """An explicit tag its value does not fit (`!!null 5`, `!!seq {a: 1}`): E111, never a silent change."""
        self.problems.append(self.source.at_mark("E111", f"the value does not fit its tag !!{tag}", node.start_mark,
                                                 "remove the tag, or write a value of that type"))
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
