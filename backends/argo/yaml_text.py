"""The manifests' YAML: how a document is laid out (`flowed`), and the text written for it.

`flowed` decides the layout: keys in reading order, short mappings and lists of scalars on one
line, the runner's source double-quoted on one line. The text is what PyYAML's C dumper
(`reference`) writes for that layout, byte for byte; `to_yaml` writes it directly, because a
10,000-step pipeline spends seconds in PyYAML's Python representer. The writer covers what
the manifests hold -- block mappings and lists, flow mappings and lists, one-line scalars --
takes each scalar PyYAML's way (plain where libyaml's emitter would write it plain and the
text reads back as a string, else single-quoted), asks PyYAML itself for any scalar outside
printable ASCII and leaves a whole document to PyYAML when it holds a shape it does not
cover (a multi-line scalar, a list in a list, an odd key). tests/argo/test_fast_yaml.py
checks it against `reference` on generated documents.
"""

from __future__ import annotations

import re

import yaml
from yaml.resolver import Resolver

FLOW_WIDTH = 100
ORDER = ("name", "template", "depends", "when", "withParam", "arguments", "inputs", "outputs", "container",
         "parallelism", "dag")
_RANK = {key: rank for rank, key in enumerate(ORDER)}
WIDTH = 1 << 30  # no line is ever folded


class _Flow(dict):
    """A small mapping written on one line, as people write `{name: x, value: y}`."""


class _FlowList(list):
    pass


class _OneLine(str):
    """Machine data (the runner's source) on one double-quoted line, as Kubernetes keeps annotations."""


def flowed(value):
    """Keys in reading order; short mappings and lists of scalars in flow style."""
    if isinstance(value, dict):
        out = {key: flowed(value[key]) for key in sorted(value, key=_rank)}
        runner = out.get("orch/runner")
        if isinstance(runner, str) and "\n" in runner:  # the runner (a chunk's WorkflowTemplate holds a note there)
            out["orch/runner"] = _OneLine(runner)
        elif out and all(map(_short, out.values())) and len(repr(out)) < FLOW_WIDTH:
            return _Flow(out)
        return out
    if isinstance(value, list):
        out = [flowed(v) for v in value]
        if out and all(map(_one_line, out)) and len(repr(out)) < FLOW_WIDTH:
            return _FlowList(out)
        return out
    return value


def _rank(key) -> int:
    return _RANK.get(key, len(ORDER))


def _short(value) -> bool:
    if isinstance(value, str):
        return "\n" not in value
    return isinstance(value, (_Flow, _FlowList, int, float))  # a number's text is one line


def _one_line(value) -> bool:
    if isinstance(value, str):
        return "\n" not in value
    return isinstance(value, (int, float))  # bool is an int


try:
    _Dumper = yaml.CSafeDumper
except AttributeError:  # pragma: no cover
    _Dumper = yaml.SafeDumper


class _FlowDumper(_Dumper):
    pass


_YAML11_BOOLEANS = frozenset({"y", "Y", "n", "N"})


def _represent_str(dumper, text: str):
    """As the manifests have always been written (hera's presenter for PyYAML, registered when hera is
    imported): text over lines as a literal block, and y/Y/n/N quoted -- YAML 1.1, which kubectl and
    Argo read, takes them for booleans."""
    if "\n" in text:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    if text in _YAML11_BOOLEANS:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


_FlowDumper.add_representer(str, _represent_str)
_FlowDumper.add_representer(_OneLine, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style='"'))
_FlowDumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=True))
_FlowDumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def reference(tree) -> str:
    """PyYAML's text of a `flowed` tree: what the manifests are, by definition."""
    return yaml.dump(tree, Dumper=_FlowDumper, sort_keys=False, allow_unicode=True, width=WIDTH)


def to_yaml(document: dict) -> str:
    """The document's YAML, exactly as `reference` writes it."""
    tree = flowed(document)
    try:
        return _Writer().document(tree)
    except _Unsupported:
        return reference(tree)


class _Unsupported(Exception):
    """A shape the writer leaves to PyYAML."""


