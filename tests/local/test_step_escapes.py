"""No attempt escapes the local backend, and no step can crash it: the real `orch`, killed at the
moment a step starts, a step that kills or writes into the process starter, outputs that are not
files, and background children left behind by a step that ended."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
import yaml

from .processes import only_run_id, start, wait_for


def write_spec(project: Path, steps: dict, name: str = "p") -> None:
    (project / f"{name}.yaml").write_text(yaml.safe_dump({"apiVersion": "orch/v1", "name": name, "steps": steps},
                                                        sort_keys=False))


def orch(project: Path, *args, timeout: float = 60) -> tuple[int, str, str]:
    process = start(project, *args, text=True)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def token_sleep(seconds: int) -> str:
    """A `sleep` argument no other process has: `45.0000123456`, to find exactly this test's sleeps."""
    return f"{seconds}.{uuid.uuid4().int % 10**10:010d}"


def alive_with(arg: str) -> list[int]:
    """Live (not zombie) processes with `arg` in their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if arg.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def kill_all(arg: str) -> None:
    for pid in alive_with(arg):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes through /proc")


# --- 1. killed the moment a step starts: nothing escapes, a resume never runs two copies


def test_orch_killed_as_a_step_starts_leaves_nothing_running_and_resumes_one_copy(tmp_path):
    arg = token_sleep(60)
    try:
        resumed_runs = 0
        # the moment the executor made the attempt's folder (it forks right after), then a little later
        for index, (how, delay) in enumerate([("int", 0), ("kill", 0), ("int", 0.001), ("kill", 0.001),
                                              ("int", 0.003), ("kill", 0.003), ("int", 0.01), ("kill", 0.01),
                                              ("int", 0.03), ("kill", 0.03), ("int", 0.1), ("kill", 0.1),
                                              ("kill", 0.5), ("kill", 2.0)]):  # on a loaded machine: surely started
            project = tmp_path / f"try-{index}"
            project.mkdir()
            write_spec(project, {"a": {"command": ["sh", "-c", f"echo started >> COUNT; sleep {arg}"]}})
            orch_process = start(project, "run", "p.yaml", "--json", text=True)
            runs = project / ".orch" / "runs"
            deadline = time.monotonic() + 15
            while not any(runs.glob("*/a")) and orch_process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(delay)
            orch_process.send_signal(signal.SIGINT if how == "int" else signal.SIGKILL)
            began = time.monotonic()
            _, err = orch_process.communicate(timeout=30)
            took = time.monotonic() - began
            if how == "int":
                assert orch_process.returncode == 130, err
                assert took < 5, f"Ctrl-C took {took:.1f}s"
                assert alive_with(arg) == [], f"try {index}: an attempt outlived orch's exit"
            else:
                assert orch_process.returncode == -signal.SIGKILL
                wait_for(lambda: alive_with(arg) == [], seconds=5, what=f"try {index}: the attempt to be killed")
            if how == "kill" and resumed_runs < 2 and (project / "COUNT").exists():
                resumed_runs += 1
                run_id = only_run_id(project)
                resumed = start(project, "run", "--resume", run_id, "--json", text=True)
                wait_for(lambda: (project / "COUNT").read_text().count("started") == 2, seconds=30,
                         what="the resumed attempt")
                time.sleep(0.2)
                assert len(alive_with(arg)) == 1, "the resume runs a second copy alongside the first"
                resumed.send_signal(signal.SIGINT)
                _, err = resumed.communicate(timeout=30)
                assert resumed.returncode == 130, err
                assert alive_with(arg) == []
        assert resumed_runs >= 1  # at least one of the kills came after the step had started
    finally:
        kill_all(arg)


def test_a_resume_kills_an_attempt_whose_pid_only_its_pid_file_knows(tmp_path):
    """orch and its process starter both SIGKILLed before orch recorded the pid: the resume finds it."""
    arg = token_sleep(60)
    project = tmp_path
    write_spec(project, {"a": {"command": ["sh", "-c", f"echo started >> COUNT; sleep {arg}"]}})
    try:
        first = start(project, "run", "p.yaml", "--json", text=True)
        wait_for(lambda: alive_with(arg), what="the attempt")
        (pid_file,) = (project / ".orch" / "runs").glob("*/a/attempt-1.pid")
        pid = int(pid_file.read_text().split()[0])
        starter = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        os.kill(starter, signal.SIGSTOP)  # it must not see orch go and clean up: as if it were gone too
        first.kill()
        first.wait(timeout=30)
        os.kill(starter, signal.SIGKILL)  # (it holds orch's stderr: only now can that be read to its end)
        first.communicate(timeout=30)
        db = sqlite3.connect(project / ".orch" / "orch.db")
        db.execute("UPDATE units SET pid = NULL, pid_started = NULL")  # as if the pid never reached the records
        db.commit()
        db.close()
        assert len(alive_with(arg)) == 1  # orphaned, nobody's child any more
        resumed = start(project, "run", "--resume", only_run_id(project), "--json", text=True)
        wait_for(lambda: (project / "COUNT").read_text().count("started") == 2, what="the resumed attempt")
        time.sleep(0.2)
        assert len(alive_with(arg)) == 1
        resumed.send_signal(signal.SIGINT)
        resumed.communicate(timeout=30)
        assert alive_with(arg) == []
    finally:
        kill_all(arg)


# --- 2. a step that kills or writes into the process starter


def test_a_step_that_kills_the_process_starter_fails_and_the_run_goes_on(tmp_path):
    arg = token_sleep(45)
    write_spec(tmp_path, {
        "killer": {"command": ["sh", "-c", f"sleep {arg} & sleep 0.3; kill -9 $PPID; sleep {arg}"]},
        "bystander": {"command": ["sh", "-c", f"sleep {arg}"]},
        "after": {"command": ["sh", "-c", 'echo fine > "$ORCH_OUTPUTS/x"'], "outputs": {"x": "string"},
                  "after": ["killer", "bystander"], "trigger": "all_done"},
    })
    try:
        code, out, err = orch(tmp_path, "run", "p.yaml", "--json")
        assert code == 1, err
        assert "Traceback" not in err
        steps = json.loads(out)["steps"]
        for name in ("killer", "bystander"):
            assert steps[name]["status"] == "failed"
            assert "process starter was killed by signal 9 while this attempt ran" in steps[name]["error"]
        assert steps["after"]["status"] == "succeeded" and steps["after"]["outputs"] == {"x": "fine"}  # a new starter
        assert alive_with(arg) == []  # the attempts it was running, and their children, were killed
        code, out, err = orch(tmp_path, "run", "--resume", only_run_id(tmp_path), "--json")
        assert code == 1 and "Traceback" not in err, err  # resumable: the killer fails again, as it should
    finally:
        kill_all(arg)


WRITER = '''
import os


def write(lines):
    with open(f"/proc/{os.getppid()}/fd/1", "w") as starter:
        for line in lines:
            starter.write(line)
            starter.flush()
    return "wrote"


def ok():
    return "ok"
'''


@pytest.mark.parametrize("lines", [
    ["not json\n"],
    ['{"id": 999, "status": 0}\n', '{"id": 0}\n'],
    ['{"id": 0, "pid": 1}\n', '{"id": 0, "status": "x"}\n', '[1, 2]\n', '{"id": true, "status": 0}\n', "[" * 100000 + "\n"],
    ["no newline at the end, then the starter's own message"],
], ids=["not-json", "unknown-id-and-no-status", "wrong-shapes", "unended-line"])
def test_what_a_step_writes_into_the_starter_is_ignored(tmp_path, lines):
    (tmp_path / "writer.py").write_text(WRITER)
    write_spec(tmp_path, {
        "a": {"python": "writer:write", "args": {"lines": lines}, "outputs": {"r": "string"}},
        "b": {"python": "writer:ok", "after": ["a"], "outputs": {"r": "string"}},
    })
    code, out, err = orch(tmp_path, "run", "p.yaml", "--json")
    assert code == 0, err
    steps = json.loads(out)["steps"]
    assert steps["a"]["outputs"] == {"r": "wrote"} and steps["b"]["outputs"] == {"r": "ok"}


# --- 3. outputs that are not regular files


def test_outputs_that_are_not_regular_files_fail_their_step_and_the_run_resumes(tmp_path):
    out_x = '"$ORCH_OUTPUTS/x"'
    makers = {
        "folder": f"mkdir {out_x}",
        "fifo": f"mkfifo {out_x}",
        "device": f"ln -s /dev/zero {out_x}",
        "loop": f"ln -s x {out_x}",
        "socket": """cd "$ORCH_OUTPUTS" && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("x")'""",
        "result_fifo": 'mkfifo "$ORCH_OUTPUTS/../attempt-1.result.json"; echo v > "$ORCH_OUTPUTS/x"',
        "log_fifo": 'rm "$ORCH_OUTPUTS/../attempt-1.log"; mkfifo "$ORCH_OUTPUTS/../attempt-1.log"; exit 3',
        "outputs_a_file": 'rm -r "$ORCH_OUTPUTS"; echo v > "$ORCH_OUTPUTS"',
    }
    write_spec(tmp_path, {name: {"command": ["sh", "-c", script], "outputs": {"x": "string"}}
                          for name, script in makers.items()})
    code, out, err = orch(tmp_path, "run", "p.yaml", "--json", timeout=30)
    assert code == 1, err
    assert "Traceback" not in err
    steps = json.loads(out)["steps"]
    assert "output 'x': $ORCH_OUTPUTS/x is a folder, not a regular file" in steps["folder"]["error"]
    assert "is a FIFO" in steps["fifo"]["error"]
    assert "is a character device" in steps["device"]["error"]
    assert "is a socket" in steps["socket"]["error"] or "cannot read" in steps["socket"]["error"]
    assert "cannot read $ORCH_OUTPUTS/x" in steps["loop"]["error"]
    assert steps["result_fifo"]["status"] == "succeeded"  # a command step's result file is not read on success
    assert steps["log_fifo"]["error"] == "exited with status 3"
    assert steps["outputs_a_file"]["status"] == "failed"
    for name in makers:
        if name != "result_fifo":
            assert steps[name]["status"] == "failed", name
    code, out, err = orch(tmp_path, "run", "--resume", only_run_id(tmp_path), "--json", timeout=30)
    assert code == 1 and "Traceback" not in err, err
    assert json.loads(out)["steps"]["folder"]["attempts"] == 2


# --- 4. what a finished step left running


def test_background_children_of_an_ended_attempt_are_killed(tmp_path):
    arg = token_sleep(45)
    write_spec(tmp_path, {
        "a": {"command": ["sh", "-c", f'sleep {arg} >/dev/null 2>&1 & echo ok > "$ORCH_OUTPUTS/x"'],
              "outputs": {"x": "string"}},
        "b": {"python": "steps:leave_one", "args": {"arg": arg}},
    })
    (tmp_path / "steps.py").write_text(
        "import subprocess\n\ndef leave_one(arg):\n    subprocess.Popen(['sleep', arg])\n")
    try:
        code, out, err = orch(tmp_path, "run", "p.yaml", "--json")
        assert code == 0, err
        assert json.loads(out)["steps"]["a"]["outputs"] == {"x": "ok"}
        assert alive_with(arg) == []
    finally:
        kill_all(arg)
