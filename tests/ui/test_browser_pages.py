"""`orch ui` in a real browser over finished runs: the runs page, a run page (graph, errors, timeline, params) and a
step page (attempts, log, outputs, artifacts), each checked against what the real `orch run` recorded.

The module's runs: one that succeeds (params, outputs, four artifacts, a masked secret), one whose step fails
after two retries, a fan-out, and a group; every one made by a real `orch run` process in the module's ORCH_HOME.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("ui-browser")

SECRET = "ui-tests-secret-Wq7r"  # distinctive, so a test can look for it where it must never be


def _png(width: int = 96, height: int = 48) -> bytes:
    """A small real PNG (a blue-to-red gradient), so the preview is an image a browser decodes."""
    rows = b"".join(b"\x00" + b"".join(bytes((255 * x // width, 64, 255 - 255 * x // width)) for x in range(width))
                    for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


OK = """
apiVersion: orch/v1
name: ui-ok
params:
  word: {type: string, default: hello}
  size: {type: integer, default: 3}
steps:
  make:
    command:
      - sh
      - -c
      - |
        echo "making $WORD with token $TOKEN"
        echo 7 > "$ORCH_OUTPUTS/count"
        printf 'first line of notes\\nsecond line\\n' > "$ORCH_OUTPUTS/notes"
        printf '{"accuracy": 0.93, "labels": ["a", "b"]}' > "$ORCH_OUTPUTS/metrics"
        printf 'name,score\\nalpha,1\\nbeta,2\\n' > "$ORCH_OUTPUTS/table"
        cp "$PNG" "$ORCH_OUTPUTS/picture"
    env: {WORD: "${{ params.word }}", PNG: "%(png)s", TOKEN: {secret: ui-token, key: value}}
    outputs: {count: integer, notes: artifact, metrics: artifact, table: artifact, picture: artifact}
  use:
    command: [sh, -c, 'echo "count is $1"', use, "${{ steps.make.outputs.count }}"]
  tidy:
    command: [sh, -c, 'echo tidy']
    after: [use]
"""

FAIL = """
apiVersion: orch/v1
name: ui-fail
steps:
  prepare:
    command: [sh, -c, 'echo prepared']
  flaky:
    command: [sh, -c, 'echo "trying once more"; echo "disk on fire" >&2; exit 3']
    retries: {limit: 2, delay: 400ms}
    after: [prepare]
  publish:
    command: [sh, -c, 'echo never']
    after: [flaky]
"""

FANOUT = """
apiVersion: orch/v1
name: ui-fanout
steps:
  fan:
    foreach: [1, 2, 3]
    command: [sh, -c, 'echo "item $1"', fan, "${{ item }}"]
  gather:
    command: [sh, -c, 'echo gathered']
    after: [fan]
  sweep:
    foreach: [x, y]
    after: [gather]
    steps:
      train:
        command: [sh, -c, 'echo "train $1"', train, "${{ item }}"]
"""

GROUP = """
apiVersion: orch/v1
name: ui-group
steps:
  start:
    command: [sh, -c, 'echo 5 > "$ORCH_OUTPUTS/n"; echo "<html><script>window.ranIt = 1</script>hi</html>" > "$ORCH_OUTPUTS/page"']
    outputs: {n: integer, page: artifact}
  block:
    steps:
      inner:
        command: [sh, -c, 'echo "inner got $1"', inner, "${{ steps.start.outputs.n }}"]
      second:
        command: [sh, -c, 'echo second']
        after: [inner]
  end:
    command: [sh, -c, 'echo end']
    after: [block]
"""


@pytest.fixture(scope="module")
def runs(home):
    """The module's four runs, by kind: their RunResults (newest last in home.made)."""
    png = home.specs / "picture.png"
    png.write_bytes(_png())
    env = home.env(ORCH_SECRET_UI_TOKEN_VALUE=SECRET)
    made = {"ok": home.run(home.spec("ok", OK % {"png": png}), expect=0, env=env)}
    made["fail"] = home.run(home.spec("fail", FAIL), expect=1)
    made["fanout"] = home.run(home.spec("fanout", FANOUT), expect=0)
    made["group"] = home.run(home.spec("group", GROUP), expect=0)
    return made


