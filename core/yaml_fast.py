"""The fast way through a valid spec: PyYAML's C event stream straight into data.

Composing a node tree costs about twice the parse itself (and more with the garbage
collector running), yet positions are needed only to report an error. So a spec is read
here first, with no nodes and no positions, and anything out of the ordinary -- a
duplicate key, an unusual tag, a complex key, a syntax error -- raises `Unusual`: the
caller then takes the composing path, which gives the same data and the located errors.
Scalars are resolved by PyYAML's own resolver, so both paths mean the same thing.
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

_T = "tag:yaml.org,2002:"
STR, NULL = _T + "str", _T + "null"
SCALAR_TAGS = {_T + "int", _T + "float", _T + "bool", _T + "timestamp"}
_PLAIN_CONTAINER_TAGS = {None, "!", _T + "map", _T + "seq"}

try:
    Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    Loader = yaml.SafeLoader


class Unusual(Exception):
    """The document needs the careful path (it may still be valid)."""


def read_fast(text: str) -> Any:
    """The document's data, or Unusual. Keys are their text, as on the careful path."""
    loader = Loader(text)
    try:
        return _read(loader)
    except yaml.YAMLError:
        raise Unusual from None
    finally:
        loader.dispose()


_NO_KEY = object()


def _read(loader) -> Any:
    get, check = loader.get_event, loader.check_event
    typed_first = _TYPED_FIRST
    get()  # stream start
    if check(yaml.StreamEndEvent):
        raise Unusual  # no document: the careful path says so, located
    get()  # document start
    frames: list[list] = []  # [container, is mapping, pending key, anchor]
    anchors: dict[str, Any] = {}
    while True:
        event = get()
        kind = event.__class__
        if kind is ScalarEvent:
            value, anchor = event.value, event.anchor
            if event.tag is not None or (event.implicit[0] and (typed_first is None or not value or value[0] in typed_first)):
                value = _scalar(event, loader)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.tag not in _PLAIN_CONTAINER_TAGS:
                raise Unusual
            is_mapping = kind is MappingStartEvent
            frames.append([{} if is_mapping else [], is_mapping, _NO_KEY, event.anchor])
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            container, _, _, anchor = frames.pop()
            value = container
        elif kind is AliasEvent and event.anchor in anchors:
            value, anchor = anchors[event.anchor], None
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
    """A scalar that may be typed: resolved and constructed as PyYAML would."""
    tag, value = event.tag, event.value
    if tag is None or tag == "!":
        tag = loader.resolve(ScalarNode, value, event.implicit)
    if tag == STR:
        return event.value
    if tag == NULL:
        return None
    if tag in SCALAR_TAGS:
        return loader.construct_object(ScalarNode(tag, event.value, None, None, event.style))
    raise Unusual
