"""Issue #10 on the local backend, through the real `orch` process: one process per run, steps
that write odd bytes, resumes of an edited spec, killed runs, big logs, unusable ORCH_HOMEs."""

from __future__ import annotations

import json
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from .processes import STEPS, env_for, only_run_id, start, traced, wait_for

HELPERS = '''
def shout():
    raise ValueError("\\udcff and [/bold] markup")

def lone():
    return "\\udcff"

def cr():
    return "a\\rb"
'''

BLOCKING = {
    "first": {"python": "conformance_steps:record", "args": {"label": "first", "value": 1}, "outputs": {"n": "integer"}},
    "blocked": {"python": "conformance_steps:block_while_flagged", "args": {"label": "blocked"}, "after": ["first"]},
    "last": {"python": "conformance_steps:record", "args": {"label": "last", "value": "${{ steps.first.outputs.n }}"},
             "after": ["blocked"], "outputs": {"n": "integer"}},
}


@pytest.fixture
def project(tmp_path):
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    (tmp_path / "helpers.py").write_text(HELPERS)
    return tmp_path


def write_spec(project: Path, steps: dict, name: str = "p.yaml") -> Path:
    path = project / name
    path.write_text(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps}, sort_keys=False))
    return path






def orch(project: Path, *args, home: Path | None = None, timeout: float = 60, **kwargs) -> tuple[int, str, str]:
    process = start(project, *args, home=home, **kwargs)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out.decode(errors="backslashreplace"), err.decode(errors="backslashreplace")








def attempts_started(project: Path, run_id: str) -> list[tuple]:
    db = sqlite3.connect(project / ".orch" / "orch.db")
    try:
        query = "SELECT step, item, attempt FROM attempts WHERE run_id = ? ORDER BY step, attempt"
        return db.execute(query, (run_id,)).fetchall()
    finally:
        db.close()


def killed_mid_run(project: Path) -> str:
    """A run SIGKILLed while 'blocked' runs: the run id."""
    (project / "block").write_text("")
    write_spec(project, BLOCKING)
    first = start(project, "run", "p.yaml")
    wait_for(lambda: "blocked" in traced(project))
    first.kill()
    first.communicate(timeout=30)
    return only_run_id(project)


# --- class 2: one process per run


def test_a_resume_of_a_live_run_is_refused_and_touches_nothing(project):
    (project / "block").write_text("")
    write_spec(project, BLOCKING)
    live = start(project, "run", "p.yaml", "--json")
    wait_for(lambda: "blocked" in traced(project))
    run_id = only_run_id(project)
    code, out, err = orch(project, "run", "--resume", run_id)
    assert code == 2 and out == ""
    assert f"run {run_id} is in progress, pid {live.pid}" in err and "Traceback" not in err
    time.sleep(0.3)
    assert live.poll() is None and traced(project) == ["first", "blocked"]  # its attempt still runs, nothing new started
    code, out, _ = orch(project, "runs", "list")
    assert run_id in out and "running" in out
    (project / "block").unlink()
    out, err = live.communicate(timeout=60)
    assert live.returncode == 0, err
    assert json.loads(out)["status"] == "succeeded"
    assert traced(project) == ["first", "blocked", "blocked-done", "last"]