def _rows(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#runs tr.run", "rows => rows.map(r => ({id: r.dataset.runId, status: r.dataset.status, "
        "pipeline: r.dataset.pipeline, backend: r.dataset.backend, href: (r.querySelector('a') || {}).href}))")


def test_runs_page_lists_exactly_the_runs_made_newest_first(ui, home, runs, page, shoot):
    response = page.goto(ui.url + "/")
    assert response.status == 200
    rows = _rows(page)
    assert [row["id"] for row in rows] == list(reversed(home.made))
    by_id = {result["run_id"]: result for result in runs.values()}
    for row in rows:
        assert row["status"] == by_id[row["id"]]["status"]
        assert row["pipeline"] == by_id[row["id"]]["pipeline"]
        assert row["backend"] == "local"
        assert row["href"] == f"{ui.url}/runs/{row['id']}"
    assert page.locator("#pager a.next").count() == 0  # four runs: one page
    shoot(page, "runs")
    page.click(f'#runs tr.run[data-run-id="{runs["fail"]["run_id"]}"] a')
    page.wait_for_url(f"{ui.url}/runs/{runs['fail']['run_id']}")


def _set_filter(page, name: str, value: str) -> None:
    field = page.locator(f'#filters [name="{name}"]')
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def test_runs_page_filters_from_its_form(ui, runs, page):
    page.goto(ui.url + "/")
    _set_filter(page, "status", "failed")
    with page.expect_navigation():
        page.locator("#filters").evaluate("form => form.requestSubmit()")
    assert "status=failed" in page.url
    assert [row["id"] for row in _rows(page)] == [runs["fail"]["run_id"]]

    page.goto(ui.url + "/?pipeline=ui-group")
    assert [row["id"] for row in _rows(page)] == [runs["group"]["run_id"]]
    page.goto(ui.url + "/?status=succeeded&pipeline=ui-fail")
    assert _rows(page) == []
    page.goto(ui.url + "/?backend=local")
    assert len(_rows(page)) == len(runs)
    page.goto(ui.url + "/?backend=argo")
    assert _rows(page) == []


def _states(page) -> dict[str, str]:
    return page.eval_on_selector_all("#graph g.node", "ns => Object.fromEntries(ns.map(n => [n.dataset.step, n.dataset.state]))")


def test_run_page_shows_every_step_state_and_the_failed_steps_error_first(ui, home, runs, page, shoot):
    result = runs["fail"]
    response = page.goto(f"{ui.url}/runs/{result['run_id']}")
    assert response.status == 200
    body = page.locator("body")
    assert body.get_attribute("data-run-id") == result["run_id"]
    assert body.get_attribute("data-run-status") == "failed"
    assert _states(page) == {name: step["status"] for name, step in result["steps"].items()}
    assert _states(page) == {"prepare": "succeeded", "flaky": "failed", "publish": "upstream_failed"}

    errors = page.locator("#errors .error")
    assert errors.count() == 1
    assert errors.first.get_attribute("data-step") == "flaky"
    assert "disk on fire" in errors.first.inner_text()
    assert page.locator("#errors").bounding_box()["y"] < page.locator("#graph").bounding_box()["y"]

    links = page.eval_on_selector_all("#steps a.step-link", "as => as.map(a => a.getAttribute('href'))")
    assert sorted(links) == sorted(f"/runs/{result['run_id']}/steps/{name}" for name in result["steps"])
    shoot(page, "run")


