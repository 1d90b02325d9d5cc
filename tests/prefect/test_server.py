"""`orch deploy`, `orch run --server` and `orch runs --backend prefect` against a real Prefect server with a real
process worker (tests/prefect/server.py): what the server holds and what orch reads back from it."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import stat
import textwrap
import uuid

import pytest

from tests.prefect.server import AUTH, prefect_server  # noqa: F401 - the session fixture

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect-server")]

CHAIN = """
    apiVersion: orch/v1
    name: {name}
    description: three steps on a worker
    params:
      word: {{type: string, default: hello}}
      times: {{type: integer, default: 2}}
    schedule: {{cron: "0 3 * * *", timezone: Europe/Paris, concurrency: 2}}
    steps:
      a:
        command: [sh, -c, 'printf %s "$W" > $ORCH_OUTPUTS/w']
        env: {{W: "${{{{ params.word }}}}"}}
        outputs: {{w: string}}
      b:
        python: chain_steps:repeat
        args: {{w: "${{{{ steps.a.outputs.w }}}}", n: "${{{{ params.times }}}}"}}
        outputs: {{text: string}}
      c:
        command: [sh, -c, 'pwd > $ORCH_OUTPUTS/cwd; echo "$T"', c]
        env: {{T: "${{{{ steps.b.outputs.text }}}}"}}
        outputs: {{cwd: string}}
"""

RETRIES = """
    apiVersion: orch/v1
    name: {name}
    steps:
      flaky:
        command: [sh, -c, 'n=$(cat tries 2>/dev/null || echo 0); echo $((n+1)) > tries; [ "$n" -ge 2 ] || {{ echo "try $n fails" >&2; exit 1; }}']
        retries: {{limit: 2, delay: 1s}}
      broken:
        command: [sh, -c, 'echo "it broke" >&2; exit 4']
        retries: {{limit: 1, delay: 1s}}
      after-broken: {{command: ["true"], after: [broken]}}
"""

SHIPPED = """
    apiVersion: orch/v1
    name: {name}
    code: {{ship: true}}
    artifacts: {{store: "{store}"}}
    steps:
      py:
        python: shipped_steps:answer
        outputs: {{value: integer}}
"""


def write(folder, text: str, **values):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(textwrap.dedent(text.format(**values)).lstrip("\n"), encoding="utf-8")
    return path


def deployment(server, name: str):
    """The deployment `<name>/<name>` as the server holds it (None when there is none)."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    async def read():
        async with get_client() as client:
            try:
                return await client.read_deployment_by_name(f"{name}/{name}")
            except ObjectNotFound:
                return None

    with server.settings():
        return asyncio.run(read())


def task_run_states(server, flow_run_id: str) -> dict[str, list]:
    """Each task run's state history (type, timestamp, name), oldest first, as the server holds it."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read():
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return {run.name: [(s.type.value, s.timestamp, s.name) for s in await client.read_task_run_states(run.id)]
                    for run in runs}

    with server.settings():
        return asyncio.run(read())


def result_files(server, flow_run_id: str) -> list[str]:
    """Where the worker wrote the task runs' results (the state's storage key: a path on the worker's machine)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read():
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return [run.state.data.storage_key for run in runs]

    with server.settings():
        return asyncio.run(read())


def test_deploy_creates_the_deployment_and_a_second_deploy_updates_it(prefect_server, orch, tmp_path):
    spec = write(tmp_path / "proj", CHAIN, name="deployed")
    with prefect_server.settings():
        code, out, err = orch("deploy", spec, "-b", "prefect", "--work-pool", prefect_server.work_pool, "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["server"] == prefect_server.url and made["made"][0].startswith("created Prefect deployment 'deployed/deployed'")
    first = deployment(prefect_server, "deployed")
    assert first.work_pool_name == prefect_server.work_pool and first.parameters == {"word": "hello", "times": 2}
    assert set(first.parameter_openapi_schema["properties"]) == {"word", "times"}
    (schedule,) = first.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == ("0 3 * * *", "Europe/Paris", True)
    assert first.global_concurrency_limit.limit == 2 and first.paused is False
    assert first.entrypoint == ".orch/deploy/prefect/deployed_flow.py:deployed_flow"
    assert first.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(spec.parent)}}]
    module = spec.parent / ".orch" / "deploy" / "prefect" / "deployed_flow.py"
    assert stat.S_IMODE(module.stat().st_mode) == 0o644  # a worker running as another user reads it
    code, _, _ = orch("render", spec, "-b", "prefect", "--out", tmp_path / "rendered")
    assert code == 0 and module.read_text() == (tmp_path / "rendered" / "deployed_flow.py").read_text()
    # the same name again: Prefect updates that deployment, paused now; no work pool flag: the default one
    with prefect_server.settings():
        code, out, err = orch("deploy", spec, "-b", "prefect", "--paused")
    assert code == 0 and out.startswith("updated Prefect deployment 'deployed/deployed'"), (out, err)
    second = deployment(prefect_server, "deployed")
    assert second.id == first.id and second.paused is True and second.version == first.version


