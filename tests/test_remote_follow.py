"""Following a run on a server (backends/remote.py): progress from the server's records, Ctrl-C's choice, and
the servers' times read alike."""

from __future__ import annotations

import pytest

from orch.backends.remote import follow, moment
from orch.core.errors import RunInterrupted
from orch.core.result import RunResult, StepResult


class Recorder:
    def __init__(self):
        self.events = []

    def begin(self, run_id, pipeline, steps):
        self.events.append(("begin", run_id, tuple(steps)))

    def step(self, name, status, *, attempt=0, item=-1, error=None, resumed=False):
        self.events.append((name, status, attempt))

    def end(self):
        self.events.append(("end",))


def _result(status, **steps):
    return RunResult(pipeline="p", backend="x", run_id="r1", status=status,
                     steps={name: StepResult(status=s, attempts=a) for name, (s, a) in steps.items()})


def test_follow_reports_each_change_once_and_reads_outputs_at_the_end():
    polls = iter([_result("running", a=("running", 1), b=("pending", 0)),
                  _result("running", a=("running", 1), b=("pending", 0)),
                  _result("running", a=("running", 2), b=("pending", 0)),
                  _result("succeeded", a=("succeeded", 2), b=("succeeded", 1))])
    finals = []

    def read(final):
        if final:
            finals.append(True)
            return _result("succeeded", a=("succeeded", 2), b=("succeeded", 1))
        return next(polls)

    progress = Recorder()
    result = follow(read, progress=progress, cancel=lambda: None, how_to_cancel="-", where="s", poll_seconds=0)
    assert result.status == "succeeded" and finals == [True]
    assert progress.events == [("begin", "r1", ("a", "b")), ("a", "running", 1), ("a", "running", 2),
                               ("a", "succeeded", 2), ("b", "succeeded", 1), ("end",)]


@pytest.mark.parametrize("answer", [True, False])
def test_ctrl_c_cancels_on_the_server_only_when_asked_to(answer):
    cancelled = []

    def read(final):
        raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as stopped:
        follow(read, progress=Recorder(), cancel=lambda: cancelled.append(True), how_to_cancel="prefect flow-run cancel X",
               where="http://127.0.0.1:4200/api", ask=lambda question: answer)
    assert cancelled == ([True] if answer else [])
    assert ("cancelled the run on" in str(stopped.value)) is answer
    assert ("prefect flow-run cancel X" in str(stopped.value)) is not answer
    assert stopped.value.exit_code == 130


def test_without_a_terminal_ctrl_c_only_stops_watching():
    """--json, a pipe, CI: nobody to ask; the run goes on, and the message says how to cancel it."""
    def read(final):
        raise KeyboardInterrupt

    cancelled = []
    with pytest.raises(RunInterrupted, match="stopped watching.*argo stop wf-1"):
        follow(read, progress=None, cancel=lambda: cancelled.append(True), how_to_cancel="argo stop wf-1", where="s")
    assert cancelled == []


def test_a_servers_times_read_alike_whatever_the_python():
    from datetime import datetime, timezone

    utc = datetime(2026, 12, 1, 2, 3, 4, 500000, tzinfo=timezone.utc)
    assert moment("2026-12-01T02:03:04.5Z") == moment("2026-12-01T02:03:04.500000+00:00") == moment(utc) == utc
    assert moment(None) is None and moment("") is None
