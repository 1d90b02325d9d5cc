"""Name rules every backend accepts, and the collisions its name mapping would cause.

A name is `[a-z]` then `[a-z0-9_-]`, ending in a letter or digit (Kubernetes object names
must end so), at most 63 characters (52 for a scheduled pipeline: Argo's CronWorkflow
limit). Argo maps `_` to `-` and Python identifiers need `-` as `_`, so two names that
differ only there collide.
"""

from __future__ import annotations

import re

NAME_PATTERN = r"^[a-z](?:[a-z0-9_-]*[a-z0-9])?\Z"
NAME_RE = re.compile(NAME_PATTERN)
MAX_NAME = 63
MAX_SCHEDULED_NAME = 52


def name_problem(name: str, limit: int = MAX_NAME) -> str | None:
    """Why `name` is not a valid orch name, or None."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        return "must start with a lowercase letter, hold only a-z, 0-9, '_' and '-', and end with a letter or digit"
    if len(name) > limit:
        return f"is {len(name)} characters long; the limit is {limit}"
    return None


def suggest_name(name: str) -> str:
    """The nearest valid name: 'Load Data!' -> 'load-data'."""
    text = re.sub(r"[^a-z0-9_-]+", "-", str(name).lower()).strip("-_")
    if not text or not text[0].isalpha():
        text = "s-" + text
    return text[:MAX_NAME].rstrip("-_")


def collision_key(name: str) -> str:
    """Names with the same key become one name on some backend."""
    return name.replace("_", "-")


def argo_name(name: str) -> str:
    return name.replace("_", "-")
