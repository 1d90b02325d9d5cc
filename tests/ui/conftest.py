"""The browser tests' world: one headless Chromium (Debian's, driven by Playwright) for the session, one real
`orch ui` process per test module over a fresh ORCH_HOME, and runs made by real `orch run` processes in it.

Nothing is mocked: the pages come from the server a user starts, over the state real runs wrote. Chromium is the
system's (/usr/bin/chromium, or $ORCH_CHROMIUM): Playwright never downloads a browser here. A missing Chromium or
Playwright fails the session with a message saying what to install; nothing skips.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ORCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
START_SECONDS = 30  # `orch ui` must answer its first page in < 1 s; 2 shared cores under a loaded suite are slower
RUN_SECONDS = 60  # a small spec's `orch run`, start to end


@dataclass
class Home:
    """An ORCH_HOME the module's runs and its `orch ui` share; `made` holds every run made here, newest last."""

    path: Path
    specs: Path
    made: list = field(default_factory=list)

    def env(self, **more: str) -> dict[str, str]:
        return {**os.environ, "ORCH_HOME": str(self.path), "NO_COLOR": "1", **more}

    def spec(self, name: str, text: str) -> Path:
        path = self.specs / f"{name}.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def orch(self, *args, timeout: float = RUN_SECONDS, env: dict | None = None) -> subprocess.CompletedProcess:
        """`orch ARGS` as a user runs it: a process of its own, in this home."""
        return subprocess.run([sys.executable, "-m", "orch.cli.main", *map(str, args)], env=env or self.env(),
                              cwd=self.specs, capture_output=True, text=True, timeout=timeout)

    def run(self, spec: Path, *args, expect: int | None = None, env: dict | None = None) -> dict:
        """A real `orch run --json` to its end; its RunResult (the run is recorded in `made`)."""
        done = self.orch("run", "--json", spec, *args, env=env)
        assert done.stdout.strip(), f"orch run printed no result (exit {done.returncode}):\n{done.stderr}"
        result = json.loads(done.stdout)
        self.made.append(result["run_id"])
        if expect is not None:
            assert done.returncode == expect, f"orch run exited {done.returncode}, not {expect}:\n{done.stderr}"
        return result

    def start(self, spec: Path, *args) -> tuple[subprocess.Popen, str]:
        """A real `orch run` left running (its own process group, and SIGINT ignored, as a shell starts a background
        job: the page's stop must reach it all the same); the process and its run id, read from its first line on
        stderr."""
        proc = subprocess.Popen([sys.executable, "-m", "orch.cli.main", "run", str(spec), *map(str, args)],
                                env=self.env(), cwd=self.specs, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        deadline = time.monotonic() + RUN_SECONDS
        seen = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(r"\brun (\S+) of ", line)
            if found:
                self.made.append(found.group(1))
                # the rest of its stderr goes unread: drained, so a chatty run never blocks on a full pipe
                threading.Thread(target=proc.stderr.read, daemon=True).start()
                return proc, found.group(1)
        proc.kill()
        proc.wait()
        raise AssertionError("orch run never said its run id:\n" + "".join(seen))


@dataclass
class Ui:
    """A running `orch ui`: its base URL and process."""

    url: str
    proc: subprocess.Popen
    log: Path

    def get(self, path: str) -> tuple[int, bytes]:
        """GET `path` exactly as written (no normalising of `..` or `%2e`): the status and body."""
        import http.client

        host, port = self.url.split("//", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


def start_ui(home: Home) -> Ui:
    """`orch ui --port 0` over `home`, as a user starts it: the URL it prints, once its first page answers."""
    log = home.path.parent / "orch-ui.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "orch.cli.main", "ui", "--host", "127.0.0.1", "--port", "0"],
                                env=home.env(), cwd=home.specs, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    deadline = time.monotonic() + START_SECONDS
    while True:
        said = re.search(r"http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if said:
            url = said.group(0)
            try:
                with urllib.request.urlopen(url + "/", timeout=5) as response:
                    if response.status == 200:
                        return Ui(url, proc, log)
            except (OSError, urllib.error.URLError):
                pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_ui(proc)
            raise AssertionError(f"orch ui served no first page (exit {proc.poll()}):\n{log.read_text(errors='replace')}")
        time.sleep(0.05)


def stop_ui(proc: subprocess.Popen) -> None:
    """SIGTERM to its process group, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")  # not the session: Playwright runs an event loop in this thread while it lives, so a later test
# on the same worker calling asyncio.run (the Prefect backend) would fail
def chromium():
    """One headless Chromium per module (the system's; Playwright never downloads one)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Playwright: pip install -e '.[dev]' (the system Chromium serves it)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set ORCH_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    root = tmp_path_factory.mktemp("ui")
    (root / "home").mkdir()
    (root / "specs").mkdir()
    return Home(root / "home", root / "specs")


@pytest.fixture(scope="module")
def ui(home):
    """The module's `orch ui`, killed at the module's end."""
    server = start_ui(home)
    try:
        yield server
    finally:
        stop_ui(server.proc)


LOCAL = ("http://127.0.0.1:", "file://", "data:", "blob:", "about:")


@pytest.fixture
def page(chromium):
    """A fresh browser context and page per test. Fails the test: an exception in the page's JS, and any request
    leaving this machine (a CDN's script, a web font): the UI is offline, every asset served by orch."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    away: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    context.on("request", lambda request: None if request.url.startswith(LOCAL) else away.append(request.url))
    context.route(re.compile(r"^(?!http://127\.0\.0\.1:|file:|data:|blob:|about:)"), lambda route: route.abort())
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page's JavaScript raised: {errors}"
    assert not away, f"the page asked for something off this machine: {away}"


@pytest.fixture
def shoot(tmp_path):
    """shoot(page, NAME): a full-page screenshot NAME.png under the test's tmp path, and into $ORCH_SCREENSHOTS when
    set (for a person to look at, or for docs/images/ui-NAME.png)."""
    extra = os.environ.get("ORCH_SCREENSHOTS")

    def take(page, name: str) -> Path:
        path = tmp_path / f"ui-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(extra) / path.name)
        return path

    return take
