"""`orch ui` in a real browser while a real `orch run` goes on: the open page follows the run without a reload,
the running step's log streams in, #stop ends the run `interrupted` (as Ctrl-C does) and #resume finishes it.

Each live step waits for a file the test creates (not a fixed sleep), so the test decides when the run moves on
and a slow machine only makes it wait longer, never flake.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("ui-browser")

LIVE = """
apiVersion: orch/v1
name: ui-live
params:
  gate: {type: string}
steps:
  wait:
    command: [sh, -c, 'echo "waiting for the gate"; while [ ! -e "$GATE" ]; do sleep 0.05; done; echo "gate opened"']
    env: {GATE: "${{ params.gate }}"}
    timeout: 2m
  second:
    command: [sh, -c, 'echo second']
    after: [wait]
"""

SECONDS = 30_000  # ms a live change may take to show (the SSE polls every ~0.3 s)


def _mark_page(page) -> None:
    """A value only this document holds: if it is gone later, the page was reloaded or navigated."""
    page.evaluate("window.__orchTestMark = 'same-document'")


def _same_page(page) -> bool:
    return page.evaluate("window.__orchTestMark") == "same-document"


def _wait_for_run(home, run_id: str, status: str, seconds: float = 60) -> None:
    from orch.backends.local.state import Store

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        store = Store(home.path)
        try:
            row = store.run_row(run_id)
        finally:
            store.close()
        if row and row["status"] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} is {row and row['status']}, not {status}, after {seconds} s")


def _wait_for_step(page, url: str, step: str, state: str) -> None:
    """The run page once the run has got that far (a live run's first moments are before the page exists)."""
    deadline = time.monotonic() + SECONDS / 1000
    while True:
        page.goto(url)
        if page.locator(f'#graph g.node[data-step="{step}"][data-state="{state}"]').count():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{step} never showed {state}: {page.content()[:2000]}")
        time.sleep(0.2)


def test_a_live_run_page_follows_the_run_without_a_reload(ui, home, page, shoot, tmp_path):
    gate = tmp_path / "gate"
    proc, run_id = home.start(home.spec("live", LIVE), "-p", f"gate={gate}")
    try:
        url = f"{ui.url}/runs/{run_id}"
        _wait_for_step(page, url, "wait", "running")
        assert page.locator("body").get_attribute("data-run-status") == "running"
        assert page.locator('#graph g.node[data-step="second"]').get_attribute("data-state") == "pending"
        time.sleep(1)  # (for the screenshot: a second of the step's run on the timeline, drawn by a fresh page)
        page.reload()
        navigations = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
        _mark_page(page)
        shoot(page, "live-run")

        assert page.locator('#timeline .lane[data-step="wait"] .attempt[data-status="running"]').count() == 1
        gate.touch()
        page.wait_for_selector('#graph g.node[data-step="wait"][data-state="succeeded"]', state="attached", timeout=SECONDS)
        page.wait_for_selector('#timeline .lane[data-step="second"] .attempt[data-status="succeeded"]', state="attached",
                               timeout=SECONDS)
        page.wait_for_selector('#timeline .lane[data-step="wait"] .attempt[data-status="succeeded"]', state="attached",
                               timeout=SECONDS)
        page.wait_for_selector('#graph g.node[data-step="second"][data-state="succeeded"]', state="attached", timeout=SECONDS)
        page.wait_for_selector('body[data-run-status="succeeded"]', state="attached", timeout=SECONDS)
        assert _same_page(page) and navigations == [], navigations
        assert proc.wait(timeout=60) == 0
    finally:
        gate.touch()
        proc.kill() if proc.poll() is None else None
        proc.wait()


TWO_GATES = """
apiVersion: orch/v1
name: ui-log
params:
  gate: {type: string}
steps:
  talk:
    command:
      - sh
      - -c
      - |
        echo "waiting for the first gate"
        while [ ! -e "$GATE.1" ]; do sleep 0.05; done
        echo "first gate opened"
        while [ ! -e "$GATE.2" ]; do sleep 0.05; done
        echo "second gate opened"
    env: {GATE: "${{ params.gate }}"}
    timeout: 2m
"""


def _log_has(page, text: str) -> None:
    page.wait_for_function("text => document.querySelector('pre#log').textContent.includes(text)", arg=text,
                           timeout=SECONDS)


def test_a_running_steps_log_streams_into_the_open_page(ui, home, page, tmp_path):
    gate = tmp_path / "gate"
    proc, run_id = home.start(home.spec("log", TWO_GATES), "-p", f"gate={gate}")
    try:
        _wait_for_step(page, f"{ui.url}/runs/{run_id}", "talk", "running")
        page.goto(f"{ui.url}/runs/{run_id}/steps/talk")
        _log_has(page, "waiting for the first gate")
        assert "first gate opened" not in page.locator("pre#log").inner_text()
        _mark_page(page)
        Path(f"{gate}.1").touch()
        _log_has(page, "first gate opened")  # a line written while the step runs, streamed into this document
        assert _same_page(page)
        assert page.locator("pre#log").inner_text().count("waiting for the first gate") == 1  # appended, not repeated
        Path(f"{gate}.2").touch()
        assert proc.wait(timeout=60) == 0
        _log_has(page, "second gate opened")  # (the page may reload itself once the attempt has ended)
        page.wait_for_selector('#attempts tr.attempt[data-attempt="1"][data-status="succeeded"]', state="attached",
                               timeout=SECONDS)
    finally:
        Path(f"{gate}.1").touch()
        Path(f"{gate}.2").touch()
        proc.kill() if proc.poll() is None else None
        proc.wait()


def test_stop_from_the_page_interrupts_the_run_and_resume_finishes_it(ui, home, page, shoot, tmp_path):
    gate = tmp_path / "gate"
    proc, run_id = home.start(home.spec("live", LIVE), "-p", f"gate={gate}")
    try:
        url = f"{ui.url}/runs/{run_id}"
        _wait_for_step(page, url, "wait", "running")
        assert page.locator("#resume").count() == 0  # a running run is stopped, not resumed
        assert _post(f"{url}/resume") == 409
        _mark_page(page)
        page.click("#stop")
        assert proc.wait(timeout=60) == 130  # as Ctrl-C: interrupted, resumable
        _wait_for_run(home, run_id, "interrupted")
        page.wait_for_selector('body[data-run-status="interrupted"]', state="attached", timeout=SECONDS)

        page.goto(url)
        assert page.locator("body").get_attribute("data-run-status") == "interrupted"
        assert page.locator("#stop").count() == 0
        gate.touch()  # the resumed attempt finds its gate open
        page.click("#resume")
        _wait_for_run(home, run_id, "succeeded")
        page.goto(url)
        assert page.locator("body").get_attribute("data-run-status") == "succeeded"
        states = page.eval_on_selector_all("#graph g.node", "ns => ns.map(n => n.dataset.state)")
        assert states == ["succeeded", "succeeded"]
        assert page.locator("#resume").count() == 0 and page.locator("#stop").count() == 0
        attempts = page.eval_on_selector_all('#timeline .lane[data-step="wait"] .attempt',
                                             "as => as.map(a => a.dataset.status)")
        assert attempts[-1] == "succeeded" and len(attempts) >= 2, attempts  # the stopped attempt, then the resumed
    finally:
        gate.touch()
        proc.kill() if proc.poll() is None else None
        proc.wait()


BREAKS = """
apiVersion: orch/v1
name: ui-live-fail
params:
  gate: {type: string}
steps:
  wait:
    command: [sh, -c, 'while [ ! -e "$GATE" ]; do sleep 0.05; done']
    env: {GATE: "${{ params.gate }}"}
    timeout: 2m
  second:
    command: [sh, -c, 'if [ -e "$GATE.broken" ]; then echo "second broke" >&2; exit 4; fi; echo second']
    env: {GATE: "${{ params.gate }}"}
    after: [wait]
"""


def test_a_step_failing_in_the_open_page_shows_its_error_and_resume_then_finishes(ui, home, page, tmp_path):
    gate, broken = tmp_path / "gate", tmp_path / "gate.broken"
    broken.touch()
    proc, run_id = home.start(home.spec("live-fail", BREAKS), "-p", f"gate={gate}")
    try:
        url = f"{ui.url}/runs/{run_id}"
        _wait_for_step(page, url, "wait", "running")
        assert page.locator("#errors .error").count() == 0 and page.locator("#resume").count() == 0
        _mark_page(page)
        gate.touch()
        page.wait_for_selector('body[data-run-status="failed"]', state="attached", timeout=SECONDS)
        page.wait_for_selector('#errors .error[data-step="second"]', state="attached", timeout=SECONDS)
        assert "second broke" in page.locator('#errors .error[data-step="second"]').inner_text()
        page.wait_for_selector("#resume", state="attached", timeout=SECONDS)
        assert page.locator('#graph g.node[data-step="second"]').get_attribute("data-state") == "failed"
        assert _same_page(page)
        assert proc.wait(timeout=60) == 1

        broken.unlink()  # fixed: a resume of the failed run reruns only `second`
        page.click("#resume")
        _wait_for_run(home, run_id, "succeeded")
        page.goto(url)
        assert page.eval_on_selector_all("#graph g.node", "ns => ns.map(n => n.dataset.state)") == ["succeeded"] * 2
        assert page.eval_on_selector_all('#timeline .lane[data-step="second"] .attempt', "as => as.map(a => a.dataset.status)") \
            == ["failed", "succeeded"]
        assert page.locator('#timeline .lane[data-step="wait"] .attempt').count() == 1  # it had succeeded: not rerun
        assert page.locator("#errors .error").count() == 0
    finally:
        gate.touch()
        proc.kill() if proc.poll() is None else None
        proc.wait()


def test_a_run_whose_process_is_killed_reads_interrupted_in_the_open_page(ui, home, page, tmp_path):
    """No Ctrl-C, no last record: the process is gone (SIGKILL), and the page says so, as `orch runs list` does."""
    gate = tmp_path / "gate"
    proc, run_id = home.start(home.spec("live", LIVE), "-p", f"gate={gate}")
    try:
        _wait_for_step(page, f"{ui.url}/runs/{run_id}", "wait", "running")
        _mark_page(page)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        page.wait_for_selector('body[data-run-status="interrupted"]', state="attached", timeout=SECONDS)
        assert _same_page(page)
        page.wait_for_selector("#resume", state="attached", timeout=SECONDS)
    finally:
        gate.touch()  # the step itself was not in the run's process group: it ends at its gate
        proc.kill() if proc.poll() is None else None
        proc.wait()


def _post(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b""), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_stop_and_resume_refuse_a_finished_run_and_an_unknown_one(ui, home):
    """A succeeded run is neither stopped (no process holds it) nor resumed (nothing to redo): 409; unknown: 404."""
    done = home.run(home.spec("done", LIVE.replace("ui-live", "ui-done")), "-p", "gate=/", expect=0)
    assert _post(f"{ui.url}/runs/{done['run_id']}/stop") == 409
    assert _post(f"{ui.url}/runs/{done['run_id']}/resume") == 409
    assert _post(f"{ui.url}/runs/no-such-run/stop") == 404
    assert _post(f"{ui.url}/runs/no-such-run/resume") == 404


def test_the_page_resume_lands_on_follows_the_resumed_run_without_a_reload(ui, home, page, tmp_path):
    """After #resume the page says the run goes on and follows it to its end, as it follows any running run: it
    must not show the run as still failed, with its resume button, while the resumed run is running or done."""
    gate, broken = tmp_path / "gate", tmp_path / "gate.broken"
    gate.touch()
    broken.touch()
    failed = home.run(home.spec("live-fail", BREAKS), "-p", f"gate={gate}", expect=1)
    page.goto(f"{ui.url}/runs/{failed['run_id']}")
    broken.unlink()
    page.click("#resume")
    _wait_for_run(home, failed["run_id"], "succeeded")
    # the run has ended: the SSE's 0.3 s polls have had ample time to tell the page
    page.wait_for_selector('body[data-run-status="succeeded"]', state="attached", timeout=10_000)
    page.wait_for_selector('#graph g.node[data-step="second"][data-state="succeeded"]', state="attached",
                           timeout=10_000)
    assert page.locator("#resume").count() == 0
