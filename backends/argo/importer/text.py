"""The spec's YAML text: readable (core/spec_yaml.dump, a comment above each approximation), and valid --
parsed back with the same loader `orch validate` uses, so what is written is what loads."""

from __future__ import annotations

import yaml

from orch.core.errors import SpecError
from orch.core.load import parse_spec


def dump(spec: dict, comments: dict, header: str) -> str:
    try:
        from orch.core.spec_yaml import dump as spec_dump
    except ImportError:  # the shared writer not there yet: plain YAML, the header only
        head = "".join(f"# {line}\n" for line in header.splitlines())
        return head + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=1000)
    return spec_dump(spec, comments, header)


def spec_text(spec: dict, comments: dict, document, ledger):
    """(text, graph): the spec written and loaded; a spec orch refuses raises SpecError naming the source."""
    header = f"Imported from {document.file} ({document.kind} {spec['name']}) by orch import argo"
    text = dump(spec, comments, header)
    try:
        return text, parse_spec(text, f"{spec['name']}.yaml")
    except SpecError as err:
        raise SpecError([d for d in err.diagnostics]) from None
