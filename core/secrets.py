"""Secrets as logical references: `env: {HF_TOKEN: {secret: hf-token, key: token}}`.

A spec names a secret and one of its keys, never a value. Each backend reads it from its
engine's own store (a Kubernetes Secret, an Airflow Variable or Connection, a Prefect Secret
block); a local run reads the environment variable `ORCH_SECRET_<SECRET>_<KEY>` (upper case,
every other character `_`) or a `.env`-style file given with `--secrets`. A value is masked
(`***`) wherever orch passes on what a step printed. Standard library only.
"""

from __future__ import annotations

import re

MASK = "***"
MIN_MASKED = 4  # shorter values are not masked (as Airflow's masker): they would hide every such run of text
PREFIX = "ORCH_SECRET_"


def secret_env_name(secret: str, key: str) -> str:
    """The variable a local run reads: `hf-token`, `token` -> ORCH_SECRET_HF_TOKEN_TOKEN."""
    return PREFIX + re.sub(r"[^A-Za-z0-9]", "_", f"{secret}_{key}").upper()


def local_secrets(given, environ=None) -> dict[str, str]:
    """The values a run on this machine reads secrets from: `ORCH_SECRET_*` of the environment, and the
    variables of `--secrets FILE` (`given`) over them."""
    import os

    environ = os.environ if environ is None else environ
    return {**{k: v for k, v in environ.items() if k.startswith(PREFIX)}, **(given or {})}


def grouped_secrets(pipeline, values) -> dict[str, dict[str, str]]:
    """The secrets the pipeline's steps read, as {secret: {key: value}}, from `values` (local_secrets); a key
    without a value is left out, so its step fails naming it: what an engine's store is filled with for a run."""
    found: dict[str, dict[str, str]] = {}
    for step in pipeline.steps.values():
        for ref in step.secrets.values():
            value = values.get(secret_env_name(ref.secret, ref.key))
            if value is not None:
                found.setdefault(ref.secret, {})[ref.key] = value
    return found


def missing_text(secret: str, key: str) -> str:
    """What a step that lacks a secret fails with: the secret and where it was looked for, never a value."""
    return (f"secret {secret!r} (key {key!r}) is not set: set {secret_env_name(secret, key)} "
            f"or give it in the file named by --secrets")


def read_secrets_file(path: str) -> dict[str, str]:
    """A `.env`-style file's variables (comments, `export`, quotes, as python-dotenv reads them)."""
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _escaped(value):
    """A value as an error message quotes it: `repr`, JSON (a quote, a backslash, a tab or a newline in it escaped)."""
    import json

    return {repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]} - {value}


class Masker:
    """Replaces each secret value in text with `***`; fed in chunks, it holds back the bytes that might
    be the start of a value cut by a chunk boundary."""

    def __init__(self, values):
        pieces = set()
        for value in values:
            for piece in [value, *value.splitlines(), *_escaped(value)]:
                if len(piece) >= MIN_MASKED and piece.strip():
                    pieces.add(piece.encode("utf-8", "surrogateescape"))
        self._pattern = re.compile(b"|".join(re.escape(p) for p in sorted(pieces, key=len, reverse=True))) if pieces else None
        self._keep = max((len(p) for p in pieces), default=1) - 1
        self._held = b""

    def __bool__(self):
        return self._pattern is not None

    def text(self, text: str) -> str:
        """`text`, masked whole."""
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK.encode(), text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")

    def feed(self, data: bytes) -> bytes:
        """What of `data` (and what was held back) can be written now, masked."""
        if self._pattern is None:
            return data
        data = self._held + data
        limit = len(data) - self._keep  # a value starting before it lies whole in `data`
        masked, cut = [], 0
        for match in self._pattern.finditer(data):
            if match.start() >= limit:
                break
            masked.append(data[cut:match.start()] + MASK.encode())
            cut = match.end()
        safe = max(cut, limit)
        masked.append(data[cut:safe])
        self._held = data[safe:]
        return b"".join(masked)

    def flush(self) -> bytes:
        """The bytes held back, masked: the stream has ended."""
        held, self._held = self._held, b""
        return self._pattern.sub(MASK.encode(), held) if held and self._pattern else held
