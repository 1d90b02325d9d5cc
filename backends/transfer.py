"""Moving artifacts between a step's disk and the store, streamed: nothing is held in memory whole.

Standard library only, and copied into rendered flow modules and DAG files (after
orch.core.artifacts), so a step needs nothing of orch to publish or fetch. A `file://` store
is a folder on this machine, reached with the standard library alone (what lets the local
backend's forked attempts stay light); any other store goes through fsspec, or through the
`connect` a backend gives (Airflow's ObjectStoragePath). A file is stored as it is; a folder as
one POSIX tar, so every name, empty file and empty folder arrives exactly, and 10,000 small
files are one object, not 10,000.
"""

import errno
import os
import secrets
import shutil
import stat
import subprocess
import tarfile
import tempfile

from orch.core.artifacts import FOLDER_SUFFIX, PARAMS_FOLDER, PROBE, artifact_key, is_folder, param_uri_problem, shown  # embedded: artifacts

BLOCK = 8 << 20  # bytes moved at a time, and an object store's least part size
MAX_PARTS = 9_000  # parts of one upload, under S3's 10,000: a bigger artifact gets bigger parts
TAR_BUFFER = 64 << 10  # tarfile's stream buffer: it re-slices the whole buffer on every small read
LOCAL = "file://"
PERMISSIONS = 0o755  # what an unpacked entry keeps of its mode: no set-id or sticky bit, no write but its owner's


class ArtifactError(Exception):
    """An artifact could not be stored or fetched: the step fails with this, in these words. The attempt could
    not run or was lost (an error, docs/semantics.md#retries) -- unless it is a MissingArtifact."""


class MissingArtifact(ArtifactError):
    """What the step left as an artifact output is not there, or is neither a file nor a folder: its own failure."""


class Destination:
    """Where one attempt's artifacts go: the store, and each output's key (`item`: the fan-out index)."""

    def __init__(self, store, pipeline, run_id, step, item=None, connect=None):
        self.store, self.pipeline, self.run_id, self.step, self.item, self.connect = \
            store, pipeline, run_id, step, item, connect

    def publish(self, name, path, movable=False):
        """Store what is at `path` as output `name`; its URI. `movable`: orch's own copy, free to move."""
        try:
            key = artifact_key(self.pipeline, self.run_id, self.step, name, self.item)
            return publish(self.store, key, path, movable, self.connect)
        except (ArtifactError, ValueError) as err:
            raise (type(err) if isinstance(err, ArtifactError) else ArtifactError)(f"output {name!r}: {err}") from None


class Inputs:
    """The copies one attempt reads, each fetched once, in a folder removed when the attempt ends; a copy that
    cannot be fetched is told to `failed` (the engine's record of the step's error) before it fails the step."""

    def __init__(self, connect=None, failed=None):
        self.connect, self.failed, self.fetched, self.folder = connect, failed, {}, None

    def __enter__(self):
        self.folder = tempfile.mkdtemp(prefix="orch-inputs-")
        return self

    def __exit__(self, kind, error, trace):
        shutil.rmtree(self.folder, ignore_errors=True)
        if isinstance(error, ArtifactError) and self.failed is not None:
            self.failed(str(error))

    def fetch(self, value, step, output):
        """The local path of upstream `step`'s artifact `output` (a list of paths for a fan-out's, lists of lists
        inside fan-out groups); None stays None."""
        if (step, output) not in self.fetched:
            self.fetched[(step, output)] = self._one(value, os.path.join(self.folder, step, output))
        return self.fetched[(step, output)]

    def param(self, uri, name):
        """The local path of artifact param `name`'s copy, fetched from its URI as it is (a '/' at the end: a
        folder); None stays None."""
        if ("", name) not in self.fetched:
            place = os.path.join(self.folder, PARAMS_FOLDER, name)
            os.makedirs(os.path.dirname(place), exist_ok=True)
            problem = None if uri is None else param_uri_problem(uri)  # (a value given in the engine's own form)
            if problem:
                raise ArtifactError(f"param {name!r}: {problem}")
            self.fetched[("", name)] = None if uri is None else fetch(uri, place, self.connect, archived=False)
        return self.fetched[("", name)]

    def _one(self, uri, place):
        if isinstance(uri, list):
            return [self._one(each, os.path.join(place, str(i))) for i, each in enumerate(uri)]
        if uri is None:
            return None
        os.makedirs(os.path.dirname(place), exist_ok=True)
        return fetch(uri, place, self.connect)


