"""Writing outputs whole or not at all: never a half-written file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from orch.core.errors import UsageError


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as err:
        os.unlink(tmp)
        raise UsageError(f"cannot write {path}: {err}") from None
