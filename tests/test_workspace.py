"""Where a step gets its code (orch.backends.workspace): packed code fetched from a real S3-compatible server and
imported by a clean process that cannot see the source; the sha256 checked; one archive per machine however many
steps fetch at once; archives holding names outside their folder refused."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from orch.backends import codeunpack, workspace
from orch.backends.codepack import code_uri, pack, upload_once
from orch.backends.transfer import ArtifactError
from orch.backends.workspace import cache_dir, code_archive, code_folder, unpack_code

# A step's first lines: the code made ready, then imported. argv: uri, sha, place, and a file whose appearance
# says go (so two of these start fetching at the same moment).
STEP = '''
import json, os, sys, time
uri, sha, place, go = sys.argv[1:5]
while go and not os.path.exists(go):
    time.sleep(0.01)
from orch.backends.workspace import code_folder
sys.path.insert(0, code_folder(uri, sha, place))
import mypkg.mod
mode = os.stat(mypkg.mod.__file__).st_mode
print(json.dumps({"value": mypkg.mod.VALUE, "file": mypkg.mod.__file__, "writable": bool(mode & 0o200)}))
'''


def make_project(root: Path, value: int = 42) -> Path:
    (root / "mypkg").mkdir(parents=True)
    (root / "mypkg" / "__init__.py").write_text("")
    (root / "mypkg" / "mod.py").write_text(f"from . import helper\nVALUE = helper.twice({value // 2})\n")
    (root / "mypkg" / "helper.py").write_text("def twice(x):\n    return 2 * x\n")
    return root


def step(tmp_path: Path, uri: str, sha: str, place: Path, cache: Path, go: str = "") -> subprocess.Popen:
    """A clean child: its own scratch folder as cwd, its own cache, no PYTHONPATH; the store's AWS_* inherited."""
    scratch = tmp_path / f"scratch-{uuid.uuid4().hex[:6]}"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"ORCH_CACHE": str(cache)}
    return subprocess.Popen([sys.executable, "-c", STEP, uri, sha, str(place), go], cwd=scratch, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


@pytest.fixture
def shipped(s3_server, tmp_path):
    """The project packed and uploaded to the S3 server, then its source and the packer's cache removed."""
    source = make_project(tmp_path / "source")
    made = pack(source, cache=tmp_path / "packer-cache")
    store = f"{s3_server}/{uuid.uuid4().hex[:8]}"
    assert upload_once(made, store)
    shutil.rmtree(source)
    shutil.rmtree(tmp_path / "packer-cache")
    return code_uri(store, made.sha256), made.sha256


def test_a_clean_process_imports_the_shipped_code(shipped, tmp_path):
    uri, sha = shipped
    place = tmp_path / "attempt-1" / "code"
    got = finished(step(tmp_path, uri, sha, place, tmp_path / "cache"))
    assert got == {"value": 42, "file": str(place / "mypkg" / "mod.py"), "writable": True}
    assert os.listdir(tmp_path / "cache" / "code") == [f"{sha}.tar.gz"]


def test_steps_starting_at_once_both_run_and_the_machine_keeps_one_archive(shipped, tmp_path):
    uri, sha = shipped
    go = tmp_path / "go"
    steps = [step(tmp_path, uri, sha, tmp_path / f"attempt-{i}", tmp_path / "cache", str(go)) for i in range(2)]
    go.touch()
    assert [finished(p)["value"] for p in steps] == [42, 42]
    assert os.listdir(tmp_path / "cache" / "code") == [f"{sha}.tar.gz"]


def test_the_archive_is_fetched_once_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    made = pack(make_project(tmp_path / "p"), cache=tmp_path / "packer")
    store = f"file://{tmp_path / 'store'}"
    upload_once(made, store)
    uri = code_uri(store, made.sha256)
    first = code_archive(uri, made.sha256)
    os.unlink(uri[len("file://"):])  # the store's copy gone: only the cached one can serve now
    assert code_archive(uri, made.sha256) == first
    code_folder(uri, made.sha256, str(tmp_path / "a1"))
    code_folder(uri, made.sha256, str(tmp_path / "a2"))
    assert (tmp_path / "a2" / "mypkg" / "mod.py").is_file()


def test_code_other_than_the_rendered_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    made = pack(make_project(tmp_path / "p"), cache=tmp_path / "packer")
    store = f"file://{tmp_path / 'store'}"
    upload_once(made, store)
    other = "0" * 64
    with pytest.raises(ArtifactError, match="not the code this pipeline was rendered with"):
        code_archive(code_uri(store, made.sha256), other)
    assert os.listdir(tmp_path / "cache" / "code") == []  # neither the copy nor a part of it kept


def test_a_damaged_cached_archive_is_fetched_again(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    made = pack(make_project(tmp_path / "p"), cache=tmp_path / "packer")
    store = f"file://{tmp_path / 'store'}"
    upload_once(made, store)
    cached = tmp_path / "cache" / "code" / f"{made.sha256}.tar.gz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(made.archive.read_bytes()[:100])  # a truncated copy
    assert code_archive(code_uri(store, made.sha256), made.sha256) == str(cached)
    assert cached.read_bytes() == made.archive.read_bytes()


def tampered(path: Path, entries: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for entry in entries:
            tar.addfile(entry, io.BytesIO(b"x" * entry.size) if entry.isfile() else None)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize("bad", [entry("../evil.py"), entry("pkg/../../evil.py"), entry("/tmp/evil.py"),
                                 entry("link", tarfile.SYMTYPE, "../.."), entry("hard", tarfile.LNKTYPE, "/etc/passwd"),
                                 entry("pipe", tarfile.FIFOTYPE)], ids=lambda e: e.name)
def test_an_archive_with_entries_outside_its_folder_is_refused(tmp_path, bad):
    archive = tampered(tmp_path / "bad.tar.gz", [entry("ok.py"), bad])
    place = tmp_path / "deep" / "place"
    with pytest.raises(ArtifactError, match="is not a plain file or folder inside the archive"):
        unpack_code(str(archive), str(place))
    assert not place.exists() and not (tmp_path / "deep" / "evil.py").exists() and not (tmp_path / "evil.py").exists()


def test_a_tampered_archive_refused_through_code_folder(tmp_path, monkeypatch):
    """Even with the right sha (the store's copy is what was rendered, and it is hostile), nothing lands outside."""
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    archive = tampered(tmp_path / "bad.tar.gz", [entry("../../escaped.py")])
    sha = codeunpack.code_digest(str(archive))
    with pytest.raises(ArtifactError):
        code_folder(f"file://{archive}", sha, str(tmp_path / "a" / "b"))
    assert not (tmp_path / "escaped.py").exists()


def test_code_is_unpacked_only_into_an_empty_folder(tmp_path):
    made = pack(make_project(tmp_path / "p"), cache=tmp_path / "packer")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "old.py").write_text("")
    with pytest.raises(ArtifactError, match="not an empty folder"):
        unpack_code(str(made.archive), str(tmp_path / "busy"))
    (tmp_path / "empty").mkdir()
    assert unpack_code(str(made.archive), str(tmp_path / "empty")) == str(tmp_path / "empty")
    assert (tmp_path / "empty" / "mypkg" / "helper.py").read_text().startswith("def twice")


def test_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("ORCH_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == str(tmp_path / ".cache" / "orch")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert cache_dir() == "/xdg/orch"
    monkeypatch.setenv("ORCH_CACHE", "/mine")
    assert cache_dir() == "/mine"


def test_workspace_needs_nothing_but_the_standard_library_transfer_and_codeunpack():
    def imports(module):
        return [line for line in Path(module.__file__).read_text().splitlines() if line.startswith(("import ", "from "))]

    assert imports(workspace) == [
        "import os", "import secrets",
        "from orch.backends.codeunpack import CodeError, check_code_sha, code_digest, unpack_into  # embedded: codeunpack",
        "from orch.backends.transfer import ArtifactError, fetch  # embedded: transfer"]
    assert imports(codeunpack) == ["import hashlib", "import os", "import tarfile"]  # (shutil, where it fails)
