"""Where a step's shipped code lands: the archive fetched once per machine into the cache, checked
against the sha256 the pipeline was rendered with, and unpacked into a fresh folder per attempt.

Standard library only, and copied into rendered flow modules and DAG files (after transfer.py),
so a step needs nothing of orch to fetch its code. An archive in the cache is re-hashed at every
use rather than trusted by its name: a 20 MB project's archive (~9 MB) hashes in ~6 ms, nothing
beside a step's start, and so a cache on a shared machine (a truncated copy, an edited file) can
never run code other than the one rendered; a wrong copy is fetched again.
"""

import os
import secrets

from orch.backends.codeunpack import CodeError, check_code_sha, code_digest, unpack_into  # embedded: codeunpack
from orch.backends.transfer import ArtifactError, fetch  # embedded: transfer


def cache_dir():
    """orch's cache on this machine: $ORCH_CACHE, else $XDG_CACHE_HOME/orch, else ~/.cache/orch."""
    if os.environ.get("ORCH_CACHE"):
        return os.environ["ORCH_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "orch")


def code_archive(uri, sha, connect=None):
    """The path of the code archive `sha` in this machine's cache, fetched from `uri` if not there (or not
    right): into a name of its own beside it, checked, then renamed, so steps starting at once on one machine
    never read half a file."""
    check_code_sha(sha)
    folder = os.path.join(cache_dir(), "code")
    path = os.path.join(folder, f"{sha}.tar.gz")
    if os.path.isfile(path) and code_digest(path) == sha:
        return path
    os.makedirs(folder, exist_ok=True)
    part = f"{path}.part-{secrets.token_hex(4)}"
    try:
        fetch(uri, part, connect)
        if code_digest(part) != sha:
            raise ArtifactError(f"the code at {uri} is not the code this pipeline was rendered with (its sha256 "
                                f"differs from {sha[:12]}): render and run the pipeline again")
        os.replace(part, path)
    finally:
        if os.path.lexists(part):
            os.unlink(part)
    return path


def unpack_code(archive, place):
    """The code archive unpacked into the folder `place` (codeunpack.unpack_into), its failure said as the
    store's code failing the step (ArtifactError)."""
    try:
        return unpack_into(archive, place)
    except CodeError as err:
        raise ArtifactError(str(err)) from None


def code_folder(uri, sha, place, connect=None):
    """The shipped code ready to import at `place`: fetched once per machine, unpacked per attempt."""
    return unpack_code(code_archive(uri, sha, connect), place)
