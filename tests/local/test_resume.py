"""A killed run resumes: SIGKILL or Ctrl-C the real `orch` process mid-run, then --resume."""

from __future__ import annotations

import json
import shutil
import signal
import time

import pytest
import yaml

from .processes import STEPS, only_run_id, start, traced, wait_for

SPEC = {
    "apiVersion": "orch/v1",
    "name": "resumable",
    "steps": {
        "first": {"python": "conformance_steps:record", "args": {"label": "first", "value": 1}, "outputs": {"n": "integer"}},
        "second": {"python": "conformance_steps:record", "args": {"label": "second", "value": "${{ steps.first.outputs.n }}"},
                   "outputs": {"n": "integer"}},
        "fan": {"python": "conformance_steps:record", "foreach": ["a", "b"], "args": {"label": "fan-${{ item }}"}, "after": ["second"]},
        "blocked": {"python": "conformance_steps:block_while_flagged", "args": {"label": "blocked"}, "after": ["fan"]},
        "last": {"python": "conformance_steps:record", "args": {"label": "last", "value": "${{ steps.second.outputs.n }}"},
                 "after": ["blocked"], "outputs": {"n": "integer"}},
    },
}


@pytest.fixture
def project(tmp_path):
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    (tmp_path / "resumable.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    (tmp_path / "block").write_text("")
    return tmp_path








@pytest.mark.parametrize("how", ["sigkill", "sigint"])
def test_a_killed_run_resumes_without_redoing_finished_steps(project, how):
    first = start(project, "run", "resumable.yaml", text=True)
    wait_for(lambda: "blocked" in traced(project), what="blocked")
    time.sleep(0.3)  # 'blocked' is mid-attempt now
    first.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
    out, err = first.communicate(timeout=30)
    if how == "sigint":
        assert first.returncode == 130, err
        assert "resume with: orch run" in err
    else:
        assert first.returncode == -signal.SIGKILL
    run_id = only_run_id(project)
    time.sleep(0.3)
    (project / "block").unlink()
    before = (project / "trace").read_text().split()
    time.sleep(0.3)
    assert (project / "trace").read_text().split() == before, "an attempt of the killed run outlived it"

    resumed = start(project, "run", "--resume", run_id, "--json", text=True)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["run_id"] == run_id and result["status"] == "succeeded"
    assert result["steps"]["last"]["outputs"] == {"n": 1}  # outputs of kept steps are still there
    trace = (project / "trace").read_text().split()
    for label in ("first", "second", "fan-a", "fan-b", "last"):
        assert trace.count(label) == 1, trace  # finished steps never ran twice
    assert trace.count("blocked") == 2  # the interrupted step ran again ...
    assert trace.count("blocked-done") == 1  # ... and only the resumed attempt got to finish