def publish(store, key, path, movable=False, connect=None):
    """Store the file or folder at `path` under `key`; the artifact's URI."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise MissingArtifact(f"{path} does not exist")
    folder = os.path.isdir(path)
    if not folder and not os.path.isfile(path):
        raise MissingArtifact(f"{path} is neither a file nor a folder")
    uri = f"{store}/{key}{FOLDER_SUFFIX if folder else ''}"
    try:
        if uri.startswith(LOCAL):
            _publish_here(uri[len(LOCAL):], path, folder, movable)
        else:
            _publish_remote(uri, path, folder, connect)
    except ArtifactError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the store's client raises (botocore's own errors too)
        raise ArtifactError(f"cannot store {path} at {uri}: {_cause(err)}") from None
    return uri


def fetch(uri, place, connect=None, archived=True):
    """Copy the artifact at `uri` to `place` (a file, or a folder made there); `place`. `archived`: a URI orch
    stored (a folder is a tar); else an artifact param's URI, fetched as it is, a folder when it ends in '/'."""
    if uri.startswith("/"):  # an artifact param given as a path
        uri = LOCAL + uri
    try:
        tarred = archived and is_folder(uri)  # orch's own folder: one tar; an artifact param is copied as it is
        if not archived and uri.endswith("/"):
            _fetch_folder(uri, place, connect)
        elif uri.startswith(LOCAL) and tarred:
            with open(uri[len(LOCAL):], "rb") as handle:
                _untar(handle, place)
        elif uri.startswith(LOCAL):
            _clone_or_copy(uri[len(LOCAL):], place)
        else:
            fs, path = _filesystem(uri, connect)
            with fs.open(path, "rb", block_size=BLOCK) as handle:
                _untar(handle, place) if tarred else _write(handle, place)
    except FileNotFoundError:
        raise ArtifactError(f"cannot fetch {shown(uri)}: " + ("it is not in the store" if archived else
                                                               "nothing is there")) from None
    except IsADirectoryError:
        raise ArtifactError(f"cannot fetch {shown(uri)}: it is a folder; a URI that names a folder ends in '/'") \
            from None
    except ArtifactError:
        raise
    except Exception as err:  # noqa: BLE001 - as in publish
        raise ArtifactError(f"cannot fetch {shown(uri)}: {_cause(err)}") from None
    return place


