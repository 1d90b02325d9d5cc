"""The local backend through the CLI: params, records, logs, resources, progress."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from orch.backends.local.host import Host

STEPS = Path(__file__).resolve().parent.parent / "conformance" / "steps.py"


@pytest.fixture
def write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")

    def spec(steps: dict, **fields) -> Path:
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", **fields, "steps": steps}, sort_keys=False))
        return path

    return spec


ECHO = {"python": "conformance_steps:echo", "args": {"value": "${{ params.n }}"}, "outputs": {"value": "integer"}}


@pytest.mark.parametrize("args, words", [
    (["-p", "m=1"], "-p: error[E701] params.m: unknown param 'm'\n  hint: declared params: n"),
    (["-p", "n=1.5"], "-p: error[E702] params.n: param 'n': '1.5' is not an integer; it is of type integer"),
    (["-p", "n"], "-p takes KEY=VALUE, not 'n'"),
])
def test_bad_params_are_exit_2(orch, write, args, words):
    code, out, err = orch("run", write({"a": ECHO}, params={"n": {"type": "integer", "default": 1}}), *args)
    assert code == 2 and out == ""
    assert words in err and "Traceback" not in err


def test_a_param_without_default_must_be_given(orch, write):
    path = write({"a": ECHO}, params={"n": {"type": "integer"}})
    code, _, err = orch("run", path)
    assert code == 2 and "param 'n' has no default and was not given" in err and "hint: pass it: -p n=VALUE" in err
    code, out, _ = orch("run", path, "-p", "n=41", "--json")
    assert code == 0 and json.loads(out)["steps"]["a"]["outputs"] == {"value": 41}


def test_runs_are_recorded_and_logs_kept_per_attempt(orch, write):
    path = write({"noisy": {"command": ["sh", "-c", 'echo "try $(cat n 2>/dev/null)"; echo x >> n; test -s n2 || { echo y > n2; exit 1; }'],
                            "retries": 1}})
    code, out, _ = orch("run", path, "--json")
    run_id = json.loads(out)["run_id"]
    assert code == 0
    code, out, _ = orch("runs", "list")
    assert code == 0 and run_id in out and "succeeded" in out
    code, out, _ = orch("runs", "show", run_id, "--json")
    assert json.loads(out)["steps"]["noisy"]["attempts"] == 2
    assert orch("logs", run_id, "noisy")[1] == "try x\n"
    assert orch("logs", run_id, "noisy", "--attempt", "1")[1] == "try \n"
    code, _, err = orch("logs", run_id, "nope")
    assert code == 2 and "no logs for step 'nope'" in err


def test_a_recorded_run_shows_its_steps_in_spec_order(orch, write):
    path = write({"zeta": {"command": ["true"]}, "alpha": {"command": ["true"]}, "mid": {"command": ["true"], "after": ["zeta"]}})
    code, out, _ = orch("run", path, "--json")
    assert code == 0 and list(json.loads(out)["steps"]) == ["zeta", "alpha", "mid"]
    code, out, _ = orch("runs", "show", json.loads(out)["run_id"], "--json")
    assert list(json.loads(out)["steps"]) == ["zeta", "alpha", "mid"]


def test_plain_progress_lines_when_not_a_terminal(orch, write):
    code, out, err = orch("run", write({"a": {"python": "conformance_steps:ok"}, "b": {"python": "conformance_steps:fail", "after": ["a"]}}))
    assert code == 1
    lines = [line.split(" ", 1)[1] for line in err.splitlines()]
    assert lines[1:] == ["a: running (attempt 1)", "a: succeeded (attempt 1)", "b: running (attempt 1)",
                         "b: failed (attempt 1): RuntimeError: boom"]
    assert "failed" in out.splitlines()[-1]


def test_resuming_a_succeeded_run_is_refused(orch, write):
    path = write({"a": {"python": "conformance_steps:ok"}})
    run_id = json.loads(orch("run", path, "--json")[1])["run_id"]
    code, _, err = orch("run", path, "--resume", run_id)
    assert code == 2 and "already succeeded" in err


def test_max_parallel_bounds_concurrency(orch, write):
    steps = {name: {"python": "conformance_steps:sleep", "args": {"seconds": 0.3}} for name in "abc"}
    started = time.monotonic()
    assert orch("run", write(steps), "--max-parallel", "1")[0] == 0
    assert time.monotonic() - started >= 0.9


def test_gpu_steps_get_their_own_devices(orch, write, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    gpu = {"python": "conformance_steps:sleep", "resources": {"gpu": 1}}
    steps = {
        "g1": {**gpu, "args": {"seconds": 0.3}},
        "g2": {**gpu, "args": {"seconds": 0.3}},
        "see1": {"python": "conformance_steps:env", "args": {"name": "CUDA_VISIBLE_DEVICES"}, "resources": {"gpu": 2},
                 "outputs": {"value": "string"}, "after": ["g1", "g2"]},
        "none": {"python": "conformance_steps:env", "args": {"name": "CUDA_VISIBLE_DEVICES"}, "outputs": {"value": "string"}},
    }
    code, out, _ = orch("run", write(steps), "--json")
    result = json.loads(out)
    assert code == 0
    assert result["steps"]["see1"]["outputs"]["value"] == "0,1"
    assert result["steps"]["none"]["outputs"]["value"] == ""  # no GPU asked, none visible


def test_resource_requests_hold_slots():
    host = Host(cpu=__import__("decimal").Decimal(2), memory=__import__("decimal").Decimal(1 << 30), gpus=["0"])
    from orch.core.spec import Resources

    big, notes = host.request(Resources(cpu="4", memory="2Gi", gpu=2))
    assert notes == ["cpu 4 capped to this host's 2", "memory 2Gi capped to this host's 1.0Gi", "gpu 2 capped to this host's 1"]
    half, _ = host.request(Resources(cpu="1", memory="512Mi"))
    assert host.fits(big)
    gpus = host.take(big)
    assert gpus == ["0"] and not host.fits(half)
    host.give_back(big, gpus)
    assert host.fits(half) and host.take(half) == [] and host.fits(half) and not host.fits(big)


def test_a_backend_that_cannot_run_yet_is_unavailable():
    from orch.backends.base import Backend
    from orch.core.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="the later backend cannot run pipelines yet") as caught:
        Backend(name="later", description="declared, not built").load()
    assert caught.value.exit_code == 3


def test_live_progress_draws_a_line_per_step():
    import io

    from rich.console import Console

    from orch.backends.local.progress import Live

    screen = io.StringIO()
    live = Live(Console(file=screen, force_terminal=True, width=100))
    live.begin("run-1", "p", ["fetch", "train"])
    live.step("fetch", "running", attempt=1)
    live.step("fetch", "succeeded", attempt=1)
    live.step("train", "retrying", attempt=1, error="RuntimeError: boom")
    live.end()
    last = screen.getvalue().split("run run-1 of p")[-1]
    assert "fetch" in last and "succeeded" in last and "retrying" in last and "RuntimeError: boom" in last


def test_runs_show_prints_the_summary(orch, write):
    path = write({"a": {"python": "conformance_steps:echo", "args": {"value": "hello"}, "outputs": {"value": "string"}}})
    run_id = json.loads(orch("run", path, "--json")[1])["run_id"]
    code, out, _ = orch("runs", "show", run_id)
    assert code == 0
    assert "value=hello" in out and out.strip().splitlines()[-1].startswith(f"run {run_id} succeeded")
    assert orch("runs", "show", "nope")[0] == 2
