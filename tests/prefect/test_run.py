"""`orch run --backend prefect` against a real Prefect API server, and the rendered module run on
its own with plain `python` and no orch at all."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest

from ..test_interrupt_engines import ctrl_c_once_started

SPEC = """
    apiVersion: orch/v1
    name: states
    steps:
      good: {command: [sh, -c, "echo hello; printf 7 > $ORCH_OUTPUTS/n"], outputs: {n: integer}}
      skip: {command: ["true"], when: "steps.good.outputs.n > 10"}
      after-skip: {command: ["true"], after: [skip]}
      bad: {command: [sh, -c, "echo the last words; exit 3"]}
      blocked: {command: ["true"], after: [bad]}
      alert: {command: ["true"], after: [bad], trigger: any_failed}
"""


def task_states(flow_run_id: str) -> dict[str, tuple[str, str]]:
    """Each task run's (state type, state name), as Prefect's API holds them."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read():
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return {run.name: (run.state.type.value, run.state.name) for run in runs}

    return asyncio.run(read())


def test_prefect_records_each_outcome_under_its_own_state_name(orch, spec_file, prefect_api, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = orch("run", spec_file(SPEC), "--backend", "prefect", "--json")
    result = json.loads(out)
    assert code == 1 and result["backend"] == "prefect"
    assert {name: step["status"] for name, step in result["steps"].items()} == {
        "good": "succeeded", "skip": "skipped", "after-skip": "skipped", "bad": "failed", "blocked": "upstream_failed",
        "alert": "succeeded"}
    assert result["steps"]["good"]["outputs"] == {"n": 7}
    assert result["steps"]["bad"]["error"] == "exited with status 3: the last words"
    assert task_states(result["run_id"]) == {  # what Prefect's UI shows
        "good": ("COMPLETED", "Completed"), "skip": ("COMPLETED", "Skipped"), "after-skip": ("COMPLETED", "Skipped"),
        "bad": ("FAILED", "Failed"), "blocked": ("FAILED", "UpstreamFailed"), "alert": ("COMPLETED", "Completed")}


def test_the_rendered_module_runs_with_plain_python_and_no_orch(orch, spec_file, prefect_api, tmp_path):
    code, out, _ = orch("render", spec_file(SPEC), "--backend", "prefect", "--out", tmp_path / "out")
    assert code == 0
    module = tmp_path / "out" / "states_flow.py"
    no_orch = textwrap.dedent(f"""
        import runpy, sys
        sys.modules["orch"] = None  # any import of orch fails
        runpy.run_path({str(module)!r}, run_name="__main__")
    """)
    env = dict(os.environ, PREFECT_API_URL=prefect_api)
    finished = subprocess.run([sys.executable, "-c", no_orch], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode != 0, "a failed step fails the flow run, and so the script"
    assert "failed steps: bad" in finished.stderr
    said = finished.stderr.split("failed steps")[0].replace(sys.prefix, "<venv>")  # a checkout may be called orch
    assert "ModuleNotFoundError" not in said and "orch" not in said.lower()


def test_progress_lines_name_each_step(orch, spec_file, prefect_api, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = orch("run", spec_file(SPEC), "--backend", "prefect")
    assert code == 1
    for line in ("good: succeeded", "bad: failed", "blocked: upstream_failed", "skip: skipped"):
        assert line in err + out


def test_without_prefect_api_url_a_temporary_server_runs_the_flow(orch, spec_file, tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.chdir(tmp_path)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert not PREFECT_API_URL.value()
        code, out, _ = orch("run", spec_file(SPEC), "--backend", "prefect", "--json")
    assert code == 1 and json.loads(out)["steps"]["alert"]["status"] == "succeeded"


def test_an_unreachable_prefect_api_is_exit_3(orch, spec_file):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        code, out, err = orch("run", spec_file(SPEC), "--backend", "prefect")
    assert code == 3 and "cannot reach the Prefect API at http://127.0.0.1:9/api" in err


@pytest.mark.parametrize("args, message", [
    (["--resume", "x"], "--resume is the local backend's"),
    (["-p", "nope=1"], "unknown param 'nope'"),
])
def test_bad_input_is_exit_2(orch, spec_file, args, message):
    code, out, err = orch("run", spec_file(SPEC), "--backend", "prefect", *args)
    assert code == 2 and message in err


def test_finally_steps_run_after_the_pipelines_timeout_without_its_deadline(orch, spec_file, prefect_api, tmp_path,
                                                                          monkeypatch):
    """docs/semantics.md: a finally step starts after the pipeline's timeout too, bounded by its own timeout only;
    the flow run stays the steps' verdict (Failed) and the RunResult lists the finally step after the steps."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = orch("run", spec_file("""
        apiVersion: orch/v1
        name: late
        timeout: 2s
        steps:
          slow: {command: [sleep, "30"]}
          later: {command: ["true"], after: [slow]}
        finally:
          report:
            command: [sh, -c, 'sleep 1; printf "%s %s" "${{ run.status }}" "$FAILED"']
            env: {FAILED: "${{ run.failed_steps }}"}
            outputs: {said: {type: string, from: stdout}}
            timeout: 20s
    """), "--backend", "prefect", "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "failed" and list(result["steps"]) == ["slow", "later", "report"]
    assert "the pipeline's timeout of 2s ran out" in result["steps"]["slow"]["error"]
    assert result["steps"]["later"]["status"] == "upstream_failed"
    assert result["steps"]["report"] == {**result["steps"]["report"], "status": "succeeded", "attempts": 1,
                                         "outputs": {"said": 'failed ["slow"]'}}
    assert task_states(result["run_id"])["report"] == ("COMPLETED", "Completed")


def task_run_times(flow_run_id: str) -> dict:
    """Each task run's (start, end), as Prefect's API holds them."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read():
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return {run.name: (run.start_time, run.end_time) for run in runs}

    return asyncio.run(read())


def test_a_fan_out_groups_items_run_apart_at_most_parallelism_at_once(orch, spec_file, prefect_api, tmp_path, monkeypatch):
    """Task runs named for their item (`sweep[1].evaluate`); item 1's evaluate waits only for item 1's train, not
    item 0's; with parallelism 2, item 2 starts once item 1 has ended, while item 0 still runs."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = orch("run", spec_file("""
        apiVersion: orch/v1
        name: sweep
        steps:
          sweep:
            foreach: [3, 1, 0]
            parallelism: 2
            steps:
              train: {command: [sleep, "${{ item }}"]}
              evaluate: {command: ["true"], after: [train]}
    """), "--backend", "prefect", "--json")
    result = json.loads(out)
    assert code == 0 and list(result["steps"]) == ["sweep", "sweep.train", "sweep.evaluate"]
    assert result["steps"]["sweep.train"]["attempts"] == 1 and result["steps"]["sweep"]["attempts"] == 0
    times = task_run_times(result["run_id"])
    assert set(times) == {"sweep", *(f"sweep[{i}].{step}" for i in range(3) for step in ("train", "evaluate"))}
    item = {i: (times[f"sweep[{i}].train"][0], times[f"sweep[{i}].evaluate"][1]) for i in range(3)}
    assert times["sweep[1].evaluate"][1] < times["sweep[0].train"][1]  # its own item's train only
    assert item[1][1] <= item[2][0] < item[0][1]  # a slot frees when an item's last step ends


STEPS = '''
import os


def write(text):
    path = os.path.abspath(f"out-{text}")
    with open(path, "w") as handle:
        handle.write(str(text))
    return path


def read(paths):
    return None if paths is None else [read(p) for p in paths] if isinstance(paths, list) else open(paths).read()


def echo(value):
    return value


def fail():
    raise RuntimeError("boom")
'''


def test_groups_give_the_local_backends_run_result(orch, spec_file, prefect_api, tmp_path, monkeypatch):
    """One spec on both backends: nested fan-outs with artifacts (keys under each item's indexes, lists of lists of
    copies for a consumer), per-item conditions, an empty list, a bad list, a failed group, and a finally step
    reading run.failed_steps; the same RunResult, but for the run ids in the artifacts' URIs."""
    (tmp_path / "group_steps.py").write_text(STEPS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    path = spec_file("""
        apiVersion: orch/v1
        name: nested
        params: {grid: {type: json, default: [[1, 2], [], [3]]}}
        steps:
          outer:
            foreach: ${{ params.grid }}
            parallelism: 2
            steps:
              seen: {python: group_steps:echo, args: {value: "${{ item }}"}, outputs: {value: json}}
              inner:
                foreach: ${{ item }}
                when: steps.seen.outputs.value != null
                steps:
                  file: {python: group_steps:write, args: {text: "${{ item }}"}, outputs: {file: artifact}}
                  big: {python: group_steps:echo, args: {value: "${{ item }}"}, when: "item > 1", outputs: {value: integer}}
                outputs: {file: "${{ steps.file.outputs.file }}", big: "${{ steps.big.outputs.value }}"}
            outputs: {files: "${{ steps.inner.outputs.file }}", big: "${{ steps.inner.outputs.big }}"}
          read-all: {python: group_steps:read, args: {paths: "${{ steps.outer.outputs.files }}"}, outputs: {texts: json}}
          each-text:
            foreach: ${{ steps.read-all.outputs.texts }}
            steps:
              listed: {python: group_steps:echo, args: {value: "${{ item }}"}, foreach: "${{ item }}", outputs: {v: string}}
            outputs: {v: "${{ steps.listed.outputs.v }}"}
          word: {python: group_steps:echo, args: {value: not a list}, outputs: {value: json}}
          bad-list:
            foreach: ${{ steps.word.outputs.value }}
            steps:
              never: {python: group_steps:echo, args: {value: 1}}
          none:
            foreach: []
            steps:
              never: {python: group_steps:echo, args: {value: 1}, outputs: {v: integer}}
            outputs: {v: "${{ steps.never.outputs.v }}"}
          failing:
            steps:
              breaks: {python: group_steps:fail}
              later: {python: group_steps:echo, args: {value: 1}, after: [breaks], trigger: all_done}
        finally:
          report: {python: group_steps:echo, args: {value: "${{ run.failed_steps }}"}, outputs: {value: json}}
    """)
    results = {}
    for backend in ("local", "prefect"):
        code, out, _ = orch("run", path, "--backend", backend, "--json")
        results[backend] = json.loads(out)
        assert code == 1
    shown = {backend: json.loads(json.dumps({name: {k: step[k] for k in ("status", "attempts", "outputs", "error")}
                                             for name, step in result["steps"].items()}).replace(result["run_id"], "RUN"))
             for backend, result in results.items()}
    assert shown["prefect"] == shown["local"]
    steps = shown["prefect"]
    assert steps["outer.inner.file"]["outputs"]["file"][0][1].endswith("/nested/RUN/outer.inner.file/file/0/1")
    assert steps["outer"]["outputs"]["big"] == [[None, 2], [], [3]]
    assert steps["read-all"]["outputs"] == {"texts": [["1", "2"], [], ["3"]]}
    assert steps["report"]["outputs"] == {"value": ["bad-list", "failing.breaks"]}  # a group failing by itself is named
    assert steps["failing"]["error"] == "step 'breaks' failed"
    assert steps["each-text"]["outputs"] == {"v": [["1", "2"], [], ["3"]]}
    assert (steps["bad-list"]["status"], steps["bad-list.never"]["status"]) == ("failed", "upstream_failed")


def test_ctrl_c_starts_no_further_item_of_a_group(prefect_api, tmp_path):
    """Ctrl-C ends the running item's step and starts no other: the group's next item would otherwise take the slot
    the killed one freed while Prefect's task runner waits for its threads."""
    (tmp_path / "spec.yaml").write_text(textwrap.dedent("""
        apiVersion: orch/v1
        name: interrupted
        steps:
          each:
            foreach: [0, 1, 2]
            parallelism: 1
            steps:
              long: {command: [sh, -c, "echo $$ >> started; sleep 30"]}
    """))
    ctrl_c_once_started(tmp_path, prefect_api, "--backend", "prefect")
    assert len((tmp_path / "started").read_text().split()) == 1
