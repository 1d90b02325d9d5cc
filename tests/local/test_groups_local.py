"""Groups on the local backend, beyond the conformance cases: a killed fan-out group resumes without redoing its
finished items, `parallelism` bounds the items that run at once, artifacts are keyed by the items around a step,
and finally steps run after a pipeline timeout and are kept by a resume."""

from __future__ import annotations

import json
import shutil
import signal
import time

import pytest
import yaml

from .processes import STEPS, only_run_id, start, traced, wait_for

SWEEP = {
    "apiVersion": "orch/v1",
    "name": "resumable-sweep",
    "steps": {
        "sweep": {
            "foreach": ["a", "b", "c"],
            "parallelism": 1,
            "steps": {
                "train": {"python": "conformance_steps:record", "args": {"label": "train-${{ item }}", "value": "${{ item }}"},
                          "outputs": {"model": "string"}},
                "hold": {"python": "conformance_steps:block_while_flagged", "args": {"label": "hold-${{ item }}"},
                         "after": ["train"], "when": "item == 'b'"},
                "score": {"python": "conformance_steps:record", "args": {"label": "score-${{ item }}",
                                                                          "value": "${{ steps.train.outputs.model }}!"},
                          "after": ["hold"], "trigger": "none_failed", "outputs": {"score": "string"}},
            },
            "outputs": {"score": "${{ steps.score.outputs.score }}"},
        },
    },
    "finally": {"tally": {"python": "conformance_steps:record", "args": {"label": "tally", "value": "${{ run.status }}"},
                          "outputs": {"status": "string"}}},
}


@pytest.fixture
def project(tmp_path):
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    (tmp_path / "block").write_text("")
    return tmp_path


def test_a_killed_fan_out_group_resumes_without_redoing_finished_items(project):
    first = start(project, "run", "sweep.yaml", text=True)
    wait_for(lambda: "hold-b" in traced(project), what="item b's hold")
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    run_id = only_run_id(project)
    trace = traced(project)
    assert "train-c" not in trace and trace.count("score-a") == 1  # parallelism 1: item c had not started
    (project / "block").unlink()

    resumed = start(project, "run", "--resume", run_id, "--json", text=True)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert list(result["steps"]) == ["sweep", "sweep.train", "sweep.hold", "sweep.score", "tally"]
    assert result["steps"]["sweep"]["outputs"] == {"score": ["a!", "b!", "c!"]}
    assert result["steps"]["sweep.hold"]["status"] == "succeeded"  # item b's; a's and c's were skipped
    assert result["steps"]["tally"]["outputs"] == {"status": "succeeded"}
    trace = traced(project)
    for label in ("train-a", "score-a", "train-b", "train-c", "score-b", "score-c", "tally"):
        assert trace.count(label) == 1, trace  # what finished before the kill never ran again
    assert trace.count("hold-b") == 2 and trace.count("hold-b-done") == 1


def test_parallelism_bounds_the_items_of_a_group_running_at_once(tmp_path, orch, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = {"apiVersion": "orch/v1", "name": "bounded", "steps": {"each": {
        "foreach": [1, 2, 3, 4], "parallelism": 2,
        "steps": {"one": {"command": ["sh", "-c", 'date +%s.%N >> starts; sleep 0.4']},
                  "two": {"command": ["sh", "-c", 'sleep 0.4; date +%s.%N >> ends'], "after": ["one"]}}}}}
    (tmp_path / "bounded.yaml").write_text(yaml.safe_dump(spec))
    code, out, err = orch("run", "bounded.yaml", "--json")
    assert code == 0, err
    starts = sorted(float(t) for t in (tmp_path / "starts").read_text().split())
    ends = sorted(float(t) for t in (tmp_path / "ends").read_text().split())
    assert len(starts) == 4
    assert starts[2] >= ends[0] - 0.05  # the third item started only once an item ended, after both its steps


def test_artifacts_inside_fan_out_groups_are_keyed_by_their_items(tmp_path, orch, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    (tmp_path / "nested.py").write_text("def read(paths):\n    return [[open(p).read() for p in item] for item in paths]\n")
    spec = {"apiVersion": "orch/v1", "name": "keyed", "steps": {"outer": {
        "foreach": [[1, 2], [3]],
        "steps": {"inner": {"foreach": "${{ item }}", "steps": {
            "write": {"command": ["sh", "-c", 'echo "$1" > "$ORCH_OUTPUTS/file"; echo "wrote $1"', "sh", "${{ item }}"],
                      "outputs": {"file": "artifact"}},
            "read": {"python": "conformance_steps:read_text", "args": {"path": "${{ steps.write.outputs.file }}"},
                     "outputs": {"text": "string"}}},
            "outputs": {"file": "${{ steps.write.outputs.file }}"}}},
        "outputs": {"files": "${{ steps.inner.outputs.file }}"}},
        "all": {"python": "nested:read", "args": {"paths": "${{ steps.outer.outputs.files }}"},
                "outputs": {"texts": "json"}}}}
    (tmp_path / "keyed.yaml").write_text(yaml.safe_dump(spec))
    code, out, err = orch("run", "keyed.yaml", "--json")
    assert code == 0, err
    result = json.loads(out)
    files = result["steps"]["outer"]["outputs"]["files"]
    run = result["run_id"]
    assert [[uri.split(f"/{run}/")[1] for uri in item] for item in files] == \
        [["outer.inner.write/file/0/0", "outer.inner.write/file/0/1"], ["outer.inner.write/file/1/0"]]
    assert result["steps"]["outer.inner.read"]["outputs"] == {"text": [["1\n", "2\n"], ["3\n"]]}
    assert result["steps"]["all"]["outputs"] == {"texts": [["1\n", "2\n"], ["3\n"]]}
    code, out, _ = orch("logs", run, "outer.inner.write")  # every item's log, in item order
    assert code == 0 and [line for line in out.splitlines() if line.startswith("wrote")] == ["wrote 1", "wrote 2", "wrote 3"]
    code, out, _ = orch("logs", run, "outer.inner.write", "--item", "1")  # of the outermost fan-out
    assert code == 0 and out == "wrote 3\n"


def test_finally_steps_run_after_the_pipeline_timeout(tmp_path, orch, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    spec = {"apiVersion": "orch/v1", "name": "late", "timeout": 1,
            "steps": {"slow": {"python": "conformance_steps:sleep", "args": {"seconds": 30}}},
            "finally": {"report": {"python": "conformance_steps:echo", "args": {"value": "${{ run.failed_steps }}"},
                                   "outputs": {"failed": "json"}, "retries": 1}}}
    (tmp_path / "late.yaml").write_text(yaml.safe_dump(spec))
    began = time.monotonic()
    code, out, err = orch("run", "late.yaml", "--json")
    assert code == 1 and time.monotonic() - began < 20, err
    steps = json.loads(out)["steps"]
    assert steps["slow"]["status"] == "failed" and "timeout" in steps["slow"]["error"]
    assert steps["report"] == {**steps["report"], "status": "succeeded", "outputs": {"failed": ["slow"]}}
