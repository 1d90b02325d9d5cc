"""Writing outputs whole or not at all: never a half-written file, never half of a set of files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

from orch.core.errors import UsageError, machine_error


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    write_all_atomically({Path(path): data})


def write_all_atomically(files: Mapping[Path, bytes]) -> None:
    """Every file or none: each is written whole to a temporary file beside its place first, and only
    when all of them are written are they renamed into place (a full disk leaves the old files as they were).
    The files get the mode a plain `open` would give them (0666 less the umask), not mkstemp's 0600."""
    mode = 0o666 & ~_umask()
    written: list[tuple[str, Path]] = []
    replaced: list[Path] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            written.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fchmod(handle.fileno(), mode)
        for tmp, path in written:  # renames within a folder: they fail only when the folder itself goes
            os.replace(tmp, path)
            replaced.append(path)
    except OSError as err:
        for tmp, _ in written:
            if os.path.exists(tmp):
                os.unlink(tmp)
        done = f"only {', '.join(map(str, replaced))} replaced" if replaced else "nothing was written"
        known = machine_error(err, f"write the files ({done})")
        raise (known or UsageError(f"cannot write {err.filename}: {err.strerror or err} ({done})")) from None


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