def test_a_deployment_loses_the_schedule_its_spec_no_longer_has_and_delete_removes_it(prefect_server, orch, tmp_path):
    spec = write(tmp_path / "proj", CHAIN, name="unscheduled")
    with prefect_server.settings():
        assert orch("deploy", spec, "-b", "prefect")[0] == 0
        spec.write_text("\n".join(line for line in spec.read_text().splitlines() if not line.startswith("schedule")))
        assert orch("deploy", spec, "-b", "prefect")[0] == 0
        updated = deployment(prefect_server, "unscheduled")
        assert updated.schedules == [] and updated.global_concurrency_limit is None
        code, out, err = orch("deploy", spec, "-b", "prefect", "--delete")
        assert code == 0 and out.splitlines()[0] == f"deleted Prefect deployment 'unscheduled/unscheduled' (id {updated.id})"
        assert deployment(prefect_server, "unscheduled") is None
        assert not (spec.parent / ".orch" / "deploy" / "prefect" / "unscheduled_flow.py").exists()
        code, out, _ = orch("deploy", spec, "-b", "prefect", "--delete")
    assert code == 0 and out.strip() == f"nothing of unscheduled was on {prefect_server.url}"


def test_a_run_on_the_worker_is_read_back_from_the_server(prefect_server, orch, tmp_path):
    spec = write(tmp_path / "proj", CHAIN, name="chain-run")
    # imported by the step from the project's folder: the worker's flow run works there, no PYTHONPATH given
    (spec.parent / "chain_steps.py").write_text("def repeat(w, n):\n    return w * n\n")
    with prefect_server.settings():
        assert orch("deploy", spec, "-b", "prefect")[0] == 0
        code, out, err = orch("run", spec, "-b", "prefect", "--server", prefect_server.url, "-p", "word=yo", "-p", "times=3",
                              "--json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "succeeded", err
    assert result["params"] == {"word": "yo", "times": 3} and "warning" not in err
    steps = result["steps"]
    assert {name: (s["status"], s["attempts"]) for name, s in steps.items()} == {
        "a": ("succeeded", 1), "b": ("succeeded", 1), "c": ("succeeded", 1)}
    assert (steps["a"]["outputs"], steps["b"]["outputs"]) == ({"w": "yo"}, {"text": "yoyoyo"})
    assert steps["c"]["outputs"] == {"cwd": str(spec.parent)}  # relative paths: the project's folder, as orch run
    assert result["started_at"] <= steps["a"]["started_at"] < steps["a"]["ended_at"] <= steps["b"]["started_at"]
    assert steps["b"]["ended_at"] <= steps["c"]["started_at"] <= steps["c"]["ended_at"] <= result["ended_at"]
    with prefect_server.settings():
        from prefect import get_client

        async def flow_run():
            async with get_client() as client:
                return await client.read_flow_run(uuid.UUID(result["run_id"]))

        record = asyncio.run(flow_run())
    assert record.deployment_id == deployment(prefect_server, "chain-run").id and record.name.startswith("chain-run-")
    assert record.parameters == {"word": "yo", "times": 3}


def test_retries_are_the_servers_run_counts_and_a_failure_keeps_its_words(prefect_server, orch, tmp_path):
    spec = write(tmp_path / "proj", RETRIES, name="retrying")
    with prefect_server.settings():
        assert orch("deploy", spec, "-b", "prefect")[0] == 0
        code, out, err = orch("run", spec, "-b", "prefect", "--deployed", "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "failed", err
    steps = result["steps"]
    assert {name: (s["status"], s["attempts"]) for name, s in steps.items()} == {
        "flaky": ("succeeded", 3), "broken": ("failed", 2), "after-broken": ("upstream_failed", 0)}
    assert steps["broken"]["error"] == "exited with status 4: it broke"
    assert (spec.parent / "tries").read_text().strip() == "3"
    # each retry starts its 1 s delay after the failed try, never before (the states the server recorded; the retry's
    # time is set a moment before its state is stamped: measured 0.9992 s between the two stamps on a loaded machine)
    history = sorted(task_run_states(prefect_server, result["run_id"])["flaky"], key=lambda state: state[1])
    waits = [(after[1] - before[1]).total_seconds() for before, after in zip(history, history[1:])
             if before[2] == "AwaitingRetry" and after[0] == "RUNNING"]
    assert len(waits) == 2 and all(wait >= 0.99 for wait in waits), history


def test_runs_list_and_show_read_the_servers_runs_and_say_when_outputs_are_out_of_reach(prefect_server, orch, tmp_path):
    spec = write(tmp_path / "proj", CHAIN, name="listed")
    (spec.parent / "chain_steps.py").write_text("def repeat(w, n):\n    return w * n\n")
    with prefect_server.settings():
        assert orch("deploy", spec, "-b", "prefect")[0] == 0
        code, out, _ = orch("run", spec, "-b", "prefect", "--deployed", "--json")
        run_id = json.loads(out)["run_id"]
        code, out, err = orch("runs", "list", "-b", "prefect", "--spec", spec, "--server", prefect_server.url)
        assert code == 0 and run_id in out and "succeeded" in out, (out, err)
        code, out, err = orch("runs", "show", run_id, "-b", "prefect", "--spec", spec, "--json")
        shown = json.loads(out)
        assert code == 0 and shown["run_id"] == run_id and shown["params"] == {"word": "hello", "times": 2}
        assert shown["steps"]["b"]["outputs"] == {"text": "hellohello"} and "note" not in err
        # the worker's result files, as on another machine: not here; the states are still the server's
        for path in result_files(prefect_server, run_id):
            os.unlink(path)
        code, out, err = orch("runs", "show", run_id, "-b", "prefect", "--spec", spec, "--json")
        gone = json.loads(out)
        assert code == 0 and {s["status"] for s in gone["steps"].values()} == {"succeeded"}
        assert all(s["outputs"] == {} for s in gone["steps"].values())
        (note,) = [line for line in err.splitlines() if line.startswith("note:")]
        assert "outputs of a, b, c not read" in note and "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK" in note
        # the spec changed since the deploy: the run says so once, and runs what was deployed
        spec.write_text(spec.read_text().replace("default: hello", "default: bye"))
        code, out, err = orch("run", spec, "-b", "prefect", "--deployed", "--json")
        assert code == 0 and json.loads(out)["params"]["word"] == "bye"
        assert err.count("warning: the deployed flow module") == 1
        code, _, err = orch("runs", "show", str(uuid.uuid4()), "-b", "prefect", "--spec", spec)
    assert code == 2 and "no flow run" in err


def test_an_unreachable_server_or_refused_credentials_is_exit_3_naming_the_url(prefect_server, orch, tmp_path):
    from orch.backends.prefect.run import free_port

    spec = write(tmp_path / "proj", RETRIES, name="unreachable")
    nowhere = f"http://127.0.0.1:{free_port()}/api"
    for args in (("run", spec, "-b", "prefect", "--server", nowhere), ("deploy", spec, "-b", "prefect", "--server", nowhere),
                 ("runs", "list", "-b", "prefect", "--spec", spec, "--server", nowhere)):
        code, out, err = orch(*args)
        assert code == 3 and f"cannot reach the Prefect API at {nowhere}" in err and "Traceback" not in err, (args, err)
    wrong = "orch:not-the-auth-Zx3"
    with prefect_server.settings(api_auth_string=wrong):
        code, out, err = orch("deploy", spec, "-b", "prefect")
    assert code == 3 and f"the Prefect API at {prefect_server.url} refused the credentials (HTTP 401)" in err
    assert wrong not in out + err and AUTH not in out + err
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        code, _, err = orch("run", spec, "-b", "prefect", "--deployed")
    assert code == 3 and "set PREFECT_API_URL" in err


def test_a_pipeline_that_ships_its_code_runs_from_the_store_alone(prefect_server, s3_server, orch, tmp_path):
    store = f"{s3_server}/shipped-{uuid.uuid4().hex[:6]}"
    spec = write(tmp_path / "proj", SHIPPED, name="shipped", store=store)
    (spec.parent / "shipped_steps.py").write_text("import os\n\ndef answer():\n    return 42 if os.getcwd() else 0\n")
    with prefect_server.settings():
        code, out, err = orch("deploy", spec, "-b", "prefect")
        assert code == 0, err
        assert f"uploaded to {store}/code/" in err
        held = deployment(prefect_server, "shipped")
        # the flow module is beside the code in the store: a worker on another machine needs no shared disk
        (pull,) = held.pull_steps
        assert pull["prefect.deployments.steps.pull_from_remote_storage"]["url"] == f"{store}/deploy/prefect/shipped"
        (spec.parent / "shipped_steps.py").unlink()  # the worker's run imports the shipped copy only
        code, out, err = orch("run", spec, "-b", "prefect", "--deployed", "--json")
        result = json.loads(out)
        assert code == 0 and result["steps"]["py"]["outputs"] == {"value": 42}, err
        code, out, err = orch("deploy", spec, "-b", "prefect", "--delete")
    assert code == 0 and out.splitlines()[1:] == [f"removed {store}/deploy/prefect/shipped/shipped_flow.py",
                                                  f"removed {spec.parent}/.orch/deploy/prefect/shipped_flow.py"], out


SLEEPY = """
    apiVersion: orch/v1
    name: {name}
    steps:
      nap: {{command: [sh, -c, 'echo $$ > nap.pid; exec sleep 120']}}
    finally:
      told: {{command: [sh, -c, 'touch told']}}
"""


def test_ctrl_c_then_yes_cancels_the_flow_run_on_the_server(prefect_server, tmp_path, monkeypatch):
    """follow() with the Prefect callbacks: Ctrl-C while a step runs, answered yes, sets the flow run Cancelling,
    the worker ends it Cancelled, and the step's process (its own session, out of the SIGTERM's reach) ends too;
    the finally steps of a cancelled run do not run (docs/semantics.md)."""
    from orch.core.load import load_spec

    spec = write(tmp_path / "proj", SLEEPY, name="sleepy")
    graph = load_spec(str(spec))
    monkeypatch.chdir(spec.parent)
    nap = None
    try:
        cancelled = _cancel_while_running(prefect_server, graph, spec)
        nap = int((spec.parent / "nap.pid").read_text())
        assert cancelled.status == "failed"
        assert cancelled.steps["nap"].status == "failed" and cancelled.steps["nap"].error == "stopped: the run was cancelled"
        assert not _alive(nap), "the cancelled run's step outlived it"
        assert cancelled.steps["told"].status == "pending" and not (spec.parent / "told").exists()
    finally:
        if nap is not None and _alive(nap):
            os.kill(nap, 9)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _cancel_while_running(prefect_server, graph, spec):
    import time

    from orch.backends.prefect import remote
    from orch.backends.remote import follow
    from orch.core.errors import RunInterrupted

    with prefect_server.settings():
        from orch.backends.prefect.deploy import deploy

        deploy(graph, spec_path=str(spec), server=None, options={}, say=lambda line: None)
        url = prefect_server.url
        held = remote.call(url, remote.read_deployment, "sleepy/sleepy")
        flow_run = remote.call(url, remote._trigger, held.id, {}, "sleepy-cancelled")

        def read(final):
            result = remote._read(url, graph, flow_run.id, {}, final, remote.Notes())
            if result.steps["nap"].status == "running" and (spec.parent / "nap.pid").exists():
                raise KeyboardInterrupt
            return result

        with pytest.raises(RunInterrupted, match="cancelled the run on"):
            follow(read, progress=None, cancel=lambda: remote.call(url, remote.cancel, flow_run.id),
                   how_to_cancel="", where=url, poll_seconds=0.2, ask=lambda question: True)
        deadline = time.monotonic() + 90  # the worker's grace for the flow-run process is 30 s
        while (state := remote._read(url, graph, flow_run.id, {}, False, remote.Notes())).status == "running":
            assert time.monotonic() < deadline, "the flow run was not cancelled"
            time.sleep(0.5)
    return state
