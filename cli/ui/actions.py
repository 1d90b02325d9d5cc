"""Stop and resume, as a person at a shell would: SIGINT to the run's process, `orch run --resume` detached.

Stop is the same as Ctrl-C: the process holding the run's lock (backends/local/lock.py) stops its attempts
and records the run `interrupted`, resumable. Resume starts `orch run SPEC --resume RUN_ID` in a session of
its own (it outlives the UI), its output appended to `runs/RUN_ID/resume.log`, and returns once that process
has taken the run over (the page it leads to then shows the run going on), or has failed to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from orch.backends.local.lock import holder_pid, is_held
from orch.backends.local.state import Store

from .data import RunView

TAKE_OVER_SECONDS = 15  # how long a resume waits for its process to record the run as its own


class Refused(Exception):
    """The action does not apply to the run as it is now (a 409): the message says why."""


def stop(run: RunView) -> None:
    pid = holder_pid(run.run_dir) if run.status == "running" and is_held(run.run_dir) else None
    if pid is None or pid == os.getpid():
        raise Refused(f"run {run.run_id} is not running here (it is {run.status}); nothing to stop")
    try:  # SIGTERM, which orch run takes as Ctrl-C: a run started with SIGINT ignored (a background job, a
        os.kill(pid, signal.SIGTERM)  # process that inherited SIG_IGN) would never see a SIGINT
    except ProcessLookupError:
        raise Refused(f"run {run.run_id} ended meanwhile") from None


def resume(run: RunView, home: Path) -> None:
    if run.status not in ("interrupted", "failed") or run.backend != "local":
        raise Refused(f"run {run.run_id} is {run.status}: only an interrupted or failed run resumes")
    base = spec_folder(run.spec_path, home)
    if base is None:
        raise Refused(f"the spec of run {run.run_id} ({run.spec_path or 'not recorded'}) is not found from here; "
                      f"resume it with: orch run SPEC --resume {run.run_id}")
    out = open(run.run_dir / "resume.log", "ab")
    start = out.seek(0, os.SEEK_END)
    try:
        process = subprocess.Popen([sys.executable, "-m", "orch.cli.main", "run", run.spec_path, "--resume", run.run_id],
                                   cwd=base, env={**os.environ, "ORCH_HOME": str(home)}, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()
    try:
        _taken_over(process, run, home, start)
    finally:
        threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends, while the UI runs


def _taken_over(process: subprocess.Popen, run: RunView, home: Path, start: int) -> None:
    """Wait until the resumed process has recorded the run (its status or end changed), or ended; Refused, with
    what it wrote, when it ended without touching the run (a spec changed since, a lock held)."""
    before = (run.status, run.ended_at)
    store = Store(home)
    try:
        deadline = time.monotonic() + TAKE_OVER_SECONDS
        while time.monotonic() < deadline:
            ended = process.poll() is not None
            row = store.run_row(run.run_id)
            if row is None or (row["status"], row["ended_at"]) != before:
                return
            if ended:
                said = _written(run.run_dir / "resume.log", start)
                raise Refused(f"orch run --resume {run.run_id} ended at once, leaving the run as it was:\n{said}")
            time.sleep(0.05)
    finally:
        store.close()


def _written(path: Path, start: int, lines: int = 20) -> str:
    """The last lines a process wrote to `path` from `start`."""
    try:
        with open(path, "rb") as log:
            log.seek(start)
            text = log.read(64 << 10).decode("utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def spec_folder(spec_path: Optional[str], home: Path) -> Optional[Path]:
    """The folder the recorded spec path is relative to: where the UI runs, or the one holding the records (a run
    started beside its .orch recorded it so); None when neither has it. A `module:NAME` spec is looked up on
    the import path from where the UI runs."""
    if not spec_path:
        return None
    file_part = spec_path.split(":", 1)[0] if ":" in spec_path and not Path(spec_path).exists() else spec_path
    for base in (Path.cwd(), home.parent):
        if (base / file_part).is_file():
            return base
    if ":" in spec_path and not file_part.endswith((".py", ".yaml", ".yml", ".json")):
        return Path.cwd()
    return None
