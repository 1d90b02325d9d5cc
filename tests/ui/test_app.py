"""`orch ui`'s pages over real local runs, at the HTTP level (starlette's TestClient): what each page shows,
the live events, logs and downloads, stop and resume, and bad input (404/400/409, never a 500)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .real_runs import http_client as TestClient

from orch.backends.local.lock import holder_pid, is_held
from orch.backends.local.state import Store
from orch.cli.ui.app import create_app

from .real_runs import HOSTILE, PNG, SECRET, env, orch, project, run_ids


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One project with a finished showcase run (artifacts, fan-out, a retried failure) and a grouped run."""
    root = project(tmp_path_factory.mktemp("ui") / "project")
    orch(root, "run", "showcase.yaml")
    orch(root, "run", "grouped.yaml")
    showcase, grouped = (next(r for r in run_ids(root) if r.startswith(name)) for name in ("showcase", "grouped"))
    return root, showcase, grouped


@pytest.fixture(scope="module")
def client(made):
    return TestClient(create_app(made[0] / ".orch"), raise_server_exceptions=False)


def attrs(html: str, tag_class: str, name: str) -> list[str]:
    return re.findall(rf'class="{tag_class}"[^>]*?{name}="([^"]*)"', html)


def test_runs_page_lists_the_runs_newest_first_with_their_data(client, made):
    _, showcase, grouped = made
    page = client.get("/")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="run" data-run-id="([^"]+)" data-pipeline="([^"]+)" data-status="([^"]+)" '
                      r'data-backend="([^"]+)">', page.text)
    assert rows == [(grouped, "grouped", "succeeded", "local"), (showcase, "showcase", "failed", "local")]
    assert f'href="/runs/{showcase}"' in page.text
    assert '<form id="filters"' in page.text and 'name="pipeline"' in page.text and 'name="status"' in page.text
    only = client.get("/?status=failed")
    assert re.findall(r'data-run-id="([^"]+)"', only.text) == [showcase]
    assert re.findall(r'data-run-id="([^"]+)"', client.get("/?pipeline=grouped").text) == [grouped]
    assert re.findall(r'data-run-id="([^"]+)"', client.get("/?backend=argo").text) == []


def test_run_page_draws_every_step_with_its_state_and_the_edges(client, made):
    _, showcase, _ = made
    page = client.get(f"/runs/{showcase}")
    assert page.status_code == 200
    html = page.text
    assert f'data-run-id="{showcase}" data-run-status="failed"' in html
    nodes = dict(re.findall(r'<g class="node" data-step="([^"]+)" data-state="([^"]+)">', html))
    assert nodes == {"make": "succeeded", "fan": "succeeded", "flaky": "failed", "down": "upstream_failed"}
    edges = set(re.findall(r'<path class="edge (data|after)" data-from="([^"]+)" data-to="([^"]+)"', html))
    assert edges == {("after", "make", "fan"), ("data", "make", "flaky"), ("after", "flaky", "down"), ("after", "fan", "down")}
    # the failed step's error at the top, escaped
    errors = html[html.index('<section id="errors">'):html.index('<section class="panel">')]
    assert 'class="error" data-step="flaky"' in errors
    assert "&lt;script&gt;" in errors and HOSTILE not in html
    # params, one link per step
    assert re.search(r'<table id="params".*?note.*?&lt;script&gt;', html, re.S)
    links = re.findall(r'<a class="step-link" href="([^"]+)"', html)
    assert links == [f"/runs/{showcase}/steps/{step}" for step in ("make", "fan", "flaky", "down")]
    assert 'id="resume"' in html and 'id="stop"' not in html  # failed: resumable, not stoppable


def test_timeline_has_a_lane_per_item_and_the_retry_delay_between_attempts(client, made):
    _, showcase, _ = made
    html = client.get(f"/runs/{showcase}").text
    lanes = re.findall(r'<div class="lane" data-step="([^"]+)" data-item="([^"]+)">', html)
    assert lanes == [("make", "-1"), ("fan", "0"), ("fan", "1"), ("fan", "2"), ("flaky", "-1")]
    flaky = html[html.index('data-step="flaky" data-item="-1"'):]
    bars = re.findall(r'class="attempt" data-attempt="(\d)" data-status="(\w+)" style="left:([\d.]+)%;width:([\d.]+)%', flaky)
    assert [(a, s) for a, s, _, _ in bars] == [("1", "failed"), ("2", "failed")]
    first_end = float(bars[0][2]) + float(bars[0][3])
    assert float(bars[1][2]) - first_end > 30  # 1 s of delay in a run of about 1.3 s


