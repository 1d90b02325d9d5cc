"""Shipping a pipeline's own code: the project that holds its python modules, packed once into a
deterministic tar.gz named by its sha256 and uploaded once to `<store>/code/<sha256>.tar.gz`.

What is shipped is what git would commit (tracked and untracked-but-not-ignored files) when the
project is in a git work tree, else every file but the usual clutter (IGNORED). Either way nothing
named `.env` or `.env.*` is ever shipped (it holds secrets, and a pack is readable by everyone who
can read the store), nor `.orch` (orch's own runs and default artifact store: shipped, they would
change the code's sha256 with every run). The archive depends on the files' names, contents and
owner-exec bits only, so unchanged code gives the same sha256 and the second run uploads nothing.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import json
import os
import shutil
import secrets
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from orch.core import artifacts

from . import transfer, workspace

SECRETS = (".env", ".env.*")
NEVER = SECRETS + (".orch",)  # never shipped, whatever git says: secrets, and orch's own runs and artifacts
IGNORED = (".git", ".hg", ".svn", "__pycache__", "*.pyc", "*.pyo", ".venv", "venv", "env", ".tox", ".nox",
           ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "node_modules", ".orch", "build",
           "dist", "*.egg-info", ".DS_Store") + SECRETS
# zlib's fastest: a 20 MB project packs in ~0.47 s on one core (level 3: 0.54 s, 6: 1.1 s) for an archive
# ~15% bigger than level 6's (8.8 MB against 7.4): bench/codepack.py
GZIP_LEVEL = 1
SHOWN = 8  # top-level entries in the summary
LARGEST = 5  # files named when a project is too big
COPY = 1 << 20  # tarfile's write buffer
# the archive's first entry: what went in. It also keeps the archive from ever holding one top-level entry,
# which Argo's untar would rename to the artifact's path (executor.go), leaving the step's folder without it
MANIFEST = ".orch-code.json"


class PackTooBig(Exception):
    """The project's files pass the size limit: refused before anything is packed."""

    def __init__(self, size: int, limit: int, largest: list[tuple[str, int]]):
        self.size, self.limit, self.largest = size, limit, largest
        names = ", ".join(f"{name} ({human(n)})" for name, n in largest)
        super().__init__(f"the code to ship is {human(size)}, over the limit of {human(limit)}; the largest files: "
                         f"{names}")
        self.hint = "add patterns to code.exclude, or raise code.max_size"


@dataclass(frozen=True)
class Pack:
    """A packed project: what went in (relative path, size), and the archive in the cache."""

    root: Path
    files: tuple[tuple[str, int], ...]
    size: int
    archive: Path
    archive_size: int
    sha256: str
    skipped: tuple[str, ...] = ()  # links not shipped, each with why


def project_files(root: Path, exclude: tuple[str, ...] = (), skipped: list[str] | None = None,
                  skip: tuple[Path, ...] = ()) -> list[tuple[str, Path]]:
    """The files to ship as (POSIX path relative to `root`, path to read), sorted by the relative path. A link
    whose target is a file inside `root` that would be shipped itself is read through; any other link is left out
    and its reason appended to `skipped`. `skip`: folders never shipped (orch's own state, cache, folder store)."""
    root = Path(root).resolve()
    listed = _git_files(root)
    names = listed if listed is not None else _walked(root, IGNORED + tuple(exclude))
    never = NEVER + tuple(exclude) + (IGNORED if listed is None else ())  # what a link may not lead to either
    found = []
    for rel in names:
        if _excluded(rel, NEVER + tuple(exclude)) or _within(root / rel, skip):
            continue
        path = root / rel
        why = _unshippable(root, path, never, skip)
        if why is None:
            found.append((rel, path))
        elif why and skipped is not None:
            skipped.append(f"{rel} ({why})")
    return sorted(found)


def pack(root: Path, exclude: tuple[str, ...] = (), limit: int = 100_000_000, cache: Path | None = None,
         skip: tuple[Path, ...] = ()) -> Pack:
    """The project at `root` packed into `<cache>/code/<sha256>.tar.gz`; PackTooBig before anything is written
    when its files pass `limit` bytes. `skip`: folders never shipped (the cache itself is one)."""
    root = Path(root).resolve()
    cache = Path(cache if cache is not None else workspace.cache_dir())
    skip = tuple(Path(p).resolve() for p in (*skip, cache))
    skipped: list[str] = []
    files = [(rel, path, path.stat()) for rel, path in project_files(root, exclude, skipped, skip)]
    size = sum(info.st_size for _, _, info in files)
    if size > limit:
        raise PackTooBig(size, limit, sorted(((rel, info.st_size) for rel, _, info in files),
                                             key=lambda item: (-item[1], item[0]))[:LARGEST])
    folder = cache / "code"
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f".pack-{secrets.token_hex(4)}.part"  # renamed once whole: a reader never sees half
    try:
        with open(part, "xb") as out:
            sha = _write_archive(files, out)
        archive = folder / f"{sha}.tar.gz"
        os.replace(part, archive)
    finally:
        part.unlink(missing_ok=True)
    return Pack(root, tuple((rel, info.st_size) for rel, _, info in files), size, archive,
                archive.stat().st_size, sha, tuple(skipped))


