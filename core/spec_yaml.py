"""A spec's data as YAML a person reads: block mappings, short lists and plain values on one line, multi-line
text as a `|` block, and a `# comment` above any field an importer wants to explain.

PyYAML writes the values (quoting what needs it); this file only lays them out, and `dump` checks that the text
reads back as exactly the data it was given, so a layout choice can never change a spec.
"""

from __future__ import annotations

from typing import Any, Mapping

import yaml

INDENT = 2
_FLOW_WIDTH = 100  # a list or mapping of scalars shorter than this stays on its key's line


def dump(data: Mapping[str, Any], comments: Mapping[tuple, str] | None = None, header: str = "") -> str:
    """`data` as YAML; `comments[path]` (a path of keys and list indexes) written above that field."""
    head = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    lines: list[str] = []
    _mapping(data, 0, (), comments or {}, lines)
    text = head + "\n".join(lines) + "\n"
    try:
        same = yaml.safe_load(text) == _plain(data)
    except yaml.YAMLError:
        same = False
    if not same:  # a key or value this layout cannot hold (a key with a line break): PyYAML's own layout
        return head + yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True, width=120)
    return text


def _mapping(data: Mapping, indent: int, path: tuple, comments: Mapping, lines: list[str], first: str = "") -> None:
    """Each key of `data` at `indent`; the first one after `first` (a list item's '- ') on its line."""
    pad = " " * indent
    for i, (key, value) in enumerate(data.items()):
        lead = first if i == 0 and first else pad
        at = (*path, key)
        for line in comments.get(at, "").splitlines():
            if i == 0 and first:  # a comment cannot sit between '- ' and its key: put it above the item
                lines.append(f"{pad[:-INDENT]}# {line}".rstrip())
            else:
                lines.append(f"{pad}# {line}".rstrip())
        name = _scalar(key)
        if _inline(value):
            lines.append(f"{lead}{name}: {_flow(value)}")
        elif isinstance(value, str):  # multi-line text
            lines.append(f"{lead}{name}: {_block(value, indent + INDENT)}")
        elif isinstance(value, dict):
            lines.append(f"{lead}{name}:")
            _mapping(value, indent + INDENT, at, comments, lines)
        else:
            lines.append(f"{lead}{name}:")
            _sequence(value, indent + INDENT, at, comments, lines)


def _sequence(items: list, indent: int, path: tuple, comments: Mapping, lines: list[str]) -> None:
    pad = " " * indent
    for i, item in enumerate(items):
        at = (*path, i)
        for line in comments.get(at, "").splitlines():
            lines.append(f"{pad}# {line}".rstrip())
        if _inline(item):
            lines.append(f"{pad}- {_flow(item)}")
        elif isinstance(item, str):
            lines.append(f"{pad}- {_block(item, indent + INDENT)}")
        elif isinstance(item, dict):
            _mapping(item, indent + INDENT, at, comments, lines, first=f"{pad}- ")
        else:
            lines.append(f"{pad}-")
            _sequence(item, indent + INDENT, at, comments, lines)


def _inline(value: Any) -> bool:
    """Whether `value` goes on its key's line: a one-line scalar, or a short mapping or list of one-line scalars."""
    if isinstance(value, str):
        return "\n" not in value
    if isinstance(value, (dict, list)):
        values = value.values() if isinstance(value, dict) else value
        if not value:
            return True
        return all(not isinstance(v, (dict, list)) and not (isinstance(v, str) and "\n" in v) for v in values) \
            and len(_flow(value)) <= _FLOW_WIDTH
    return True


def _flow(value: Any) -> str:
    text = yaml.safe_dump(_plain(value), default_flow_style=True, allow_unicode=True, width=10**9, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...")


def _scalar(value: Any) -> str:
    return _flow(value)


def _block(text: str, indent: int) -> str:
    """Multi-line text as a literal block when it reads back the same, else quoted."""
    if text.strip() and not any(line != line.rstrip() for line in text.split("\n")) and "\t" not in text \
            and not text.startswith((" ", "\n")) and not any(ord(c) < 32 and c != "\n" for c in text):
        chomp = "" if text.endswith("\n") and not text.endswith("\n\n") else ("-" if not text.endswith("\n") else "+")
        body = text[:-1] if text.endswith("\n") else text
        pad = " " * indent
        block = "|" + chomp + "\n" + "\n".join(pad + line if line else "" for line in body.split("\n"))
        if yaml.safe_load(f"k: {block}\n") == {"k": text}:
            return block
    return _flow(text)


def _plain(value: Any) -> Any:
    """Tuples as lists: what YAML reads back."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
