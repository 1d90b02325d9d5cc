"""The fast way through a valid spec: PyYAML's C event stream straight into data.

Composing a node tree costs about twice the parse itself (and more with the garbage
collector running), yet positions are needed only to report an error. So a spec is read
here first, with no nodes and no positions, and anything out of the ordinary -- a
duplicate key, an unusual tag, a complex key, a syntax error -- raises `Unusual`: the
caller then takes the composing path, which gives the same data and the located errors.
Scalars are resolved by PyYAML's own resolver, so both paths mean the same thing; both
read a timestamp as its text, as Go and Kubernetes YAML do, and bound what a value may be
(limits.py): nesting, aliases counted once per use, integers and finite floats.
"""

from __future__ import annotations

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
from yaml.nodes import ScalarNode

from .limits import INT_MAX, INT_MIN, MAX_ALIAS_VALUES, MAX_NESTING

_T = "tag:yaml.org,2002:"
STR, NULL, TIMESTAMP = _T + "str", _T + "null", _T + "timestamp"
INT, FLOAT = _T + "int", _T + "float"
SCALAR_TAGS = {INT, FLOAT, _T + "bool"}
NULL_SPELLINGS = ("", "~", "null", "Null", "NULL")
TEXT_TAGS = {STR, TIMESTAMP}  # `2024-01-01` is the text 2024-01-01, as Go and Kubernetes read it
_MAPPING_TAGS, _SEQUENCE_TAGS = {None, "!", _T + "map"}, {None, "!", _T + "seq"}  # a tag must fit its node
_INT_TEXT_MAX = 100  # longer integer text is far beyond 64 bits (and base 60 would be slow to compute)

try:
    Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    Loader = yaml.SafeLoader


class Unusual(Exception):
    """The document needs the careful path (it may still be valid)."""


class BadScalar(ValueError):
    """A typed scalar orch refuses: `!!int abc`, a 5,000-digit integer, `.inf`."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.hint = hint


def alias_limit(text: str) -> int:
    """How many values aliases may stand for in all, counted once per use (limits.MAX_ALIAS_VALUES)."""
    return max(MAX_ALIAS_VALUES, len(text))


def construct_scalar(loader, tag: str, value: str, style) -> Any:
    """A typed scalar (int, float, bool) as PyYAML builds it, within orch's bounds; BadScalar otherwise."""
    if tag == INT and len(value) > _INT_TEXT_MAX:
        raise BadScalar("E110", f"integer {_short(value)} is outside the signed 64-bit range", _QUOTE_HINT)
    try:
        result = loader.construct_object(ScalarNode(tag, value, None, None, style))
    except (ValueError, KeyError, TypeError, IndexError, yaml.YAMLError) as err:
        if "digits" in str(err):  # Python's int-digits limit: a huge integer
            raise BadScalar("E110", f"integer {_short(value)} is outside the signed 64-bit range", _QUOTE_HINT) from None
        raise BadScalar("E111", f"{_short(value)!r} is not a valid {tag[len(_T):]}",
                        "remove the tag, or write a value of that type") from None
    kind = type(result)
    if kind is int and not INT_MIN <= result <= INT_MAX:
        raise BadScalar("E110", f"integer {_short(value)} is outside the signed 64-bit range", _QUOTE_HINT)
    if kind is float and (result != result or result in (_INF, -_INF)):
        raise BadScalar("E109", f"{_short(value)} is not a finite number",
                        "orch has no NaN or infinity; quote it if you mean the text")
    return result


_INF = float("inf")
_QUOTE_HINT = "integers are signed 64-bit; quote it if you mean the text"


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:18] + "…" + text[-18:]


def read_fast(text: str) -> Any:
    """The document's data, or Unusual. Keys are their text, as on the careful path."""
    loader = Loader(text)
    try:
        return _read(loader, alias_limit(text))
    except (yaml.YAMLError, BadScalar):
        raise Unusual from None
    finally:
        loader.dispose()


_NO_KEY = object()


