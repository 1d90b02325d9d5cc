"""orch's code archive, checked and unpacked: what every place a step runs shares, whoever fetched it
(workspace.py from a store, the pod runner from a presigned URL, podplace.py).

Standard library only and importing nothing of orch, so it is copied into rendered flow modules, DAG files
and the pod runner alike.
"""

import hashlib
import os
import tarfile

CODE_READ = 1 << 20  # bytes read, hashed and written at a time


class CodeError(Exception):
    """The shipped code is not what was rendered, or cannot be unpacked."""


def check_code_sha(sha):
    """A code archive's sha256 as orch names it (64 lowercase hex digits), else ValueError: it becomes a path."""
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise ValueError(f"{sha!r} is not a sha256 (64 lowercase hex digits)")


def code_digest(path):
    """The sha256 of the file at `path`, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CODE_READ), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack_into(archive, place):
    """The code archive unpacked into the folder `place` (made; it must not exist or be empty), writable as a
    checkout is (its mode: 0o644, or 0o755 for a file its owner could run, less the umask); CodeError else."""
    if os.path.isdir(place) and os.listdir(place) or os.path.lexists(place) and not os.path.isdir(place):
        raise CodeError(f"cannot unpack the code into {place}: it exists and is not an empty folder")
    os.makedirs(place, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            _code_unpacked(tar, place)
    except (tarfile.TarError, OSError, EOFError) as err:
        import shutil

        shutil.rmtree(place, ignore_errors=True)
        raise CodeError(f"cannot unpack the code archive {archive}: {err}") from None
    return place


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
            write_all(fd, block)
    finally:
        os.close(fd)


def write_all(fd, data):
    """All of `data` to the file descriptor `fd` (os.write may take part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
