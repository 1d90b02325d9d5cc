"""Where a step's shipped code lands: the archive fetched once per machine into the cache, checked
against the sha256 the pipeline was rendered with, and unpacked into a fresh folder per attempt.

Standard library only, and copied into rendered flow modules and DAG files (after transfer.py),
so a step needs nothing of orch to fetch its code. An archive in the cache is re-hashed at every
use rather than trusted by its name: a 20 MB project's archive (~9 MB) hashes in ~6 ms, nothing
beside a step's start, and so a cache on a shared machine (a truncated copy, an edited file) can
never run code other than the one rendered; a wrong copy is fetched again.
"""

import hashlib
import os
import secrets
import shutil
import tarfile

from orch.backends.transfer import ArtifactError, fetch  # embedded: transfer

CODE_READ = 1 << 20  # bytes hashed at a time


def cache_dir():
    """orch's cache on this machine: $ORCH_CACHE, else $XDG_CACHE_HOME/orch, else ~/.cache/orch."""
    if os.environ.get("ORCH_CACHE"):
        return os.environ["ORCH_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "orch")


def check_code_sha(sha):
    """A code archive's sha256 as orch names it (64 lowercase hex digits), else ValueError: it becomes a path."""
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise ValueError(f"{sha!r} is not a sha256 (64 lowercase hex digits)")


def code_archive(uri, sha, connect=None):
    """The path of the code archive `sha` in this machine's cache, fetched from `uri` if not there (or not
    right): into a name of its own beside it, checked, then renamed, so steps starting at once on one machine
    never read half a file."""
    check_code_sha(sha)
    folder = os.path.join(cache_dir(), "code")
    path = os.path.join(folder, f"{sha}.tar.gz")
    if os.path.isfile(path) and _code_digest(path) == sha:
        return path
    os.makedirs(folder, exist_ok=True)
    part = f"{path}.part-{secrets.token_hex(4)}"
    try:
        fetch(uri, part, connect)
        if _code_digest(part) != sha:
            raise ArtifactError(f"the code at {uri} is not the code this pipeline was rendered with (its sha256 "
                                f"differs from {sha[:12]}): render and run the pipeline again")
        os.replace(part, path)
    finally:
        if os.path.lexists(part):
            os.unlink(part)
    return path


def unpack_code(archive, place):
    """The code archive unpacked into the folder `place` (made; it must not exist or be empty), writable as a
    checkout is (its mode: 0o644, or 0o755 for a file its owner could run, less the umask)."""
    if os.path.isdir(place) and os.listdir(place) or os.path.lexists(place) and not os.path.isdir(place):
        raise ArtifactError(f"cannot unpack the code into {place}: it exists and is not an empty folder")
    os.makedirs(place, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            _code_unpacked(tar, place)
    except (tarfile.TarError, OSError, EOFError) as err:
        shutil.rmtree(place, ignore_errors=True)
        raise ArtifactError(f"cannot unpack the code archive {archive}: {err}") from None
    return place


def code_folder(uri, sha, place, connect=None):
    """The shipped code ready to import at `place`: fetched once per machine, unpacked per attempt."""
    return unpack_code(code_archive(uri, sha, connect), place)


def _code_unpacked(tar, place):
    """Each member written directly: tarfile's extractall with its data filter takes ~1.6x as long (a realpath
    and several calls per file), and is missing before Python 3.10.12. Stricter than that filter: a plain file
    or folder only (orch packs nothing else), its name neither absolute nor climbing out with '..', never
    written twice or through anything already there (O_EXCL): with no links, nothing can lead outside."""
    made = {place}
    for member in tar:
        parts = member.name.split("/")
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
            raise tarfile.TarError(f"{member.name!r} is not a plain file or folder inside the archive")
        target = os.path.join(place, *parts)
        folder = target if member.isdir() else os.path.dirname(target)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        if member.isfile():
            _code_write(tar.extractfile(member), target, 0o755 if member.mode & 0o100 else 0o644)


def _code_write(source, target, mode):
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        while True:
            block = source.read(CODE_READ)
            if not block:
                break
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _code_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CODE_READ), b""):
            digest.update(block)
    return digest.hexdigest()