def test_the_timeline_shows_each_retry_with_its_delay(ui, runs, page):
    page.goto(f"{ui.url}/runs/{runs['fail']['run_id']}")
    attempts = page.locator('#timeline .lane[data-step="flaky"] .attempt')
    assert attempts.count() == 3
    assert [attempts.nth(k).get_attribute("data-attempt") for k in range(3)] == ["1", "2", "3"]
    assert [attempts.nth(k).get_attribute("data-status") for k in range(3)] == ["failed"] * 3
    boxes = [attempts.nth(k).bounding_box() for k in range(3)]
    for before, after in zip(boxes, boxes[1:]):  # a 400 ms delay between attempts of ~50 ms: a visible gap
        assert after["x"] > before["x"] + before["width"] + 1, boxes
    prepare = page.locator('#timeline .lane[data-step="prepare"] .attempt').bounding_box()
    assert prepare["x"] < boxes[0]["x"]
    assert page.locator('#timeline .lane[data-step="publish"] .attempt').count() == 0  # never ran


def test_a_fan_out_is_one_lane_per_item(ui, runs, page):
    page.goto(f"{ui.url}/runs/{runs['fanout']['run_id']}")
    items = page.eval_on_selector_all('#timeline .lane[data-step="fan"]', "ls => ls.map(l => l.dataset.item)")
    assert sorted(items) == ["0", "1", "2"]
    for item in items:
        assert page.locator(f'#timeline .lane[data-step="fan"][data-item="{item}"] .attempt[data-status="succeeded"]').count() == 1
    assert _states(page) == {"fan": "succeeded", "gather": "succeeded", "sweep.train": "succeeded"}
    # a fan-out group: a lane per item for the step inside it, and a cluster around that step
    items = page.eval_on_selector_all('#timeline .lane[data-step="sweep.train"]', "ls => ls.map(l => l.dataset.item)")
    assert sorted(items) == ["0", "1"]
    cluster = page.locator('#graph g.cluster[data-group="sweep"]').bounding_box()
    assert _inside(page.locator('#graph g.node[data-step="sweep.train"]').bounding_box(), cluster)