def test_groups_are_clusters_around_their_steps(client, made):
    _, _, grouped = made
    html = client.get(f"/runs/{grouped}").text
    assert re.findall(r'<g class="cluster" data-group="([^"]+)"', html) == ["sweep"]
    nodes = dict(re.findall(r'<g class="node" data-step="([^"]+)" data-state="([^"]+)">', html))
    assert nodes == {"first": "succeeded", "sweep.train": "succeeded", "sweep.evaluate": "succeeded", "report": "succeeded"}
    assert '<path class="edge after" data-from="first" data-to="sweep"' in html  # onto the cluster, as orch graph
    assert '<path class="edge data" data-from="sweep.train" data-to="sweep.evaluate"' in html
    lanes = re.findall(r'<div class="lane" data-step="([^"]+)" data-item="([^"]+)">', html)
    assert ("sweep.train", "0") in lanes and ("sweep.train", "1") in lanes
    step = client.get(f"/runs/{grouped}/steps/sweep.evaluate?item=1")
    assert step.status_code == 200 and "acc 0.5" in step.text


def test_step_page_shows_attempts_the_masked_log_outputs_and_artifacts(client, made):
    _, showcase, _ = made
    page = client.get(f"/runs/{showcase}/steps/make")
    assert page.status_code == 200
    html = page.text
    assert re.findall(r'<tr class="attempt[^"]*" data-attempt="(\d+)" data-item="-1" data-status="(\w+)"', html) == [("1", "succeeded")]
    log = re.search(r'<pre id="log"[^>]*>(.*?)</pre>', html, re.S).group(1)
    assert "token is ***" in log and SECRET not in html
    assert "&lt;script&gt;" in log and HOSTILE not in html
    assert re.search(r'<table id="outputs".*?count.*?5', html, re.S)
    artifacts = re.findall(r'<tr class="artifact" data-output="(\w+)"', html)
    assert artifacts == ["text", "data", "table", "picture"]
    kinds = re.findall(r'<div class="preview" data-kind="(\w+)">', html)
    assert kinds == ["text", "json", "csv", "image"]
    assert "<th>name</th><th>score</th>" in html and "<td>beta</td>" in html
    links = re.findall(r'<a class="download" href="([^"]+)"', html)
    assert links == [f"/runs/{showcase}/files/make/{name}" for name in ("text", "data", "table", "picture")]
    assert client.get(links[0]).content == b"hello from make\n"
    picture = client.get(links[3])
    assert picture.content == PNG and picture.headers["content-type"] == "image/png"
    assert "sandbox" in picture.headers["content-security-policy"]


def test_a_retried_step_offers_each_attempts_log(client, made):
    _, showcase, _ = made
    html = client.get(f"/runs/{showcase}/steps/flaky").text
    assert re.findall(r'<tr class="attempt[^"]*" data-attempt="(\d+)"', html) == ["1", "2"]
    assert "attempt 2" in html  # the last by default
    first = client.get(f"/runs/{showcase}/steps/flaky?attempt=1")
    assert first.status_code == 200 and 'class="attempt chosen" data-attempt="1"' in first.text
    raw = client.get(f"/runs/{showcase}/log/flaky?attempt=1")
    assert raw.status_code == 200 and raw.text.startswith("try 5\n")
    assert raw.headers["x-orch-attempt-status"] == "failed"
    assert client.get(f"/runs/{showcase}/log/flaky?attempt=1&offset=4").text == raw.text[4:]
    assert client.get(f"/runs/{showcase}/log/flaky?attempt=1&offset=99999").text == ""


def test_fan_out_items_each_have_their_log(client, made):
    _, showcase, _ = made
    for item in ("0", "1", "2"):
        html = client.get(f"/runs/{showcase}/steps/fan?item={item}").text
        assert f"item {int(item) + 1}" in re.search(r'<pre id="log"[^>]*>(.*?)</pre>', html, re.S).group(1)


