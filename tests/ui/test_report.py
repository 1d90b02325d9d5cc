"""`orch runs show RUN_ID --html FILE`: the run page as one file that makes no request, over real local runs."""

from __future__ import annotations

import re

import pytest

from .real_runs import HOSTILE, SECRET, orch, project, run_ids


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = project(tmp_path_factory.mktemp("report") / "project")
    orch(root, "run", "showcase.yaml")
    orch(root, "run", "grouped.yaml")
    made = {}
    for run_id in run_ids(root):
        out = root / f"{run_id}.html"
        done = orch(root, "runs", "show", run_id, "--html", str(out), check_codes=(0,))
        assert done.stdout.strip() == f"wrote {out}"
        made[run_id.split("-")[0]] = (run_id, out.read_text(encoding="utf-8"))
    return root, made


def test_the_report_is_the_run_page_in_one_file(reports):
    _, made = reports
    run_id, html = made["showcase"]
    assert f'data-run-id="{run_id}" data-run-status="failed"' in html
    nodes = dict(re.findall(r'<g class="node" data-step="([^"]+)" data-state="([^"]+)">', html))
    assert nodes == {"make": "succeeded", "fan": "succeeded", "flaky": "failed", "down": "upstream_failed"}
    assert 'class="error" data-step="flaky"' in html and '<table id="params"' in html
    assert len(re.findall(r'<div class="lane" ', html)) == 5
    sections = re.findall(r'<section class="step panel" id="step-([^"]+)"', html)
    assert sections == ["make", "fan", "flaky", "down"]
    links = re.findall(r'<a class="step-link" href="([^"]+)"', html)
    assert links == [f"#step-{name}" for name in sections]  # the step pages, as sections of the file


def test_the_report_makes_no_request_and_has_no_live_part(reports):
    _, made = reports
    for _, html in made.values():
        assert re.findall(r'\b(?:src|href)="([^"#][^"]*)"', html) == [f for f in re.findall(r'\bsrc="(data:[^"]*)"', html)]
        assert "<script" not in html and "/static/" not in html and "EventSource" not in html
        assert "<style>" in html and "Content-Security-Policy" in html
        assert 'id="stop"' not in html and 'id="resume"' not in html and "<form" not in html


def test_the_report_holds_each_steps_attempts_log_tail_and_outputs(reports):
    _, made = reports
    _, html = made["showcase"]
    make = re.search(r'<section class="step panel" id="step-make".*?</section>', html, re.S).group()
    assert "token is ***" in make and SECRET not in html  # masked, as orch logs shows it
    assert re.search(r'<table class="grid outputs">.*?count.*?5', make, re.S)
    assert re.findall(r'<div class="preview" data-kind="(\w+)">', make) == ["text", "json", "csv", "image"]
    assert 'src="data:image/png;base64,' in make  # the picture inlined
    flaky = re.search(r'<section class="step panel" id="step-flaky".*?</section>', html, re.S).group()
    assert re.findall(r'<tr class="attempt[^"]*" data-attempt="(\d)"', flaky) == ["1", "2"]
    fan = re.search(r'<section class="step panel" id="step-fan".*?</section>', html, re.S).group()
    assert [f"item {n}" in fan for n in (1, 2, 3)] == [True] * 3  # each item's log


def test_the_report_escapes_what_the_run_holds(reports):
    _, made = reports
    _, html = made["showcase"]
    assert HOSTILE not in html and "&lt;script&gt;alert(" in html


def test_the_report_draws_groups_and_finally_steps(reports):
    _, made = reports
    _, html = made["grouped"]
    assert re.findall(r'<g class="cluster" data-group="([^"]+)"', html) == ["sweep"]
    assert '<g class="finally-box">' in html
    assert re.findall(r'<section class="step panel" id="step-([^"]+)"', html) == ["first", "sweep.train", "sweep.evaluate", "report"]


def test_an_unknown_run_or_a_remote_backend_is_exit_2(reports, tmp_path):
    root, _ = reports
    done = orch(root, "runs", "show", "no-such-run", "--html", str(tmp_path / "r.html"), check_codes=(2,))
    assert "no run 'no-such-run'" in done.stderr and not (tmp_path / "r.html").exists()
    run_id = next(iter(reports[1].values()))[0]
    done = orch(root, "runs", "show", run_id, "--html", str(tmp_path / "r.html"), "--json", check_codes=(2,))
    assert "--html" in done.stderr and "Traceback" not in done.stderr
