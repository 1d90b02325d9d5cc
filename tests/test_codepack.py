"""Packing a project's code (orch.backends.codepack): what is shipped (what git would commit, else all but the
usual clutter; never a `.env`), byte-identical archives for the same code, the size limit, and uploading once to
a folder store and to a real S3-compatible server."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from orch.backends import codepack, transfer
from orch.backends.codepack import MANIFEST, Pack, PackTooBig, code_uri, pack, project_files, summary, upload_once


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def shipped(root: Path, exclude: tuple[str, ...] = ()) -> list[str]:
    return [rel for rel, _ in project_files(root, exclude)]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def members(archive: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(archive, "r:gz") as tar:
        return {member.name: member for member in tar}


@pytest.fixture
def repo(tmp_path):
    """A git work tree: tracked, untracked, ignored, force-added secret, tracked-but-deleted files, and orch's own
    folder (untracked, not ignored: never shipped either)."""
    root = write(tmp_path / "repo", {
        ".gitignore": "*.log\nignored_dir/\n", "ml/train.py": "A = 1\n", "ml/new.py": "B = 2\n",
        "run.log": "noise", "ignored_dir/x.py": "", ".env": "TOKEN=s3cr3t", "gone.py": "", "build/kept.txt": "x",
        ".orch/artifacts/run/out": "an artifact"})
    git(root, "init", "-q")
    git(root, "add", ".gitignore", "ml/train.py", "gone.py", "build/kept.txt")
    git(root, "add", "-f", ".env")
    (root / "gone.py").unlink()
    return root


def test_a_git_project_ships_what_git_would_commit(repo):
    assert shipped(repo) == [".gitignore", "build/kept.txt", "ml/new.py", "ml/train.py"]


def test_a_folder_of_a_git_project_ships_its_own_files_only(repo):
    assert shipped(repo / "ml") == ["new.py", "train.py"]


def test_without_git_installed_the_folder_is_walked(repo, monkeypatch):
    monkeypatch.setenv("PATH", "")
    assert shipped(repo) == [".gitignore", "ignored_dir/x.py", "ml/new.py", "ml/train.py", "run.log"]


def test_a_plain_folder_skips_the_usual_clutter(tmp_path):
    clutter = [".git/HEAD", ".venv/bin/python", "venv/x", "env/y", ".tox/a", "node_modules/m/i.js",
               "pkg/__pycache__/m.cpython-311.pyc", "pkg/stale.pyc", "build/lib/x.py", "dist/p.whl",
               "p.egg-info/PKG-INFO", ".DS_Store", ".orch/artifacts/x", ".pytest_cache/v", ".ipynb_checkpoints/n"]
    kept = ["envelope.py", "environment/conf.py", "pkg/__init__.py", "pkg/m.py", "run.sh"]
    write(tmp_path, {name: "x" for name in clutter + kept})
    assert shipped(tmp_path) == kept


@pytest.mark.parametrize("in_git", [False, True])
def test_no_env_file_is_ever_shipped(tmp_path, in_git):
    write(tmp_path, {".env": "A=1", ".env.production": "B=2", "config/.env": "C=3", ".env.d/x": "D", "app.py": "",
                     ".envrc": "kept: not a .env"})
    if in_git:
        git(tmp_path, "init", "-q")
        git(tmp_path, "add", "-f", ".")
    assert shipped(tmp_path) == [".envrc", "app.py"]


def test_exclude_matches_a_segment_a_path_or_a_folder_above(tmp_path):
    write(tmp_path, {"ml/raw/a.csv": "", "ml/model.ckpt": "", "data/big.bin": "", "ml/keep.py": "", "ml/x.bin": "",
                     "top.bin": ""})
    assert shipped(tmp_path, ("data", "*.ckpt", "ml/raw", "ml/*.bin")) == ["ml/keep.py", "top.bin"]


@pytest.mark.parametrize("in_git", [False, True])
def test_links_inside_are_read_through_and_others_reported(tmp_path, in_git):
    root = write(tmp_path / "p", {"real.py": "X = 1\n", "sub/y.py": ""})
    (tmp_path / "outside.py").write_text("SECRET")
    (root / "alias.py").symlink_to("real.py")
    (root / "out.py").symlink_to(tmp_path / "outside.py")
    (root / "folder").symlink_to("sub")
    (root / "broken.py").symlink_to("nowhere.py")
    if in_git:
        git(root, "init", "-q")
    made = pack(root, cache=tmp_path / "cache")
    assert [name for name, _ in made.files] == ["alias.py", "real.py", "sub/y.py"]
    assert sorted(made.skipped) == ["broken.py (a link to nothing)", "folder (a link to a folder)",
                                    "out.py (a link leading outside the project)"]
    with tarfile.open(made.archive, "r:gz") as tar:
        assert tar.getmember("alias.py").isfile() and tar.extractfile("alias.py").read() == b"X = 1\n"


def project(root: Path) -> Path:
    write(root, {"pkg/__init__.py": "", "pkg/mod.py": "VALUE = 42\n", "bin/run": "#!/bin/sh\n",
                 "data.bin": os.urandom(5000)})
    (root / "bin/run").chmod(0o755)
    return root


def test_the_same_code_gives_the_same_archive_byte_for_byte(tmp_path):
    root = project(tmp_path / "p")
    first = pack(root, cache=tmp_path / "c1")
    for i, path in enumerate(sorted(root.rglob("*"))):
        os.utime(path, (1_000_000 + i, 2_000_000 + i))
        if path.is_file():
            path.chmod(path.stat().st_mode | 0o060)  # group bits: not part of the archive
    second = pack(root, cache=tmp_path / "c2")
    assert second.sha256 == first.sha256 and second.archive.read_bytes() == first.archive.read_bytes()
    assert first.archive == tmp_path / "c1" / "code" / f"{first.sha256}.tar.gz"
    assert os.listdir(tmp_path / "c1" / "code") == [first.archive.name]  # no temporary left behind


def test_any_change_to_the_code_changes_the_sha(tmp_path):
    root = project(tmp_path / "p")
    shas = {pack(root, cache=tmp_path / "c").sha256}
    (root / "pkg/mod.py").write_text("VALUE = 43\n")
    shas.add(pack(root, cache=tmp_path / "c").sha256)
    (root / "pkg/mod.py").chmod(0o755)
    shas.add(pack(root, cache=tmp_path / "c").sha256)
    (root / "pkg/mod.py").rename(root / "pkg/mod2.py")
    shas.add(pack(root, cache=tmp_path / "c").sha256)
    assert len(shas) == 4


def test_the_archive_lists_what_went_in_first_so_it_never_holds_one_top_level_entry(tmp_path):
    root = tmp_path / "p"
    (root / "only").mkdir(parents=True)
    (root / "only" / "mod.py").write_text("X = 1\n")
    made = pack(root, cache=tmp_path / "c")
    with tarfile.open(made.archive) as tar:
        names = tar.getnames()
        listing = json.load(tar.extractfile(MANIFEST))
    assert names == [MANIFEST, "only/mod.py"]  # Argo would rename a lone 'only/' to the artifact's path
    assert listing == [["only/mod.py", 6]]


def test_the_archive_holds_no_times_owners_or_names_of_this_machine(tmp_path):
    made = pack(project(tmp_path / "p"), cache=tmp_path / "c")
    found = members(made.archive)
    assert list(found) == [MANIFEST, "bin/run", "data.bin", "pkg/__init__.py", "pkg/mod.py"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in found.values()} == {(0, 0, 0, "", "")}
    assert found["bin/run"].mode == 0o755 and found["pkg/mod.py"].mode == 0o644
    head = made.archive.read_bytes()[:10]
    assert head[3] & 0x08 == 0 and head[4:8] == b"\0\0\0\0"  # gzip: no file name, mtime 0
    assert made.size == sum(size for _, size in made.files) and made.archive_size == made.archive.stat().st_size
    with gzip.open(made.archive) as handle:
        assert len(handle.read()) > made.size  # (it is a gzip of a tar)


def test_a_project_over_the_limit_is_refused_before_anything_is_written(tmp_path):
    root = write(tmp_path / "p", {"weights.bin": b"w" * 3_000_000, "small.py": "x", "mid.csv": b"m" * 1_500_000})
    with pytest.raises(PackTooBig) as caught:
        pack(root, limit=4_000_000, cache=tmp_path / "cache")
    error = caught.value
    assert (error.size, error.limit) == (4_500_001, 4_000_000)
    assert error.largest == [("weights.bin", 3_000_000), ("mid.csv", 1_500_000), ("small.py", 1)]
    assert str(error) == ("the code to ship is 4.5 MB, over the limit of 4 MB; the largest files: "
                          "weights.bin (3 MB), mid.csv (1.5 MB), small.py (1 B)")
    assert error.hint == "add patterns to code.exclude, or raise code.max_size"
    assert not (tmp_path / "cache").exists()


def test_the_summary_names_the_biggest_top_level_entries(tmp_path):
    files = {f"d{i}/m.py": "x" * (1000 * (i + 1)) for i in range(9)}
    files.update({"d0/n.py": "y" * 500, "README.md": "r" * 2500})
    made = pack(write(tmp_path / "p", files), cache=tmp_path / "c")
    lines = summary(made)
    assert lines[0] == (f"code: 11 files, 48 KB (archive {codepack.human(made.archive_size)}) "
                        f"sha256 {made.sha256[:12]}")
    assert lines[1:] == ["  d8/  1 file  9 KB", "  d7/  1 file  8 KB", "  d6/  1 file  7 KB", "  d5/  1 file  6 KB",
                         "  d4/  1 file  5 KB", "  d3/  1 file  4 KB", "  d2/  1 file  3 KB", "  README.md  2.5 KB",
                         "  … and 2 more"]
    files = {"one.py": "x"}
    assert summary(pack(write(tmp_path / "q", files), cache=tmp_path / "c"))[1:] == ["  one.py  1 B"]


def test_human_sizes():
    assert [codepack.human(n) for n in (0, 999, 1000, 1500, 40_000, 999_999, 12_345_678, 3 * 10**9)] == \
        ["0 B", "999 B", "1 KB", "1.5 KB", "40 KB", "1000 KB", "12 MB", "3 GB"]


def test_code_uri():
    sha = "ab" * 32
    assert code_uri("file:///srv/store/", sha) == f"file:///srv/store/code/{sha}.tar.gz"
    assert code_uri("s3://bucket/prefix", sha) == f"s3://bucket/prefix/code/{sha}.tar.gz"
    with pytest.raises(ValueError):
        code_uri("s3://bucket", "../../etc")


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path):
    if request.param == "folder":
        return f"file://{tmp_path / 'store'}"
    return f"{request.getfixturevalue('s3_server')}/{uuid.uuid4().hex[:8]}"


def test_code_is_uploaded_once(store, tmp_path):
    root = project(tmp_path / "p")
    made = pack(root, cache=tmp_path / "c1")
    assert upload_once(made, store) is True
    uri = code_uri(store, made.sha256)
    key = uri[len(store) + 1:]
    assert Path(transfer.fetch(uri, str(tmp_path / "back"))).read_bytes() == made.archive.read_bytes()
    # Overwrite the stored object with a marker of the archive's size: an upload would put the archive back.
    marker = b"m" * made.archive_size
    (tmp_path / "marker").write_bytes(marker)
    transfer.publish(store, key, tmp_path / "marker")
    again = pack(root, cache=tmp_path / "c2")  # the next run, the code unchanged
    assert upload_once(again, store) is False
    assert Path(transfer.fetch(uri, str(tmp_path / "after"))).read_bytes() == marker
    # A truncated copy (another size) is no copy: it is replaced
    (tmp_path / "short").write_bytes(b"truncated")
    transfer.publish(store, key, tmp_path / "short")
    assert upload_once(again, store) is True
    assert Path(transfer.fetch(uri, str(tmp_path / "fixed"))).read_bytes() == made.archive.read_bytes()


def test_changed_code_is_uploaded_beside_the_old(store, tmp_path):
    root = project(tmp_path / "p")
    old = pack(root, cache=tmp_path / "c")
    (root / "pkg/mod.py").write_text("VALUE = 7\n")
    new = pack(root, cache=tmp_path / "c")
    assert upload_once(old, store) and upload_once(new, store) and not upload_once(old, store)


def test_pack_is_a_frozen_record(tmp_path):
    made = pack(project(tmp_path / "p"), cache=tmp_path / "c")
    assert isinstance(made, Pack) and made.root == (tmp_path / "p").resolve()
    with pytest.raises(AttributeError):
        made.sha256 = "x"


def test_a_link_never_reads_through_to_what_is_not_shipped(tmp_path):
    root = project(tmp_path / "p")
    (root / ".env").write_text("ORCH_SECRET_X_Y=topsecret\n")
    (root / "config").symlink_to(".env")
    (root / "state").mkdir()
    (root / "state" / "orch.db").write_text("runs")
    (root / "db-link").symlink_to("state/orch.db")
    skipped: list[str] = []
    names = [rel for rel, _ in project_files(root, skipped=skipped, skip=(root / "state",))]
    assert "config" not in names and "db-link" not in names and "state/orch.db" not in names
    assert "config (a link to a file that is not shipped)" in skipped


def test_orchs_own_folders_inside_the_project_are_never_shipped(tmp_path, monkeypatch):
    """Its state and a folder store under the project: else each run would ship the last one's records."""
    from orch.backends.shipping import ship
    from orch.core.load import load_spec

    root = project(tmp_path / "p")
    (root / "spec.yaml").write_text("apiVersion: orch/v1\nname: s\ncode: {ship: true}\nsteps:\n  a: {command: [echo]}\n")
    monkeypatch.setenv("ORCH_HOME", str(root / "state"))
    monkeypatch.setenv("ORCH_CACHE", str(root / "cache"))
    (root / "state").mkdir()
    (root / "state" / "orch.db").write_text("runs")
    store = f"file://{root / 'store'}"
    first = ship(load_spec(root / "spec.yaml"), str(root / "spec.yaml"), store, say=lambda line: None)
    (root / "state" / "orch.db").write_text("more runs")  # what the run recorded
    second = ship(load_spec(root / "spec.yaml"), str(root / "spec.yaml"), store, say=lambda line: None)
    assert first.sha256 == second.sha256
    with tarfile.open(second.archive) as tar:
        assert not [n for n in tar.getnames() if n.split("/")[0] in ("state", "cache", "store")]
