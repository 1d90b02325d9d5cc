"""Stop and resume, as a person at a shell would: SIGINT to the run's process, `orch run --resume` detached.

Stop is the same as Ctrl-C: the process holding the run's lock (backends/local/lock.py) stops its attempts
and records the run `interrupted`, resumable. Resume starts `orch run SPEC --resume RUN_ID` in a session of
its own (it outlives the UI), its output appended to `runs/RUN_ID/resume.log`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

from orch.backends.local.lock import holder_pid, is_held

from .data import RunView


class Refused(Exception):
    """The action does not apply to the run as it is now (a 409): the message says why."""


def stop(run: RunView) -> None:
    pid = holder_pid(run.run_dir) if run.status == "running" and is_held(run.run_dir) else None
    if pid is None or pid == os.getpid():
        raise Refused(f"run {run.run_id} is not running here (it is {run.status}); nothing to stop")
    try:
        os.kill(pid, signal.SIGINT)
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
    try:
        process = subprocess.Popen([sys.executable, "-m", "orch.cli.main", "run", run.spec_path, "--resume", run.run_id],
                                   cwd=base, env={**os.environ, "ORCH_HOME": str(home)}, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()
    threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends, while the UI runs


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