def test_a_sigkilled_run_reads_interrupted_and_its_lock_is_taken_over(project):
    run_id = killed_mid_run(project)
    code, out, _ = orch(project, "runs", "list")
    assert code == 0 and re.search(rf"{run_id}\s+p\s+interrupted", out) and f"orch run --resume {run_id}" in out
    code, out, _ = orch(project, "runs", "show", run_id, "--json")
    assert json.loads(out)["status"] == "interrupted"
    code, out, _ = orch(project, "runs", "show", run_id)
    assert f"run {run_id} interrupted" in out and f"resume with: orch run --resume {run_id}" in out
    log_before = (project / ".orch" / "runs" / run_id / "blocked" / "attempt-1.log").read_bytes()

    (project / "block").unlink()
    code, out, err = orch(project, "run", "--resume", run_id, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "succeeded" and result["steps"]["blocked"]["attempts"] == 2
    folder = project / ".orch" / "runs" / run_id / "blocked"
    assert (folder / "attempt-1.log").read_bytes() == log_before  # the resumed attempt wrote a file of its own
    assert (folder / "attempt-2.log").exists()
    assert attempts_started(project, run_id) == [("blocked", -1, 1), ("blocked", -1, 2), ("first", -1, 1), ("last", -1, 1)]


def test_two_resumes_at_once_run_the_steps_once(project):
    run_id = killed_mid_run(project)
    racers = [start(project, "run", "--resume", run_id, "--json") for _ in range(2)]
    wait_for(lambda: any(r.poll() is not None for r in racers))
    loser = next(r for r in racers if r.poll() is not None)
    winner = next(r for r in racers if r is not loser)
    _, err = loser.communicate(timeout=30)
    assert loser.returncode == 2 and f"run {run_id} is in progress, pid {winner.pid}" in err.decode()
    wait_for(lambda: traced(project).count("blocked") == 2)
    (project / "block").unlink()
    out, err = winner.communicate(timeout=60)
    assert winner.returncode == 0, err
    assert traced(project) == ["first", "blocked", "blocked", "blocked-done", "last"]
    assert attempts_started(project, run_id) == [("blocked", -1, 1), ("blocked", -1, 2), ("first", -1, 1), ("last", -1, 1)]


# --- class 3 and 9: what a step writes cannot crash the executor, and comes back byte for byte


def test_an_output_that_is_not_utf8_fails_that_step_only(project):
    write_spec(project, {
        "bad": {"command": ["sh", "-c", "printf 'a\\377b' > $ORCH_OUTPUTS/x"], "outputs": {"x": "string"}},
        "fine": {"python": "conformance_steps:ok"},
    })
    code, out, err = orch(project, "run", "p.yaml", "--json")
    assert code == 1, err
    result = json.loads(out)
    assert result["steps"]["fine"]["status"] == "succeeded"
    bad = result["steps"]["bad"]
    assert bad["status"] == "failed" and "'x'" in bad["error"] and "utf-8" in bad["error"].lower()
    code, out, err = orch(project, "run", "--resume", result["run_id"], "--json")
    assert code == 1 and json.loads(out)["steps"]["bad"]["attempts"] == 2, err  # resumable, and fails the same way


def test_a_lone_surrogate_in_an_error_or_output_fails_the_step_safely(project):
    write_spec(project, {
        "shout": {"python": "helpers:shout"},
        "lone": {"python": "helpers:lone", "outputs": {"v": "string"}},
        "fine": {"python": "conformance_steps:ok"},
    })
    code, out, err = orch(project, "run", "p.yaml", "--json")
    assert code == 1, err
    steps = json.loads(out)["steps"]
    assert steps["shout"]["error"] == "ValueError: \\udcff and [/bold] markup"
    assert steps["lone"]["status"] == "failed" and steps["lone"]["error"].startswith("output 'v'")
    assert steps["fine"]["status"] == "succeeded"
    code, out, err = orch(project, "run", "p.yaml")  # the summary table and the progress lines print it too
    assert code == 1 and "\\udcff and [/bold] markup" in out and "internal error" not in err


def test_a_param_that_is_not_utf8_is_exit_2(project):
    write_spec(project, {"a": {"python": "conformance_steps:ok"}})
    (project / "p.yaml").write_text((project / "p.yaml").read_text() + "params: {s: {default: x}}\n")
    process = subprocess.run([sys.executable, "-m", "orch.cli.main", "run", "p.yaml", b"-p", b"s=\xff"], cwd=project,
                             env=env_for(project), capture_output=True)
    assert process.returncode == 2 and b"Traceback" not in process.stderr
    assert b"-p: error[E704] params.s: param 's': the value is not UTF-8 text\n  hint: pass text encoded as UTF-8" \
        in process.stderr


def test_carriage_returns_in_outputs_come_back_as_written(project):
    write_spec(project, {
        "cmd": {"command": ["sh", "-c", "printf 'a\\r\\nb\\r' > $ORCH_OUTPUTS/v"], "outputs": {"v": "string"}},
        "py": {"python": "helpers:cr", "outputs": {"v": "string"}},
        "got_cmd": {"python": "conformance_steps:echo", "args": {"value": "${{ steps.cmd.outputs.v }}"},
                    "outputs": {"v": "string"}},
        "got_py": {"command": ["sh", "-c", 'printf %s "$V" > $ORCH_OUTPUTS/v'], "env": {"V": "${{ steps.py.outputs.v }}"},
                   "outputs": {"v": "string"}},
    })
    code, out, err = orch(project, "run", "p.yaml", "--json")
    assert code == 0, err
    steps = json.loads(out)["steps"]
    assert steps["cmd"]["outputs"]["v"] == steps["got_cmd"]["outputs"]["v"] == "a\r\nb\r"
    assert steps["py"]["outputs"]["v"] == steps["got_py"]["outputs"]["v"] == "a\rb"


# --- class 10: resume with an edited spec


EDITABLE = """\
apiVersion: orch/v1
name: p
steps:
  a:
    python: conformance_steps:echo
    args: {value: 1}
    outputs: {v: integer}
  b:
    python: conformance_steps:fail
    after: [a]
  c:
    python: conformance_steps:ok
    after: [b]
"""


def test_resume_refuses_a_spec_whose_meaning_changed(project):
    (project / "p.yaml").write_text(EDITABLE)
    code, out, _ = orch(project, "run", "p.yaml", "--json")
    assert code == 1
    run_id = json.loads(out)["run_id"]

    edited = EDITABLE.replace("outputs: {v: integer}", "outputs: {v: string}").replace(
        "  c:\n    python: conformance_steps:ok\n    after: [b]\n", "")
    (project / "p.yaml").write_text(edited)
    code, out, err = orch(project, "run", "p.yaml", "--resume", run_id)
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"p.yaml:7:5: error[E710] steps.a.outputs: step 'a' changed since run {run_id} started (outputs)" in err
    assert f"p.yaml:3:1: error[E710] steps: step 'c' of run {run_id} was removed from the spec" in err
    assert "hint: a resumed run reuses outputs made under the old spec; start a new run" in err
    assert attempts_started(project, run_id) == [("a", -1, 1), ("b", -1, 1)]  # nothing ran

    reformatted = "# the same pipeline, written differently\n" + EDITABLE.replace("args: {value: 1}", "args:\n      value: 1")
    (project / "p.yaml").write_text(reformatted)
    code, out, err = orch(project, "run", "p.yaml", "--resume", run_id, "--json")
    assert code == 1 and json.loads(out)["steps"]["b"]["attempts"] == 2, err  # same meaning: resumed


# --- class 12: --json after SIGINT, logs streamed


def test_json_after_sigint_prints_what_happened_and_exits_130(project):
    (project / "block").write_text("")
    write_spec(project, BLOCKING)
    process = start(project, "run", "p.yaml", "--json")
    wait_for(lambda: "blocked" in traced(project))
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    result = json.loads(out)
    assert result["status"] == "interrupted" and result["steps"]["first"]["status"] == "succeeded"
    assert result["steps"]["last"]["status"] == "pending"
    assert b"resume with: orch run" in err


def peak_rss_kib(project: Path, *args) -> int:
    """The peak resident memory of `orch ARGS` (its stdout thrown away), measured in a fresh wrapper."""
    wrapper = ("import resource, subprocess, sys\n"
               "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
               "assert code == 0, code\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "orch.cli.main", *args], cwd=project,
                         env=env_for(project), capture_output=True, text=True, check=True).stdout
    return int(out)


def test_logs_stream_a_big_log_in_flat_memory(project):
    write_spec(project, {"a": {"command": ["echo", "small"]}})
    code, out, _ = orch(project, "run", "p.yaml", "--json")
    run_id = json.loads(out)["run_id"]
    small = peak_rss_kib(project, "logs", run_id, "a")
    log = project / ".orch" / "runs" / run_id / "a" / "attempt-1.log"
    line = b"x" * 1023 + b"\n"
    with open(log, "wb") as handle:
        for _ in range(50 * 1024):
            handle.write(line)
    big = peak_rss_kib(project, "logs", run_id, "a")
    assert big - small < 10 * 1024, (small, big)  # a 50 MiB log costs less than 10 MiB more
    process = subprocess.run([sys.executable, "-m", "orch.cli.main", "logs", run_id, "a"], cwd=project,
                             env=env_for(project), capture_output=True)
    assert process.returncode == 0 and process.stdout == log.read_bytes()


# --- class 5: huge requests, unusable ORCH_HOME, a full disk


def test_huge_resource_requests_are_capped_not_a_crash(project):
    write_spec(project, {"a": {"command": ["true"], "resources": {"memory": "1Ei", "cpu": 100000}}})
    code, _, err = orch(project, "run", "p.yaml")
    assert code == 0, err
    assert "a: note: cpu 100000 capped to this host's" in err and "a: note: memory 1Ei capped to this host's" in err


@pytest.mark.parametrize("command", [["run", "p.yaml"], ["runs", "list"], ["runs", "show", "x"], ["logs", "x", "a"]])
def test_an_orch_home_under_a_file_is_exit_3_with_what_to_do(project, command):
    write_spec(project, {"a": {"command": ["true"]}})
    (project / "plain").write_text("not a folder")
    code, out, err = orch(project, *command, home=project / "plain" / "home")
    assert code == 3 and "Traceback" not in err and "internal error" not in err
    assert str(project / "plain") in err and "set ORCH_HOME (or the path named) to a folder you can write" in err


@contextmanager
def small_disk(project: Path):
    """A folder on a 1 MiB tmpfs, and no preexec; or, where mounting is not allowed, a 1 MiB file-size limit."""
    folder = project / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode == 0
    if mounted:
        try:
            yield folder, None
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    yield folder, limit


def test_a_full_disk_is_exit_3_and_the_run_resumes_later(project):
    chain = {f"s{i}": {"command": ["sh", "-c", "test -f big && head -c 2000000 /dev/zero; true"],
                       **({"after": [f"s{i - 1}"]} if i else {})} for i in range(40)}
    write_spec(project, chain)
    (project / "big").write_text("")
    with small_disk(project) as (disk, preexec):
        home = disk / "home"
        code, out, err = orch(project, "run", "p.yaml", home=home, preexec_fn=preexec)
        assert code == 3, err
        assert "Traceback" not in err and "internal error" not in err
        assert "cannot keep the local backend's records in" in err
        assert "set ORCH_HOME (or the path named) to a folder you can write" in err
        saved = project / "saved"
        for log in home.rglob("*.log"):
            log.unlink()  # the space comes back
        shutil.copytree(home, saved)
    (project / "big").unlink()
    run_id = next((saved / "runs").iterdir()).name
    code, out, err = orch(project, "run", "--resume", run_id, "--json", home=saved)
    assert code == 0, err
    assert json.loads(out)["status"] == "succeeded"


# --- found by a second hostile test


def test_two_resumes_started_at_once_run_the_step_once(project):
    """The loser of the lock must not resume again once the winner ends. The step fails after a second, so that
    the loser has surely read the run's record before the winner ends it, even on a loaded machine (a loser that
    starts after the winner ended is a second resume, run in turn: not this race)."""
    write_spec(project, {"a": {"command": ["sh", "-c", "echo start >> starts; sleep 1; exit 1"]}})
    assert orch(project, "run", "p.yaml")[0] == 1
    run_id = only_run_id(project)
    for round_ in range(3):
        before = (project / "starts").read_text().count("start")
        racers = [start(project, "run", "--resume", run_id) for _ in range(2)]
        codes = sorted(r.wait(timeout=60) for r in racers)
        for racer in racers:
            racer.communicate()
        assert (project / "starts").read_text().count("start") == before + 1, round_
        assert codes == [1, 2], codes


def test_a_resume_refuses_a_value_of_another_type_that_python_calls_equal(project):
    (project / "block").write_text("")
    steps = dict(BLOCKING, first={**BLOCKING["first"], "args": {"label": "first", "value": 1}})
    write_spec(project, steps)
    first = start(project, "run", "p.yaml")
    wait_for(lambda: "blocked" in traced(project))
    first.kill()
    first.communicate(timeout=30)
    write_spec(project, dict(steps, first={**steps["first"], "args": {"label": "first", "value": True}}))
    code, _, err = orch(project, "run", "--resume", only_run_id(project))
    assert code == 2 and "error[E710]" in err and "'value': 1}, now {'label': 'first', 'value': True}" in err


def test_an_interrupt_while_the_run_starts_up_is_130_with_the_resume_hint(project, monkeypatch):
    from orch.backends.local import executor as executor_module
    from orch.backends.local.run import run
    from orch.core.errors import RunInterrupted
    from orch.core.load import load_spec

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(executor_module.Executor, "__init__", interrupted)
    monkeypatch.setattr("orch.backends.local.run.Executor", executor_module.Executor)
    path = write_spec(project, {"a": {"command": ["true"]}})
    with pytest.raises(RunInterrupted) as stopped:
        run(load_spec(path), {}, spec_path=str(path), home=project / ".orch")
    assert "resume with: orch run" in str(stopped.value) and stopped.value.result.status == "interrupted"


def test_an_orch_home_removed_during_a_run_is_exit_3_not_a_success(project):
    write_spec(project, {"a": {"python": "conformance_steps:block_while_flagged", "args": {"label": "a"}},
                         "b": {"command": ["true"], "after": ["a"]}})
    (project / "block").write_text("")
    home = project / "home"
    live = start(project, "run", "p.yaml", home=home)
    wait_for(lambda: "a" in traced(project))
    shutil.rmtree(home)
    (project / "block").unlink()
    out, err = live.communicate(timeout=60)
    assert live.returncode == 3, err
    assert b"were removed while the run went on" in err and b"Traceback" not in err


def test_run_ids_steps_and_attempts_that_name_nothing_are_exit_2(project):
    write_spec(project, {"a": {"command": ["true"]}})
    assert orch(project, "run", "p.yaml")[0] == 0
    run_id = only_run_id(project)
    for args in (["runs", "show", b"\xff"], ["run", "--resume", b"\xff"], ["logs", run_id, "../.."],
                 ["logs", run_id, "a", "--attempt", "0"], ["runs", "show", "x" * 100_000]):
        code, out, err = orch(project, *args)
        assert code == 2 and "Traceback" not in err and len(err) < 2_000, (args, err[:300])


def test_a_json_value_with_a_key_twice_is_refused(project):
    (project / "p.yaml").write_text(yaml.safe_dump({
        "apiVersion": "orch/v1", "name": "p", "params": {"j": {"type": "json", "default": {}}},
        "steps": {"a": {"command": ["sh", "-c", "printf '{\"k\": 1, \"k\": 2}' > $ORCH_OUTPUTS/v"], "outputs": {"v": "json"}}}}))
    code, _, err = orch(project, "run", "p.yaml", "-p", 'j={"a": 1, "a": 2}')
    assert code == 2 and "duplicate key 'a'" in err
    code, out, _ = orch(project, "run", "p.yaml", "--json")
    assert code == 1 and "duplicate key 'k'" in json.loads(out)["steps"]["a"]["error"]
