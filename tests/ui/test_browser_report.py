"""`orch runs show RUN_ID --html FILE` opened in a real browser from file://, every request the page makes caught:
the only one is the file itself, and it shows every step of the run (graph, timeline, sections) with no live parts.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("ui-browser")

MIXED = """
apiVersion: orch/v1
name: ui-report
params:
  label: {type: string, default: "<b>not bold</b>"}
steps:
  make:
    command: [sh, -c, 'echo "making $L"; echo 3 > "$ORCH_OUTPUTS/n"; printf "x,y\\n1,2\\n" > "$ORCH_OUTPUTS/table"']
    env: {L: "${{ params.label }}"}
    outputs: {n: integer, table: artifact}
  fan:
    foreach: [a, b]
    command: [sh, -c, 'echo "item $1"', fan, "${{ item }}"]
    after: [make]
  block:
    after: [make]
    steps:
      inner:
        command: [sh, -c, 'echo "inner $1"', inner, "${{ steps.make.outputs.n }}"]
  flaky:
    command: [sh, -c, 'echo "flaky tries"; echo "<script>window.__injected = 1</script> broke" >&2; exit 1']
    retries: {limit: 1, delay: 300ms}
    after: [fan]
"""


@pytest.fixture(scope="module")
def report(home, tmp_path_factory):
    """A failed run with a fan-out, a group, a retried step and an artifact, and its report file."""
    result = home.run(home.spec("mixed", MIXED), expect=1)
    out = tmp_path_factory.mktemp("report") / "report.html"
    shown = home.orch("runs", "show", result["run_id"], "--html", out)
    assert shown.returncode == 0, shown.stderr
    return result, out


def test_the_report_opens_offline_and_requests_nothing_but_itself(chromium, report, shoot):
    result, out = report
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    page = context.new_page()
    requests: list[str] = []  # every request the page makes, whether the route lets it through or not
    page.on("request", lambda request: requests.append(request.url))
    page.route("**/*", lambda route: route.continue_() if route.request.url == out.as_uri() else route.abort())
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(out.as_uri())
        page.wait_for_load_state("networkidle")
        assert requests == [out.as_uri()], requests
        assert errors == []

        body = page.locator("body")
        assert body.get_attribute("data-run-id") == result["run_id"]
        assert body.get_attribute("data-run-status") == "failed"
        groups = {"block"}
        steps = [name for name in result["steps"] if name not in groups]
        states = page.eval_on_selector_all("#graph g.node", "ns => Object.fromEntries(ns.map(n => [n.dataset.step, n.dataset.state]))")
        assert states == {name: result["steps"][name]["status"] for name in steps}
        assert page.locator('#graph g.cluster[data-group="block"]').count() == 1
        sections = page.eval_on_selector_all("section.step", "ss => ss.map(s => s.id)")
        assert sorted(sections) == sorted(f"step-{name}" for name in steps)
        error = page.locator('#errors .error[data-step="flaky"]')
        assert "<script>window.__injected = 1</script> broke" in error.inner_text()  # shown as text, never run
        assert page.evaluate("window.__injected") is None
        assert "<b>not bold</b>" in page.locator("#params").inner_text()
        assert page.locator('#timeline .lane[data-step="flaky"] .attempt').count() == 2
        assert sorted(page.eval_on_selector_all('#timeline .lane[data-step="fan"]', "ls => ls.map(l => l.dataset.item)")) \
            == ["0", "1"]
        assert page.locator("#stop").count() == 0 and page.locator("#resume").count() == 0
        assert "flaky tries" in page.locator("section.step#step-flaky").inner_text()  # the log's tail
        links = page.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
        assert links, "the report links its steps to their sections"
        for link in links:  # links to step pages became in-page sections, each one there
            assert link.startswith("#"), link
            assert page.evaluate("id => document.getElementById(id) !== null", link[1:]), link
        page.click('a[href="#step-make"]') if page.locator('a[href="#step-make"]').count() else None
        assert requests == [out.as_uri()], requests
        shoot(page, "report")
    finally:
        context.close()


def test_the_report_file_names_nothing_to_fetch(report):
    """No src/href/url() reaching out, as text: a browser that fetched lazily (an image below the fold) would too."""
    import re

    text = report[1].read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|/static/|/runs/)""", text, re.I)
    assert not re.search(r"""url\(\s*["']?(https?:|//)""", text, re.I)
    assert not re.search(r"@import|<link[^>]+stylesheet", text, re.I)
