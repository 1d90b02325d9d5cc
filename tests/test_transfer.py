"""Moving artifacts (orch.backends.transfer) against a folder store and a real S3-compatible server:
folders arrive exactly, a store never holds half an artifact, and failures say what and where."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from unittest import mock

from orch.backends import transfer
from orch.backends.transfer import ArtifactError, check_store, fetch, publish


def make_tree(root: Path) -> Path:
    (root / "ünïcode dir" / "deep").mkdir(parents=True)
    (root / "ünïcode dir" / "deep" / "ß.bin").write_bytes(bytes(range(256)) * 3)
    (root / "empty-dir").mkdir()
    (root / "empty-file").write_bytes(b"")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "link").symlink_to("run.sh")
    (root / ("n" * 200)).write_text("a long name")  # past ustar's 100 characters
    return root


def tree_of(root: Path) -> dict:
    found = {}
    for entry in sorted(root.rglob("*")):
        name = entry.relative_to(root).as_posix()
        if entry.is_symlink():
            found[name] = ("link", os.readlink(entry))
        elif entry.is_dir():
            found[name] = "dir"
        else:
            found[name] = (entry.read_bytes(), bool(entry.stat().st_mode & stat.S_IXUSR))
    return found


@pytest.fixture(params=["system-tar", "python-tar"])
def tar(request):
    """Both ways a folder is packed and unpacked: the system's tar, and Python's where there is none."""
    with mock.patch.object(transfer, "SYSTEM_TAR", [] if request.param == "system-tar" else [None]):
        if request.param == "system-tar":
            assert transfer.system_tar() is not None  # CI's machine has GNU tar
        yield request.param


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path):
    if request.param == "folder":
        return f"file://{tmp_path / 'store'}"
    return f"{request.getfixturevalue('s3_server')}/{uuid.uuid4().hex[:8]}"


def test_a_folder_arrives_exactly(store, tar, tmp_path):
    tree = make_tree(tmp_path / "tree")
    uri = publish(store, "p/run/step/out", tree)
    assert uri == f"{store}/p/run/step/out.tar"
    got = fetch(uri, str(tmp_path / "copy"))
    assert tree_of(Path(got)) == tree_of(tree)


def test_a_file_is_stored_as_it_is(store, tmp_path):
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(3 << 20) + b"\x00\r\n")
    uri = publish(store, "p/run/train/model", source)
    assert uri == f"{store}/p/run/train/model" and source.exists()
    assert Path(fetch(uri, str(tmp_path / "copy"))).read_bytes() == source.read_bytes()


def test_an_empty_folder_arrives_empty(store, tar, tmp_path):
    (tmp_path / "nothing").mkdir()
    got = fetch(publish(store, "p/r/s/o", tmp_path / "nothing"), str(tmp_path / "copy"))
    assert Path(got).is_dir() and not any(Path(got).iterdir())


def test_a_movable_file_is_moved_into_a_folder_store_and_nothing_half_written_is_left(tmp_path):
    left = tmp_path / "outputs" / "model"
    left.parent.mkdir()
    left.write_bytes(b"weights")
    uri = publish(f"file://{tmp_path / 'store'}", "p/r/s/model", left, movable=True)
    assert not left.exists() and Path(uri[len("file://"):]).read_bytes() == b"weights"
    assert [p.name for p in (tmp_path / "store" / "p" / "r" / "s").iterdir()] == ["model"]  # no .part- file


def test_what_is_not_there_or_not_a_file_fails_saying_so(store, tmp_path):
    with pytest.raises(ArtifactError, match="does not exist"):
        publish(store, "p/r/s/o", tmp_path / "missing")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ArtifactError, match="neither a file nor a folder"):
        publish(store, "p/r/s/o", tmp_path / "fifo")
    with pytest.raises(ArtifactError, match="not in the store"):
        fetch(f"{store}/p/r/s/never", str(tmp_path / "x"))


def test_a_store_that_cannot_be_written_is_found_before_use(tmp_path, s3_server):
    check_store(f"{s3_server}/fine", "p/run")
    with pytest.raises(ArtifactError, match="s3://no-such-bucket-orch/x cannot be written"):
        check_store("s3://no-such-bucket-orch/x", "p/run")
    blocked = tmp_path / "file-in-the-way"
    blocked.write_text("")
    with pytest.raises(ArtifactError, match="cannot be written"):
        check_store(f"file://{blocked}", "p/run")


@pytest.mark.parametrize("entries", [
    [("../evil", b"x")],  # climbs out by name
    [("/abs/evil", b"x")],  # an absolute name
    [("a", "/"), ("a/evil", b"x")],  # climbs out through a link it made first
], ids=["dotdot", "absolute", "through-a-link"])
def test_a_tampered_tar_cannot_write_outside_its_folder(tmp_path, entries):
    import io
    import tarfile

    archive = tmp_path / "store" / "p" / "r" / "s" / "o.tar"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    for tar in (None, "system"):  # the system's tar, and Python's where there is none
        with mock.patch.object(transfer, "SYSTEM_TAR", [] if tar else [None]):
            try:
                fetch(f"file://{archive}", str(tmp_path / "inside" / (tar or "python")))
            except ArtifactError as err:
                assert "cannot fetch" in str(err)
            else:
                assert entries[0][0] == "/abs/evil"  # GNU tar strips the '/': it lands inside
        assert not (tmp_path / "inside" / "evil").exists() and not Path("/abs/evil").exists() and not Path("/evil").exists()


def test_only_a_plain_file_of_its_own_is_moved_into_the_store(tmp_path):
    """A command that leaves a link, or a second name of a file, at $ORCH_OUTPUTS/NAME stores what it points to,
    copied: the store never shares a file that may change after."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "real.bin").write_text("v1")
    (outputs / "model").symlink_to("real.bin")
    (tmp_path / "data.bin").write_text("v1")
    os.link(tmp_path / "data.bin", outputs / "second")
    store = f"file://{tmp_path / 'store'}"
    linked = publish(store, "p/r/s/model", outputs / "model", movable=True)
    named = publish(store, "p/r/s/second", outputs / "second", movable=True)
    (outputs / "real.bin").write_text("CHANGED")
    (tmp_path / "data.bin").write_text("CHANGED")
    for uri in (linked, named):
        assert not os.path.islink(uri[len("file://"):]) and Path(uri[len("file://"):]).read_text() == "v1"
