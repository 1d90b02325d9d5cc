"""`orch schema`: the spec's JSON Schema, for editors (yaml-language-server, IDEs)."""

from __future__ import annotations

import json

from orch.core.spec import json_schema

from .output import say


def schema() -> None:
    """Print the JSON Schema of the pipeline spec."""
    document = json_schema()
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "orch pipeline (orch/v1)", **document}
    say(json.dumps(document, indent=2))