def summary(pack: Pack) -> list[str]:
    """What a run prints about the code it ships: the totals, then the biggest top-level entries."""
    lines = [f"code: {_counted(len(pack.files), 'file')}, {human(pack.size)} (archive {human(pack.archive_size)}) "
             f"sha256 {pack.sha256[:12]}"]
    tops: dict[str, list[int]] = {}
    for rel, size in pack.files:
        head, _, rest = rel.partition("/")
        entry = tops.setdefault(head + "/" if rest else head, [0, 0])
        entry[0] += 1
        entry[1] += size
    ranked = sorted(tops.items(), key=lambda item: (-item[1][1], item[0]))
    for name, (count, size) in ranked[:SHOWN]:
        lines.append(f"  {name}  {_counted(count, 'file')}  {human(size)}" if name.endswith("/")
                     else f"  {name}  {human(size)}")
    if len(ranked) > SHOWN:
        lines.append(f"  … and {len(ranked) - SHOWN} more")
    lines += [f"  skipped: {why}" for why in pack.skipped]
    return lines


def code_uri(store: str, sha: str) -> str:
    """Where the code with this sha256 lives in the store (as orch writes stores: `file:///abs`, `s3://b/p`)."""
    workspace.check_code_sha(sha)
    return artifacts.code_uri(store, sha)


def upload_once(pack: Pack, store: str, connect=None) -> bool:
    """Upload the archive unless the store has it already: True when uploaded. The name is the content's hash,
    so an object there of the archive's size is this code (one of another size, a truncated copy, is replaced);
    transfer's publish stores it whole or not at all."""
    uri = code_uri(store, pack.sha256)
    if _stored_size(uri, connect) == pack.archive_size:
        return False
    transfer.publish(store.rstrip("/"), uri[len(store.rstrip("/")) + 1:], pack.archive, connect=connect)
    return True


def _stored_size(uri: str, connect) -> int | None:
    """The size of the object at `uri` (None: there is none), asked as transfer reaches the store."""
    try:
        if uri.startswith(transfer.LOCAL):
            return os.path.getsize(uri[len(transfer.LOCAL):])
        fs, path = transfer._filesystem(uri, connect)
        return fs.size(path)
    except FileNotFoundError:
        return None
    except Exception as err:  # noqa: BLE001 - whatever the store's client raises, said with the URL
        raise transfer.ArtifactError(f"cannot look for {uri}: {transfer._cause(err)}") from None


def human(size: int) -> str:
    """Bytes in decimal units (as code.max_size is written): 512 B, 40 KB, 1.5 MB, 20 MB."""
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            break
        value /= 1000
    if unit == "B" or value >= 10:
        return f"{value:.0f} {unit}"
    return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"


def _counted(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _git_files(root: Path) -> list[str] | None:
    """What git would commit under `root` (tracked, and untracked but not ignored), relative to it; None when
    `root` is not in a work tree or git is not installed. Tracked files deleted since are left out later."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run([git, "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                              capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return sorted({name for name in done.stdout.decode("utf-8", "surrogateescape").split("\0") if name})


def _walked(root: Path, ignored: tuple[str, ...]) -> list[str]:
    """Every file and link under `root` outside the `ignored` names, relative to it (links to folders are not
    entered: what they lead to inside `root` is walked where it is)."""
    found = []
    for top, folders, names in os.walk(root):
        here = Path(top).relative_to(root).as_posix()
        prefix = "" if here == "." else here + "/"
        links = [name for name in folders if os.path.islink(os.path.join(top, name))]
        folders[:] = [name for name in folders if name not in links and not _excluded(prefix + name, ignored)]
        found += [prefix + name for name in names + links if not _excluded(prefix + name, ignored)]
    return found


def _excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    """Whether a pattern matches any segment of `rel`, or `rel`, or the path of any folder above it: `data`,
    `*.ckpt`, `ml/data` and `ml/*.bin` all work, on the git listing and the walk alike."""
    parts = rel.split("/")
    paths = ["/".join(parts[:i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in parts + paths)


def _within(path: Path, folders: tuple[Path, ...]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _unshippable(root: Path, path: Path, never: tuple[str, ...] = NEVER, skip: tuple[Path, ...] = ()) -> str | None:
    """Why `path` is not shipped: '' when there is nothing to say (gone, or not a file), a reason for a link
    (one leading to what is never shipped -- a `.env`, an ignored folder, orch's state -- is not read through)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return ""  # tracked but deleted
    if stat.S_ISREG(info.st_mode):
        return None
    if stat.S_ISDIR(info.st_mode):
        return "a git submodule"  # (the only folder git lists)
    if not stat.S_ISLNK(info.st_mode):
        return ""  # a socket, a fifo
    target = path.resolve()
    if not target.is_relative_to(root):
        return "a link leading outside the project"
    if not target.is_file():
        return "a link to a folder" if target.is_dir() else "a link to nothing"
    if _excluded(target.relative_to(root).as_posix(), never) or _within(target, skip):
        return "a link to a file that is not shipped"
    return None


class _Hashing:
    """A file that hashes what is written to it, so the archive is read once: while it is written."""

    def __init__(self, raw):
        self.raw, self.digest = raw, hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _write_archive(files, out) -> str:
    """The files as a tar.gz that depends on names, contents and the owner-exec bit only; its sha256."""
    hashing = _Hashing(out)
    with gzip.GzipFile(filename="", mode="wb", fileobj=hashing, compresslevel=GZIP_LEVEL, mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w|", format=tarfile.PAX_FORMAT, bufsize=COPY) as tar:
            listing = json.dumps([[rel, info.st_size] for rel, _, info in files]).encode()
            tar.addfile(_entry(MANIFEST, len(listing), 0o644), io.BytesIO(listing))
            for rel, path, info in files:
                with open(path, "rb") as source:
                    tar.addfile(_entry(rel, info.st_size, 0o755 if info.st_mode & stat.S_IXUSR else 0o644), source)
    return hashing.digest.hexdigest()


def _entry(name: str, size: int, mode: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.size, entry.mtime, entry.mode = size, 0, mode
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    return entry