@pytest.mark.parametrize("path", [
    "make/../../../orch.db", "..%2F..%2F..%2Forch.db", "%2e%2e/%2e%2e/%2e%2e/orch.db", "/etc/passwd", "%2Fetc%2Fpasswd",
    "make", "make/nothing", "make/text%00", "make//text", "make\\..\\text"])
def test_downloads_never_leave_the_runs_folder(client, made, path):
    _, showcase, _ = made
    response = client.get(f"/runs/{showcase}/files/{path}")
    assert response.status_code == 404
    assert b"SQLite" not in response.content and b"root:" not in response.content


def test_a_symlink_leading_out_of_the_run_is_refused(client, made):
    root, showcase, _ = made
    folder = root / ".orch" / "artifacts" / "showcase" / showcase / "make"
    (folder / "escape").symlink_to(root / ".orch" / "orch.db")
    (folder / "inside").symlink_to(folder / "text")
    try:
        assert client.get(f"/runs/{showcase}/files/make/escape").status_code == 404
        assert client.get(f"/runs/{showcase}/files/make/inside").content == b"hello from make\n"
    finally:
        (folder / "escape").unlink()
        (folder / "inside").unlink()


@pytest.mark.parametrize("url, status", [
    ("/runs/no-such-run", 404), ("/runs/no-such-run/steps/make", 404), ("/runs/no-such-run/events", 404),
    ("/runs/no-such-run/files/make/text", 404), ("/runs/%3Cscript%3E", 404), ("/runs/RUN/steps/nope", 404),
    ("/runs/RUN/steps/make?attempt=7", 404), ("/runs/RUN/steps/make?attempt=x", 400), ("/runs/RUN/steps/make?attempt=-1", 400),
    ("/runs/RUN/log/make?offset=-3", 400), ("/runs/RUN/log/nope", 404), ("/?page=x", 400), ("/?page=0", 400),
    ("/?page=99999999999999999999", 400), ("/?status=%3Cb%3E", 400), ("/?pipeline=%3Cb%3E", 200), ("/nowhere", 404),
    ("/static/../orch.db", 404), ("/static/nothing.css", 404)])
def test_bad_input_is_a_clear_4xx_never_a_500(client, made, url, status):
    response = client.get(url.replace("RUN", made[1]))
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text and "<script>" not in response.text


def test_static_files_are_served_by_orch(client):
    assert client.get("/static/orch.css").status_code == 200
    assert "EventSource" in client.get("/static/orch.js").text
    html = client.get("/").text
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from the network


def test_events_of_a_finished_run_say_its_state_once_and_end(client, made):
    _, showcase, _ = made
    response = client.get(f"/runs/{showcase}/events")
    assert response.headers["content-type"].startswith("text/event-stream")
    (event,) = [block for block in response.text.split("\n\n") if block.strip()]
    kind, payload = event.split("\n")
    assert kind == "event: state"
    state = json.loads(payload[len("data: "):])
    assert state["run"] == "failed"
    assert state["steps"] == {"make": "succeeded", "fan": "succeeded", "flaky": "failed", "down": "upstream_failed"}


def test_host_check_and_cross_site_posts(made):
    app = TestClient(create_app(made[0] / ".orch", allowed_hosts=["127.0.0.1", "localhost"]), base_url="http://127.0.0.1")
    assert app.get("/").status_code == 200
    assert app.get("/", headers={"host": "evil.example"}).status_code == 400  # a rebound DNS name gets nothing
    refused = app.post(f"/runs/{made[1]}/resume", headers={"origin": "http://evil.example"}, follow_redirects=False)
    assert refused.status_code == 403


# --- live: a real run in progress


