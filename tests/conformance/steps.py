"""Step functions of the conformance cases (copied beside each case's spec as conformance_steps.py).

Plain Python, no orch: every backend imports and calls them the same way. Files they
write are relative to the run's working folder, which each test makes fresh.
"""

import os
import time
from pathlib import Path


def ok():
    return None


def fail(message="boom"):
    raise RuntimeError(message)


def echo(value):
    return value


def produce(**values):
    return values


def typed(value):
    """The value and the name of its Python type, to see what a step received."""
    return {"value": value, "kind": type(value).__name__}


def flaky(failures, name="flaky", value="done"):
    """Fail the first `failures` attempts (counted in the file NAME.times), recording each start time."""
    with open(f"{name}.times", "a") as handle:
        handle.write(f"{time.time()}\n")
    count = len(Path(f"{name}.times").read_text().split())
    if count <= failures:
        raise RuntimeError(f"attempt {count} fails on purpose")
    return value


def check(value):
    """Fail for a zero item."""
    if value == 0:
        raise ValueError("zero is not allowed")
    return value


def sleep(seconds, value=None):
    time.sleep(seconds)
    return value


def env(name):
    return os.environ.get(name)


def record(label, value=None):
    """Append `label` to the file 'trace' (to count how often a step ran)."""
    with open("trace", "a") as handle:
        handle.write(label + "\n")
    return value


def block_while_flagged(label):
    """Record, wait while the file 'block' exists (a step to kill in the middle), record again."""
    record(label)
    while os.path.exists("block"):
        time.sleep(0.05)
    record(label + "-done")


def fail_oddly():
    """An error whose text is not valid Unicode (a lone surrogate, as from undecodable bytes)."""
    raise ValueError("bad \udcff byte")


def returns(value):
    """`value` decoded from JSON-safe text (a step can return what YAML cannot write: a NUL)."""
    return value.replace("<NUL>", "\x00")


# --- artifacts: each producer writes in a scratch folder of its own, which `remove` deletes before any
# consumer runs, so a consumer can only read the copy the backend fetched for it (never a shared disk)

def write_file(text=None, repeat=1, binary=False):
    """A file in a fresh scratch folder: `text` (UTF-8), or every byte value `repeat` times; its path and the folder."""
    import tempfile

    scratch = tempfile.mkdtemp(prefix="orch-conformance-")
    path = Path(scratch, "data.bin" if binary else "data.txt")
    path.write_bytes(bytes(range(256)) * repeat if binary else text.encode("utf-8"))
    return {"file": str(path), "scratch": scratch}


def write_tree(empty=False):
    """A folder with nested, non-ASCII, empty and binary entries (or nothing at all); returned as a Path."""
    import tempfile

    scratch = tempfile.mkdtemp(prefix="orch-conformance-")
    root = Path(scratch, "tree")
    root.mkdir()
    if not empty:
        (root / "données" / "été").mkdir(parents=True)
        (root / "données" / "été" / "naïve.txt").write_text("ça va\n", encoding="utf-8")
        (root / "empty-folder").mkdir()
        (root / "empty-file").write_bytes(b"")
        (root / "bytes.bin").write_bytes(bytes(range(256)))
        (root / "a space & 'quote'").write_text("x")
    return {"folder": root, "scratch": scratch}


def remove(path):
    import shutil

    shutil.rmtree(path)


def describe(path):
    """What a consumer received: null, or each entry under it (itself for a file) with its kind, size and sha256."""
    import hashlib

    if path is None:
        return None
    root = Path(path)
    if root.is_file():
        return {"file": [root.stat().st_size, hashlib.sha256(root.read_bytes()).hexdigest()[:16]]}
    found = {}
    for entry in sorted(root.rglob("*")):
        name = entry.relative_to(root).as_posix()
        found[name] = "folder" if entry.is_dir() else [entry.stat().st_size, hashlib.sha256(entry.read_bytes()).hexdigest()[:16]]
    return found


def read_text(path):
    return None if path is None else Path(path).read_text(encoding="utf-8")


def read_all(paths):
    return [Path(p).read_text(encoding="utf-8") for p in paths]


def scribble(path):
    """Write over the copy this step received; another consumer must still see the original."""
    Path(path).write_text("scribbled", encoding="utf-8")
    return Path(path).read_text(encoding="utf-8")


def missing():
    return "/nonexistent/orch-conformance/artifact"
