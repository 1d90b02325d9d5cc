"""What orch writes is whole or not there: a render of several files is all or nothing, files get
the mode the umask gives, and a machine in the way (a full disk, a folder that is a file) is exit 3
with what to do -- never a traceback, never half of the files."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

from .conftest import SPECS

SCHEDULED = SPECS / "ml-training.yaml"  # renders a Workflow and a CronWorkflow for Argo


def orch_process(*args: str, limit: int | None = None, env: dict | None = None, umask: int | None = None):
    """The real `orch` in a child process; with `limit`, no file it writes may pass that many bytes."""

    def prepare():
        if umask is not None:
            os.umask(umask)
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "orch.cli.main", *args], capture_output=True, text=True,
                          preexec_fn=prepare, env={**os.environ, **(env or {})}, timeout=120)


def test_a_render_that_cannot_write_every_file_writes_none(tmp_path):
    fresh = tmp_path / "fresh"
    done = orch_process("render", str(SCHEDULED), "-b", "argo", "-o", str(fresh))
    first, second = (Path(line.split(" ", 1)[1]).stat().st_size for line in done.stdout.splitlines())
    if first > second:  # the limit must let the first file through and stop the second
        first, second = second, first
    out = tmp_path / "out"
    out.mkdir()
    for path in fresh.iterdir():
        (out / path.name).write_text("the previous render\n")
    done = orch_process("render", str(SCHEDULED), "-b", "argo", "-o", str(out), limit=first + 1)
    assert done.returncode == 3, done.stderr
    assert "nothing was written" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in fresh.iterdir())  # no temporary left
    assert all(p.read_text() == "the previous render\n" for p in out.iterdir())


def test_rendered_files_get_the_mode_the_umask_gives(tmp_path):
    for umask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        out = tmp_path / f"u{umask:o}"
        assert orch_process("render", str(SCHEDULED), "-b", "prefect", "-o", str(out), umask=umask).returncode == 0
        written = list(out.iterdir())  # the flow module, and its work pool's files (a default image)
        assert written and {stat.S_IMODE(w.stat().st_mode) for w in written} == {mode}


def test_a_folder_that_is_a_file_is_exit_3_with_what_to_do(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = orch_process("render", str(SCHEDULED), "-b", "prefect", "-o", str(blocker / "out"))
    assert done.returncode == 3, done.stderr
    assert "a-file" in done.stderr and "hint:" in done.stderr and "Traceback" not in done.stderr
    assert blocker.read_text() == "not a folder"
