"""The runs page's pager in a real browser: 50 runs a page, newest first, every run on exactly one page, and a
filter kept from page to page.

130 runs are recorded through the local backend's own Store.create_run/set_run (the calls `orch run` makes at a
run's start and end): 130 real `orch run` processes would take a minute, and the pager reads only the runs table.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("ui-browser")

COUNT = 130  # pages of 50, 50, 30
PIPELINES = ("alpha", "beta")


@pytest.fixture(scope="module")
def recorded(home) -> list[dict]:
    """Runs of two pipelines, every fifth one failed; newest last."""
    from orch.backends.local.state import Store

    store = Store(home.path)
    made = []
    try:
        for n in range(COUNT):
            run_id, pipeline = f"page-run-{n:03d}", PIPELINES[n % 2]
            store.create_run(run_id, pipeline, "spec.yaml", {}, "2026-12-02", {"steps": {}})
            status = "failed" if n % 5 == 0 else "succeeded"
            store.set_run(run_id, status, ended=True)
            made.append({"id": run_id, "pipeline": pipeline, "status": status})
    finally:
        store.close()
    return made


def _ids(page) -> list[str]:
    return page.eval_on_selector_all("#runs tr.run", "rows => rows.map(r => r.dataset.runId)")


def _walk(page, url: str) -> list[list[str]]:
    """Each page's run ids, following a.next from `url` to the last page (and checking a.prev on the way)."""
    page.goto(url)
    pages = [_ids(page)]
    assert page.locator("#pager a.prev").count() == 0
    while page.locator("#pager a.next").count():
        with page.expect_navigation():
            page.click("#pager a.next")
        pages.append(_ids(page))
        assert page.locator("#pager a.prev").count() == 1
        assert len(pages) <= COUNT // 50 + 2, "the pager never ends"
    return pages


def test_the_pager_shows_every_run_once_newest_first(ui, recorded, page, shoot):
    pages = _walk(page, ui.url + "/")
    assert [len(ids) for ids in pages] == [50, 50, 30]
    assert sum(pages, []) == [run["id"] for run in reversed(recorded)]
    with page.expect_navigation():
        page.click("#pager a.prev")
    assert _ids(page) == pages[1]


def test_a_filter_is_kept_from_page_to_page(ui, recorded, page):
    wanted = [run["id"] for run in reversed(recorded) if run["pipeline"] == "beta" and run["status"] == "succeeded"]
    assert len(wanted) > 50  # more than one page of them
    pages = _walk(page, ui.url + "/?pipeline=beta&status=succeeded")
    assert sum(pages, []) == wanted
    assert [len(ids) for ids in pages] == [50, len(wanted) - 50]


def test_a_page_past_the_end_is_empty_and_a_bad_page_is_no_500(ui, recorded, page):
    response = page.goto(ui.url + "/?page=99")
    assert response.status == 200 and _ids(page) == []
    for bad in ("0", "-1", "x", "1e9", "99999999999999999999"):
        response = page.goto(ui.url + f"/?page={bad}")
        assert response.status in (200, 400), (bad, response.status)
        assert "Traceback" not in page.content()