# libyaml's emitter (yaml_emitter_analyze_scalar) refuses a plain scalar, for text of printable ASCII
# without leading or trailing spaces, when it holds an indicator for its context:
_NOT_PLAIN_IN_BLOCK = re.compile(r"^(?:---|\.\.\.|[-?:](?: |$)|[#,\[\]{}&*!|>'\"%@`])|: |:$| #")
_NOT_PLAIN_IN_FLOW = re.compile(r"^(?:---|\.\.\.|- |-$|[#&*!|>'\"%@`])|[,?\[\]{}:]| #")
_RESOLVED_BY_FIRST = frozenset(Resolver.yaml_implicit_resolvers)  # first characters of text that may read back as non-strings
_RESOLVER = Resolver()
_STR = "tag:yaml.org,2002:str"
_BREAK = re.compile("[\n\r\x85\u2028\u2029]")  # what libyaml counts as a line break
_KEY_MAX = 128  # libyaml writes a longer key as a complex key ("? key")


class _Writer:
    """One document's text, in libyaml's layout: two-space indents, lists in a mapping not indented."""

    def __init__(self):
        self.lines: list[str] = []
        self.texts: tuple[dict, dict] = ({}, {})  # text -> as written in a block, in a flow: keys and tags repeat
        self.keys: tuple[dict, dict] = ({}, {})

    def document(self, tree) -> str:
        if type(tree) is _Flow or (type(tree) is dict and not tree):
            return self.flow(tree, False) + "\n"
        if type(tree) is not dict:
            raise _Unsupported
        self.mapping(tree, "", "")
        return "".join(self.lines)

    def mapping(self, mapping: dict, indent: str, first: str) -> None:
        """A block mapping; its first line starts with `first` (a list's '- ')."""
        head = first or indent
        for key, value in mapping.items():
            kind = type(value)
            if kind is dict and value:
                self.lines.append(f"{head}{self.key(key, False)}:\n")
                self.mapping(value, indent + "  ", "")
            elif kind is list and value:
                self.lines.append(f"{head}{self.key(key, False)}:\n")
                self.sequence(value, indent)
            else:
                self.lines.append(f"{head}{self.key(key, False)}: {self.flow(value, False)}\n")
            head = indent

    def sequence(self, items: list, indent: str) -> None:
        for item in items:
            kind = type(item)
            if kind is dict and item:
                self.mapping(item, indent + "  ", indent + "- ")
            elif kind is list and item:
                raise _Unsupported
            else:
                self.lines.append(f"{indent}- {self.flow(item, False)}\n")

    def flow(self, value, inside: bool) -> str:
        """A scalar, or a collection written on one line; `inside` another one-line collection."""
        kind = type(value)
        if kind is _Flow or kind is dict:
            return "{" + ", ".join(f"{self.key(k, True)}: {self.flow(v, True)}" for k, v in value.items()) + "}"
        if kind is _FlowList or kind is list:
            return "[" + ", ".join(self.flow(v, True) for v in value) + "]"
        return self.scalar(value, inside)

    def key(self, key, inside: bool) -> str:
        known = self.keys[inside]
        if key not in known:
            if type(key) is not str or len(key) > _KEY_MAX or not _printable_ascii(key):
                raise _Unsupported
            known[key] = self.scalar(key, inside)
        return known[key]

    def scalar(self, value, inside: bool) -> str:
        kind = type(value)
        if kind is bool:
            return "true" if value else "false"
        if kind is int:
            return str(value)
        if value is None:
            return "null"
        if kind is not str:  # a float, the runner's one line
            return _asked(value, inside)
        known = self.texts[inside]
        if value not in known:
            known[value] = _string(value, inside)
        return known[value]


def _printable_ascii(text: str) -> bool:
    return text != "" and text.isascii() and text.isprintable() and text[0] != " " and text[-1] != " "


def _string(text: str, inside: bool) -> str:
    """Plain where libyaml writes it plain and it reads back as a string, else single-quoted."""
    if text == "":
        return "''"
    if text in _YAML11_BOOLEANS:
        return f"'{text}'"
    if not _printable_ascii(text):
        return _asked(text, inside)
    unsafe = _NOT_PLAIN_IN_FLOW if inside else _NOT_PLAIN_IN_BLOCK
    if not unsafe.search(text) and (text[0] not in _RESOLVED_BY_FIRST
                                    or _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR):
        return text
    return "'" + text.replace("'", "''") + "'"


def _asked(value, inside: bool) -> str:
    """PyYAML's own text for a scalar in its context, when it is one line (else the document goes to PyYAML)."""
    tree, before, after = (_Flow(x=value), "{x: ", "}\n") if inside else ({"x": value}, "x: ", "\n")
    text = reference(tree)
    body = text[len(before):len(text) - len(after)]
    if not (text.startswith(before) and text.endswith(after)) or _BREAK.search(body):
        raise _Unsupported  # written over lines, indented where it stands
    return body