def _inside(inner: dict, outer: dict) -> bool:
    return (outer["x"] <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
            and outer["y"] <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"])


def _mermaid_edges(home, spec) -> tuple[int, int]:
    """(data, after) edges as `orch graph` draws them: `-->|outputs|` solid, `-.->` dashed."""
    drawn = home.orch("graph", spec)
    assert drawn.returncode == 0, drawn.stderr
    lines = drawn.stdout.splitlines()
    return sum("-->|" in line for line in lines), sum("-.->" in line for line in lines)


def test_a_group_is_a_cluster_around_its_steps_and_edges_match_orch_graph(ui, home, runs, page):
    page.goto(f"{ui.url}/runs/{runs['group']['run_id']}")
    assert _states(page) == {name: step["status"] for name, step in runs["group"]["steps"].items() if name != "block"}
    cluster = page.locator('#graph g.cluster[data-group="block"]')
    assert cluster.count() == 1
    for name in ("block.inner", "block.second"):
        assert _inside(page.locator(f'#graph g.node[data-step="{name}"]').bounding_box(), cluster.bounding_box())
    for name in ("start", "end"):
        assert not _inside(page.locator(f'#graph g.node[data-step="{name}"]').bounding_box(), cluster.bounding_box())
    for kind, spec in (("group", "group"), ("ok", "ok"), ("fail", "fail")):
        page.goto(f"{ui.url}/runs/{runs[kind]['run_id']}")
        data, after = _mermaid_edges(home, home.specs / f"{spec}.yaml")
        assert page.locator("#graph path.edge.data").count() == data, kind
        assert page.locator("#graph path.edge.after").count() == after, kind


def test_the_params_table_holds_the_runs_params(ui, runs, page):
    page.goto(f"{ui.url}/runs/{runs['ok']['run_id']}")
    text = page.locator("#params").inner_text()
    for name, value in runs["ok"]["params"].items():
        assert name in text and str(value) in text
    assert runs["ok"]["params"] == {"word": "hello", "size": 3}


def test_a_step_page_shows_attempts_log_outputs_and_artifact_previews(ui, home, runs, page, shoot):
    run_id = runs["ok"]["run_id"]
    page.goto(f"{ui.url}/runs/{run_id}")
    with page.expect_navigation():
        page.click('#steps a.step-link[href$="/steps/make"]')
    assert page.url == f"{ui.url}/runs/{run_id}/steps/make"
    assert page.eval_on_selector_all("#attempts tr.attempt", "rs => rs.map(r => [r.dataset.attempt, r.dataset.status])") \
        == [["1", "succeeded"]]
    log = page.locator("pre#log").inner_text()
    assert "making hello with token ***" in log
    assert SECRET not in page.content()
    assert "7" in page.locator("#outputs").inner_text()

    artifacts = page.locator("#artifacts tr.artifact")
    assert artifacts.count() == 4
    text = page.locator("#artifacts").inner_text()
    for name in ("notes", "metrics", "table", "picture"):
        assert name in text

    def row(name: str):
        return page.locator("#artifacts tr.artifact", has_text=name)

    def preview(name: str):
        """The artifact's .preview: in its row, or in a row of its own just below it."""
        mine = f'#artifacts tr.artifact:has(td:text-is("{name}"))'
        return page.locator(f"{mine} .preview, {mine} + tr:not(.artifact) .preview")

    assert "first line of notes" in preview("notes").inner_text()
    assert "0.93" in preview("metrics").inner_text()
    cells = preview("table").locator("table td, table th").all_inner_texts()
    assert [c.strip() for c in cells] == ["name", "score", "alpha", "1", "beta", "2"]
    image = preview("picture").locator("img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [96, 48]

    sizes = {"notes": len("first line of notes\nsecond line\n"), "table": len("name,score\nalpha,1\nbeta,2\n")}
    for name, size in sizes.items():
        assert str(size) in row(name).inner_text()
    href = row("table").locator("a.download").get_attribute("href")
    status, body = ui.get(href if href.startswith("/") else "/" + href.split("/", 3)[3])
    assert (status, body) == (200, b"name,score\nalpha,1\nbeta,2\n")
    status, body = ui.get(_path(row("picture").locator("a.download").get_attribute("href")))
    assert (status, body) == (200, (home.specs / "picture.png").read_bytes())
    shoot(page, "step")


def _path(href: str) -> str:
    return href if href.startswith("/") else "/" + href.split("/", 3)[3]


def test_a_failed_steps_page_shows_each_attempts_log(ui, runs, page):
    run_id = runs["fail"]["run_id"]
    page.goto(f"{ui.url}/runs/{run_id}/steps/flaky")
    assert page.eval_on_selector_all("#attempts tr.attempt", "rs => rs.map(r => [r.dataset.attempt, r.dataset.status])") \
        == [["1", "failed"], ["2", "failed"], ["3", "failed"]]
    assert "disk on fire" in page.locator("pre#log").inner_text()
    page.goto(f"{ui.url}/runs/{run_id}/steps/flaky?attempt=1")
    log = page.locator("pre#log").inner_text()
    assert "trying once more" in log and "disk on fire" in log


def test_unknown_runs_and_steps_are_404_pages(ui, runs, page):
    for path in ("/runs/no-such-run", f"/runs/{runs['ok']['run_id']}/steps/no-such-step",
                 "/runs/no-such-run/steps/make", "/runs/no-such-run/events"):
        response = page.goto(ui.url + path)
        assert response.status == 404, path
        assert "Traceback" not in page.content()


def _table_href(ui, run_id: str, page) -> str:
    page.goto(f"{ui.url}/runs/{run_id}/steps/make")
    return _path(page.locator("#artifacts tr.artifact", has_text="table").locator("a.download").get_attribute("href"))


def test_download_urls_never_reach_outside_the_runs_folder(ui, home, runs, page):
    from urllib.parse import unquote

    run_id, other = runs["ok"]["run_id"], runs["fail"]["run_id"]
    prefix = f"/runs/{run_id}/files/"
    real = _table_href(ui, run_id, page)
    assert real.startswith(prefix), real
    assert ui.get(real) == (200, b"name,score\nalpha,1\nbeta,2\n")
    relative = unquote(real[len(prefix):])
    served = [home.path / "runs" / run_id, home.path / "artifacts" / "ui-ok" / run_id, home.path]
    root = next(base for base in served if (base / relative).is_file())  # the folder the route serves from
    outside = home.path.parent / "outside.txt"
    outside.write_bytes(b"OUTSIDE-BYTES-Zk42")
    (root / "escape").symlink_to(outside)
    (root / "escape-dir").symlink_to(home.path.parent)
    ((root / relative).parent / "escape-here").symlink_to(outside)
    targets = ["outside.txt", "orch.db", "home/orch.db", f"runs/{run_id}/make/attempt-1.log", "etc/passwd"]
    attempts = []
    for depth in range(1, 9):  # every depth, so one of them lands on each target if the route let it
        for target in targets:
            attempts += [prefix + "../" * depth + target, prefix + "..%2f" * depth + target,
                         prefix + "%2e%2e/" * depth + target, prefix + "%2e%2e%2f" * depth + target,
                         prefix + "%252e%252e/" * depth + target, prefix + "..%5c" * depth + target,
                         prefix + "./" + "../" * depth + target]
    attempts += [
        prefix + str(outside),
        prefix + "/" + str(outside),
        prefix + "%2F" + str(outside).lstrip("/").replace("/", "%2F"),
        prefix + "/etc/passwd",
        prefix + "escape",
        prefix + "escape-dir/outside.txt",
        prefix + str(Path(relative).parent / "escape-here"),
        f"/runs/no-such-run/files/{relative}",
        f"/runs/{other}/files/{relative}",  # another run's folder holds no such file
        f"/runs/..%2f{other}/files/{relative}",
    ]
    for path in attempts:
        status, body = ui.get(path)
        assert status == 404, (path, status, body[:200])
        assert b"OUTSIDE-BYTES" not in body and b"SQLite format" not in body and b"root:x:" not in body, path
        assert b"Traceback" not in body, path


def test_an_artifact_opened_in_the_browser_runs_no_script(ui, runs, page):
    """A step's HTML output, opened from its download link, is shown and never run (it could be anything)."""
    run_id = runs["group"]["run_id"]
    page.goto(f"{ui.url}/runs/{run_id}/steps/start")
    href = page.locator("#artifacts tr.artifact", has_text="page").locator("a.download").get_attribute("href")
    response = page.goto(ui.url + _path(href))
    assert response.status == 200
    assert page.evaluate("window.ranIt") is None


def test_every_page_works_without_javascript(ui, runs, chromium):
    """With JavaScript off: the runs page filters through its form, the run page draws its graph, timeline and
    error, the step page shows its log and previews (only the live updates need JS)."""
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(ui.url + "/")
        assert len(_rows(page)) == len(runs)
        page.locator('#filters [name="status"]').select_option("failed")
        with page.expect_navigation():
            page.locator('#filters [type="submit"], #filters button').first.click()
        assert [row["id"] for row in _rows(page)] == [runs["fail"]["run_id"]]

        page.goto(f"{ui.url}/runs/{runs['fail']['run_id']}")
        assert _states(page) == {"prepare": "succeeded", "flaky": "failed", "publish": "upstream_failed"}
        assert page.locator('#errors .error[data-step="flaky"]').count() == 1
        assert page.locator('#timeline .lane[data-step="flaky"] .attempt').count() == 3
        page.goto(f"{ui.url}/runs/{runs['ok']['run_id']}/steps/make")
        assert "making hello with token ***" in page.locator("pre#log").inner_text()
        assert page.locator("#artifacts .preview table").count() == 1
    finally:
        context.close()