def _fetch_folder(uri, place, connect):
    """An artifact param's folder (a URI ending in '/'): every file under it, streamed one at a time, under `place`."""
    if uri.startswith(LOCAL):
        source = uri[len(LOCAL):]
        if not os.path.isdir(source):
            raise FileNotFoundError(source)
        shutil.copytree(source, place, symlinks=True)
        return
    fs, root = _filesystem(uri, connect)
    root = root.rstrip("/")
    found = fs.find(root, withdirs=True, detail=True)
    if not found:
        raise FileNotFoundError(root)
    os.makedirs(place, exist_ok=True)
    for path, info in sorted(found.items()):
        relative = path[len(root):].strip("/")
        parts = relative.split("/")
        if not relative or any(part in ("", ".", "..") for part in parts):
            continue  # the folder itself, or a key no file system path can hold
        target = os.path.join(place, *parts)
        if info.get("type") == "directory":
            os.makedirs(target, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with fs.open(path, "rb", block_size=BLOCK) as handle:
            _write(handle, target)


def check_store(store, prefix, connect=None):
    """Write and remove a probe object under `prefix`: a store that cannot be reached or written is found
    before any step runs."""
    uri = f"{store}/{prefix}/{PROBE}"
    try:
        if uri.startswith(LOCAL):
            os.makedirs(os.path.dirname(uri[len(LOCAL):]), exist_ok=True)
            with open(uri[len(LOCAL):], "wb"):
                pass
            os.unlink(uri[len(LOCAL):])
        else:
            fs, path = _filesystem(uri, connect)
            with fs.open(path, "wb") as handle:
                handle.write(b"orch")
            fs.rm_file(path)
    except Exception as err:  # noqa: BLE001 - whatever the store's client raises, said with the URL
        raise ArtifactError(f"the artifact store {store} cannot be written: {_cause(err)}") from None


def _publish_here(target, path, folder, movable):
    """Into a folder store: written beside the target, then renamed onto it, so a reader never sees half."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    part = f"{target}.part-{secrets.token_hex(4)}"  # ('.': no key orch makes holds one)
    try:
        if folder:
            with open(part, "wb") as handle:
                _tar(path, handle)
        elif not (movable and _moved(path, part)):
            _clone_or_copy(path, part)
        os.replace(part, target)
    finally:
        if os.path.lexists(part):
            os.unlink(part)


def _publish_remote(uri, path, folder, connect):
    fs, remote = _filesystem(uri, connect)
    handle = fs.open(remote, "wb", block_size=max(BLOCK, -(-_size(path, folder) // MAX_PARTS)))
    try:
        if folder:
            _tar(path, handle)
        else:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, handle, BLOCK)
    except BaseException:
        _abandon(fs, remote, handle)
        raise
    handle.close()  # the upload completes here, whole or not at all


def _size(path, folder):
    """Bytes to upload (a folder's files, and a header each): what sets the part size, so memory stays one part."""
    if not folder:
        return os.path.getsize(path)
    return sum(os.lstat(os.path.join(top, name)).st_size + 1024 for top, _, names in os.walk(path) for name in names)


def _abandon(fs, remote, handle):
    """Drop an unfinished upload instead of completing it: fsspec's buffered files commit whatever they hold when
    closed, so the upload is discarded (S3: aborted) and the file marked closed before anything closes it; a file
    that cannot discard is closed and what it wrote removed."""
    try:
        if hasattr(handle, "discard"):
            handle.discard()
            handle.closed = True
        else:
            handle.close()
            fs.rm_file(remote)
    except Exception:  # noqa: BLE001 - the error that stopped the upload is the one to report
        pass


def _moved(path, part):
    """Moved into the store if it is a plain file of its own (a link, or a file with other names, is copied:
    what it points to, or shares, may change after)."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        return False
    try:
        os.rename(path, part)
        return True
    except OSError as err:
        if err.errno in (errno.EXDEV, errno.EPERM, errno.EACCES):
            return False
        raise


def _clone_or_copy(source, target):
    """`target` a copy of `source`, made by the kernel: sharing its blocks where the file system can (btrfs, XFS:
    a copy that costs nothing), else copied without passing through this process; its permissions kept."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        left = os.fstat(src.fileno()).st_size
        try:
            while left > 0:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), left)
                if not copied:
                    break
                left -= copied
        except (AttributeError, OSError):  # no such call here, or not between these two file systems
            left = -1
        if left != 0:
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            shutil.copyfileobj(src, dst, BLOCK)
    shutil.copymode(source, target)


def _write(handle, place):
    with open(place, "wb") as out:
        shutil.copyfileobj(handle, out, BLOCK)


def _tar(folder, handle):
    """The folder's entries as a POSIX (pax) tar stream: by the system's GNU tar or bsdtar where there is one
    (ten times faster on many small files), else by Python's tarfile."""
    tar = system_tar()
    if tar is not None:
        return _piped([tar, "--format=pax", "-c", "-f", "-", "-C", folder, "."], source=None, sink=handle)
    with tarfile.open(fileobj=handle, mode="w|", format=tarfile.PAX_FORMAT, bufsize=TAR_BUFFER,
                      copybufsize=BLOCK) as tar:
        for name in sorted(os.listdir(folder)):
            tar.add(os.path.join(folder, name), arcname=name, filter=_whole_seconds)


def _whole_seconds(info):
    """Times to the second, as GNU tar keeps them: a fraction would cost each entry a pax header of its own."""
    info.mtime = int(info.mtime)
    return info