def _start(root: Path) -> subprocess.Popen:
    (root / "block").write_text("")
    return subprocess.Popen([sys.executable, "-m", "orch.cli.main", "run", "blocking.yaml"], cwd=root, env=env(root),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait(condition, seconds: float = 30, what: str = "it"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _status(root: Path, run_id: str) -> str:
    store = Store(root / ".orch")
    try:
        return store.run_row(run_id)["status"]
    finally:
        store.close()


@pytest.fixture
def live(tmp_path):
    """A blocking run in progress (its step `wait` runs until the file `block` is removed); killed if a test leaves it."""
    root = project(tmp_path / "project")
    process = _start(root)
    run_id = _wait(lambda: (root / ".orch" / "runs").is_dir() and run_ids(root) and run_ids(root)[0], what="the run")
    _wait(lambda: "started" in _log(root, run_id), what="step wait to start")
    yield root, run_id, process
    (root / "block").unlink(missing_ok=True)
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=30)
    run_dir = root / ".orch" / "runs" / run_id
    if is_held(run_dir):  # a resumed run the test left behind
        pid = holder_pid(run_dir)
        if pid:
            os.kill(pid, signal.SIGKILL)


def _log(root: Path, run_id: str) -> str:
    path = root / ".orch" / "runs" / run_id / "wait" / "attempt-1.log"
    return path.read_text() if path.exists() else ""


def test_a_live_run_streams_its_changes_and_its_log(live):
    root, run_id, process = live
    client = TestClient(create_app(root / ".orch"))
    page = client.get(f"/runs/{run_id}")
    assert 'data-run-status="running"' in page.text and 'id="stop"' in page.text
    assert '<g class="node" data-step="wait" data-state="running">' in page.text
    assert '<g class="node" data-step="after" data-state="pending">' in page.text
    step = client.get(f"/runs/{run_id}/steps/wait")
    assert re.search(r'<pre id="log"[^>]*data-live[^>]*>started\n</pre>', step.text)
    offset = int(re.search(r'data-offset="(\d+)"', step.text).group(1))
    assert client.get(f"/runs/{run_id}/log/wait?offset={offset}").headers["x-orch-attempt-status"] == "running"
    threading.Timer(1.0, lambda: (root / "block").unlink()).start()
    events = client.get(f"/runs/{run_id}/events").text  # the stream ends when the run does
    states = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: ")]
    assert states[0]["run"] == "running" and states[0]["steps"]["wait"] == "running"
    assert states[-1]["run"] == "succeeded" and set(states[-1]["steps"].values()) == {"succeeded"}
    assert len(states) >= 2
    assert client.get(f"/runs/{run_id}/log/wait?offset={offset}").text == "finished\n"
    assert process.wait(timeout=30) == 0


def test_stop_interrupts_the_run_and_resume_finishes_it(live):
    root, run_id, process = live
    client = TestClient(create_app(root / ".orch"), base_url="http://127.0.0.1")
    assert client.post(f"/runs/{run_id}/resume", follow_redirects=False).status_code == 409  # running: not resumable
    stopped = client.post(f"/runs/{run_id}/stop", follow_redirects=False)
    assert stopped.status_code == 303 and stopped.headers["location"] == f"/runs/{run_id}"
    assert process.wait(timeout=30) == 130  # as Ctrl-C
    assert "resume with" in process.stderr.read()
    assert _status(root, run_id) == "interrupted"
    page = client.get(f"/runs/{run_id}").text
    assert 'data-run-status="interrupted"' in page and 'id="resume"' in page and 'id="stop"' not in page
    assert client.post(f"/runs/{run_id}/stop", follow_redirects=False).status_code == 409
    (root / "block").unlink()
    resumed = client.post(f"/runs/{run_id}/resume", follow_redirects=False)
    assert resumed.status_code == 303
    _wait(lambda: _status(root, run_id) == "succeeded", what="the resumed run to succeed")
    assert client.post(f"/runs/{run_id}/resume", follow_redirects=False).status_code == 409  # succeeded
    assert "before" in (root / ".orch" / "runs" / run_id / "resume.log").read_text()  # its output, in the run's folder
    attempts = re.findall(r'data-attempt="(\d+)"', client.get(f"/runs/{run_id}/steps/before").text)
    assert attempts == ["1"]  # what had succeeded was not run again


# --- the command


def test_orch_ui_serves_its_first_page_soon_after_it_starts(made):
    root = made[0]
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "orch.cli.main", "ui", "--port", "0", "--home", str(root / ".orch")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group()
        import urllib.request

        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert made[1] in response.read().decode()
        took = time.perf_counter() - start
        assert took < 3, f"{took:.2f} s to the first page"  # the goal is 1 s: 0.34 s idle in bench/ui.py; slack for a loaded CI
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) in (0, 130, -signal.SIGINT)


