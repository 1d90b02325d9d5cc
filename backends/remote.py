"""What deploying to and running on a long-running server share, whichever engine it is.

Each backend's deploy.py and remote.py speak to their own server; this module holds what they return
(`Deployed`, `RunSummary`) and the one loop that follows a run there: polling the server's records into a
RunResult for the progress display until the run ends, and Ctrl-C asking whether to cancel the run on the
server or only stop watching (with no terminal to ask on, it stops watching and says how to cancel).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Optional

from orch.core.errors import RunInterrupted
from orch.core.result import RunResult

STATUS_DONE = ("succeeded", "failed")


@dataclass(frozen=True)
class Deployed:
    """What `orch deploy` did on a server: one line per object created, updated or removed."""

    backend: str
    pipeline: str
    server: str
    made: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"backend": self.backend, "pipeline": self.pipeline, "server": self.server, "made": list(self.made)}


@dataclass(frozen=True)
class RunSummary:
    """One run of a deployed pipeline as the server lists it (`orch runs list --backend B`)."""

    run_id: str
    status: str
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None


def moment(when) -> Optional[datetime]:
    """A server's record of a time: a datetime as it is, or ISO text, a trailing 'Z' read as UTC (Python 3.10's
    `fromisoformat` does not read it; Argo and Airflow write it); None for none."""
    if when is None or isinstance(when, datetime):
        return when
    return datetime.fromisoformat(str(when).replace("Z", "+00:00")) if str(when) else None


def shown(url: str) -> str:
    """A server's URL as messages may show it: without a `user:password@` it may carry."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def follow(read: Callable[[bool], RunResult], *, progress, cancel: Callable[[], None], how_to_cancel: str, where: str,
           poll_seconds: float = 0.5, ask: Optional[Callable[[str], bool]] = None) -> RunResult:
    """Poll `read(False)` until the run ends, reporting each step's changes; then return `read(True)` (outputs too).

    On Ctrl-C: `ask` (default: a y/N question when stdin and stderr are terminals and someone watches) decides
    whether `cancel()` is called; either way RunInterrupted (exit 130) says what became of the server's run."""
    seen: dict[str, tuple] = {}
    begun = False
    try:
        while True:
            result = read(False)
            if progress is not None and not begun:
                progress.begin(result.run_id, result.pipeline, list(result.steps))
                begun = True
            _report(progress, result, seen)
            if result.status in STATUS_DONE:
                break
            time.sleep(poll_seconds)
        result = read(True)
        _report(progress, result, seen)
        return result
    except KeyboardInterrupt:
        pass
    finally:
        if progress is not None and begun:
            progress.end()
    question = f"cancel the run on {where} too? [y/N] "
    if (ask or _ask_on_terminal(progress))(question):
        cancel()
        raise RunInterrupted(f"interrupted: cancelled the run on {where}") from None
    raise RunInterrupted(f"interrupted: stopped watching; the run goes on on {where} (to cancel it: {how_to_cancel})") from None


def _report(progress, result: RunResult, seen: dict[str, tuple]) -> None:
    if progress is None:
        return
    for name, step in result.steps.items():
        state = (step.status, step.attempts)
        if step.status != "pending" and seen.get(name) != state:
            seen[name] = state
            progress.step(name, step.status, attempt=step.attempts, error=step.error)


def _ask_on_terminal(progress) -> Callable[[str], bool]:
    from orch.backends.local.progress import Quiet

    watched = progress is not None and type(progress) is not Quiet  # --json: nobody to ask
    if not (watched and sys.stdin.isatty() and sys.stderr.isatty()):
        return lambda question: False

    def ask(question: str) -> bool:
        try:
            sys.stderr.write(question)
            sys.stderr.flush()
            return sys.stdin.readline().strip().lower() in ("y", "yes")
        except (KeyboardInterrupt, EOFError):  # a second Ctrl-C: stop watching, leave the run alone
            return False

    return ask