def _untar(handle, place):
    """The tar stream unpacked into the folder `place`: by the system's tar where there is one (it refuses a
    name climbing out with '..' and makes links last, so none can lead a later entry outside), else in Python."""
    os.makedirs(place, exist_ok=True)
    tar = system_tar()
    if tar is not None:
        return _piped([tar, "-x", "-f", "-", "-C", place, "--no-same-owner", "--no-same-permissions"], source=handle,
                      sink=None)
    _untar_here(handle, place)


def _untar_here(handle, place):
    """Python's way: plain files and folders written directly (a name that is absolute or climbs out with '..'
    is refused); from the first link on, every entry goes through tarfile's tar filter, which keeps links as
    they are, as tar does, and refuses an entry that a link would lead outside `place`."""
    careful, folders = False, []
    with tarfile.open(fileobj=handle, mode="r|", bufsize=TAR_BUFFER, copybufsize=BLOCK) as tar:
        for member in tar:
            careful = careful or not (member.isfile() or member.isdir())
            if careful:
                if not hasattr(tarfile, "tar_filter"):  # Python before 3.10.12
                    raise tarfile.TarError(f"{member.name} is a link, which this Python cannot unpack safely")
                tar.extract(member, place, filter="tar")
                continue
            parts = member.name.split("/")
            if member.name.startswith("/") or ".." in parts:
                raise tarfile.OutsideDestinationError(member, os.path.join(place, member.name))
            target = os.path.join(place, *parts)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
                folders.append((target, member))
                continue
            _write_member(tar.extractfile(member), target, member)
    for target, member in reversed(folders):  # last, so a read-only folder was still writable while it filled
        os.chmod(target, member.mode & PERMISSIONS)
        os.utime(target, (member.mtime, member.mtime))


SYSTEM_TAR = []  # the system's tar, once found: [path] or [None]


def system_tar():
    """GNU tar or bsdtar, if this machine has one (busybox's lacks pax and --no-same-owner)."""
    if not SYSTEM_TAR:
        found = shutil.which("tar")
        try:
            version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10).stdout \
                if found else ""
        except (OSError, subprocess.SubprocessError):
            version = ""
        SYSTEM_TAR.append(found if "GNU tar" in version or "bsdtar" in version else None)
    return SYSTEM_TAR[0]


def _piped(argv, source, sink):
    """Run `argv`, copying `source` to its stdin or its stdout to `sink`; a failure is a TarError with its words."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE if source else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE if sink else subprocess.DEVNULL, stderr=errors)
        try:
            if source is not None:
                try:
                    shutil.copyfileobj(source, process.stdin, BLOCK)
                except BrokenPipeError:
                    pass  # tar stopped reading: its status and words say why
                finally:
                    process.stdin.close()
            else:
                shutil.copyfileobj(process.stdout, sink, BLOCK)
        finally:
            if process.stdout is not None:
                process.stdout.close()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            said = [line for line in errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
            raise tarfile.TarError(f"tar exited with status {code}: {said[0] if said else 'no message'}")


def _write_member(source, target, member):
    """One file of a tar: its bytes, its mode as tar's filter leaves it (no set-id bits, no write for the group
    or others), its time; one descriptor, few system calls (10,000 files add up)."""
    mode = member.mode & PERMISSIONS
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        if member.size <= BLOCK:
            data = memoryview(source.read())
            while data:
                data = data[os.write(fd, data):]
        else:
            with os.fdopen(os.dup(fd), "wb") as out:
                shutil.copyfileobj(source, out, BLOCK)
        if os.stat(fd).st_mode & 0o7777 != mode:  # (the umask took some bits away)
            os.fchmod(fd, mode)
        os.utime(fd, (member.mtime, member.mtime))
    finally:
        os.close(fd)


def _filesystem(uri, connect):
    """An fsspec file system and the path in it: `connect`'s if the backend gives one (credentials its own way)."""
    if connect is not None:
        return connect(uri)
    try:
        import fsspec
    except ImportError:
        raise ArtifactError(f"storing artifacts at {uri} needs fsspec and the store's client: "
                            "pip install 'orch[s3]' (fsspec, s3fs)") from None
    return fsspec.core.url_to_fs(uri)


def _cause(err):
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(text.split())
