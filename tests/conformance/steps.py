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