def _read(loader, alias_budget: int) -> Any:
    get, check = loader.get_event, loader.check_event
    typed_first, deepest = _TYPED_FIRST, MAX_NESTING  # locals: this loop runs once per event
    get()  # stream start
    if check(yaml.StreamEndEvent):
        raise Unusual  # no document: the careful path says so, located
    get()  # document start
    frames: list[list] = []  # [container, is mapping, pending key, anchor]
    anchors: dict[str, Any] = {}
    sizes: dict[int, int] = {}  # id of an aliased container -> values it stands for
    while True:
        event = get()
        kind = event.__class__
        if kind is ScalarEvent:
            value, anchor = event.value, event.anchor
            if event.tag is not None or (event.implicit[0] and (typed_first is None or not value or value[0] in typed_first)):
                value = _scalar(event, loader)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            is_mapping = kind is MappingStartEvent
            if event.tag not in (_MAPPING_TAGS if is_mapping else _SEQUENCE_TAGS) or len(frames) >= deepest:
                raise Unusual
            frames.append([{} if is_mapping else [], is_mapping, _NO_KEY, event.anchor])
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            container, _, _, anchor = frames.pop()
            value = container
        elif kind is AliasEvent and event.anchor in anchors:  # an anchor still open is not in it: recursion
            value, anchor = anchors[event.anchor], None
            if value.__class__ is dict or value.__class__ is list or value.__class__ is str:
                alias_budget -= value_count(value, sizes) - 1
                if alias_budget < 0:
                    raise Unusual  # an alias bomb: the careful path locates it
        else:
            raise Unusual
        if anchor is not None:
            anchors[anchor] = value
        if not frames:
            get()  # document end
            if not check(yaml.StreamEndEvent):
                raise Unusual  # a second document
            return value
        frame = frames[-1]
        if not frame[1]:
            frame[0].append(value)
        elif frame[2] is not _NO_KEY:
            frame[0][frame[2]] = value
            frame[2] = _NO_KEY
        elif kind is not ScalarEvent or event.value in frame[0] or (event.value == "<<" and not event.style):
            raise Unusual  # a complex or aliased key, a duplicate, or a merge
        else:
            frame[2] = event.value  # keys are their text, as on the careful path


# PyYAML's resolver looks only at plain scalars whose first character can start a typed
# value (a digit, '-', 'y', 'n', 't', 'f', 'o', '~', ...); any other plain scalar is text.
# (Unless someone registered a resolver for every first character: then ask it always.)
_RESOLVERS = set(Loader.yaml_implicit_resolvers)
_TYPED_FIRST = _RESOLVERS if None not in _RESOLVERS else None


def _scalar(event: ScalarEvent, loader) -> Any:
    """A scalar that may be typed: resolved and constructed as PyYAML would (timestamps as text)."""
    tag, value = event.tag, event.value
    if (tag == NULL and value not in NULL_SPELLINGS) or (tag == TIMESTAMP and not loader.timestamp_regexp.match(value)):
        raise Unusual  # an explicit tag its value does not fit: the careful path says so, located
    if tag is None or tag == "!":
        tag = loader.resolve(ScalarNode, value, event.implicit)
    if tag in TEXT_TAGS:
        return event.value
    if tag == NULL:
        return None
    if tag in SCALAR_TAGS:
        return construct_scalar(loader, tag, event.value, event.style)
    raise Unusual


def scalar_weight(text: str) -> int:
    """What one scalar counts towards the alias budget: 1, and 1 more per 64 characters, so an
    alias to a long string used many times is a bomb too."""
    return 1 + len(text) // 64


def value_count(value: Any, sizes: dict[int, int]) -> int:
    """How many values `value` stands for once expanded: itself, each key and each nested value
    (a long string counting as several: `scalar_weight`).

    The same count as the careful path's, event by event; memoised by identity, so shared
    (aliased) parts are walked once. Nesting is at most MAX_NESTING, so recursion is safe.
    """
    if value.__class__ is dict:
        key = id(value)
        if key not in sizes:
            sizes[key] = 1 + sum(scalar_weight(k) for k in value) + sum(value_count(v, sizes) for v in value.values())
        return sizes[key]
    if value.__class__ is list:
        key = id(value)
        if key not in sizes:
            sizes[key] = 1 + sum(value_count(v, sizes) for v in value)
        return sizes[key]
    return scalar_weight(value) if value.__class__ is str else 1
