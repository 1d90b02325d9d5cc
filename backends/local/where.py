"""What a local run gives each attempt beyond its call: its secrets' values, its shipped code, its packages.

Held in memory only: a value reaches the attempt's environment through the starter's pipe, never the
store, the run folder or a message; what the starter does with the rest is placing.py's and masking.py's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

from orch.core.secrets import PREFIX, Masker, missing_text, secret_env_name
from orch.core.spec import Step


class Where:
    """The run's secrets (ORCH_SECRET_* name -> value), its shipped code (URI, sha256), and what each attempt takes of them."""

    def __init__(self, pipeline, secrets: Mapping[str, str], code: Optional[tuple[str, str]]):
        self.pipeline, self.secrets, self.code = pipeline, secrets, code
        names = [secret_env_name(ref.secret, ref.key) for step in pipeline.all_steps.values() for ref in step.secrets.values()]
        self.mask = Masker(v for v in (secrets.get(n) for n in names) if v)  # for errors: every secret of the run

    def secret_values(self, step: Step) -> tuple[dict[str, str], Optional[str]]:
        """The step's secrets as its variables' values, read now (the attempt's start); else why the first one the
        run has no value for is missing (a variable of the --secrets file or the environment named like it, but
        for the prefix, is pointed out)."""
        values = {}
        for var, ref in step.secrets.items():
            name = secret_env_name(ref.secret, ref.key)
            value = self.secrets.get(name)
            if value is None:
                bare = name[len(PREFIX):]
                near = f" ({bare} is set: a local run reads {name})" if bare in self.secrets or bare in os.environ else ""
                return {}, missing_text(ref.secret, ref.key) + near
            values[var] = value
        return values, None

    def place(self, request: dict, step: Step, base: Path, values: dict[str, str]) -> None:
        """Where the attempt runs, for the starter to prepare inside it: its log masked when it has secrets,
        a fresh copy of the shipped code as its folder, its packages' env."""
        masked = [value for value in values.values() if value]
        if masked:
            request["mask"] = masked
        if self.code is not None:
            place = str(Path(str(base) + ".code").resolve())
            request.update(code={"uri": self.code[0], "sha": self.code[1], "place": place}, path=place)
        if step.packages:
            request["packages"] = list(step.packages)

    def preload(self) -> tuple[str, ...]:
        """What the starter imports before its first fork, for what this run's attempts do (zygote.py)."""
        steps = self.pipeline.all_steps.values()
        flags = [("--mask", any(s.secrets for s in steps)), ("--code", self.code is not None),
                 ("--packages", any(s.packages for s in steps))]
        return tuple(flag for flag, wanted in flags if wanted)