def test_orch_ui_without_the_extra_is_exit_3_naming_it(tmp_path):
    hide = ("import sys, importlib.abc\n"
            "class Hide(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('starlette', 'uvicorn', 'jinja2'):\n"
            "            raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, Hide())\n"
            "import importlib.util\n"
            "_find = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, *a: None if name in ('starlette', 'uvicorn', 'jinja2') else _find(name, *a)\n"
            "from orch.cli.main import main\n"
            "main(sys.argv[1:])\n")
    for args in (["ui", "--port", "0"], ["runs", "show", "any", "--html", str(tmp_path / "r.html")]):
        done = subprocess.run([sys.executable, "-c", hide, *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "ORCH_HOME": str(tmp_path / ".orch")})
        assert done.returncode == 3, done.stderr
        assert "pip install 'orch[ui]'" in done.stderr and "Traceback" not in done.stderr


def test_orch_core_and_help_never_load_the_web_stack():
    probe = ("import sys, contextlib, io\nimport orch.core\nfrom orch.cli.main import main\n"
             "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])\n"
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split())
    assert not loaded & {"starlette", "uvicorn", "jinja2", "markupsafe"}
    assert "typer" in loaded  # the probe does see imports


def test_orch_ui_refuses_an_address_it_cannot_listen_on(tmp_path):
    done = subprocess.run([sys.executable, "-m", "orch.cli.main", "ui", "--host", "203.0.113.9", "--port", "0"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "ORCH_HOME": str(tmp_path)})
    assert done.returncode == 2 and "cannot listen on 203.0.113.9:0" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "orch.cli.main", "ui", "--home", str(tmp_path / "typo")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no such folder" in done.stderr and not (tmp_path / "typo").exists()


def test_hostile_names_in_the_records_are_escaped(tmp_path):
    """A run recorded by hand (Store.create_run) with markup in its id, pipeline and params: shown, never run."""
    home = tmp_path / ".orch"
    store = Store(home)
    try:
        bad = '<img src=x onerror="alert(1)">'
        store.create_run("run-<b>1", bad, bad, {"p": bad}, "2026-01-01", {"pipeline": {}, "steps": {}})
        store.set_run("run-<b>1", "failed", ended=True)
    finally:
        store.close()
    client = TestClient(create_app(home))
    for url in ("/", "/runs/run-%3Cb%3E1", "/?pipeline=%3Cimg%3E"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "<img" not in response.text and "<b>" not in response.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in client.get("/").text
    assert 'href="/runs/run-%3Cb%3E1"' in client.get("/").text


def test_a_resume_that_orch_refuses_is_a_409_saying_why(tmp_path):
    root = project(tmp_path / "project")
    orch(root, "run", "showcase.yaml")
    (run_id,) = run_ids(root)
    spec = root / "showcase.yaml"
    spec.write_text(spec.read_text().replace("echo never", "echo changed"))  # a resume refuses another spec
    client = TestClient(create_app(root / ".orch"))
    refused = client.post(f"/runs/{run_id}/resume", follow_redirects=False)
    assert refused.status_code == 409
    assert "ended at once" in refused.text and "changed since run" in refused.text
    assert _status(root, run_id) == "failed"


def test_the_step_running_when_the_run_stopped_reads_interrupted(live):
    root, run_id, process = live
    client = TestClient(create_app(root / ".orch"), base_url="http://127.0.0.1")
    assert client.post(f"/runs/{run_id}/stop", follow_redirects=False).status_code == 303
    assert process.wait(timeout=30) == 130
    html = client.get(f"/runs/{run_id}").text
    assert '<g class="node" data-step="wait" data-state="interrupted">' in html
    assert '<g class="node" data-step="before" data-state="succeeded">' in html
    assert re.search(r'class="attempt" data-attempt="1" data-status="interrupted"', html)
    state = json.loads(client.get(f"/runs/{run_id}/events").text.split("data: ", 1)[1])
    assert state["run"] == "interrupted" and state["steps"]["wait"] == "interrupted"
