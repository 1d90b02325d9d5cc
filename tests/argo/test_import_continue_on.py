"""What the report says where Argo lets a failure through (continueOn, or a `depends` reading it) and orch cannot:
the notes name each difference, and the behaviour check finds it (steps.go, executeStepGroup; dag.go,
assessDAGPhase)."""

from __future__ import annotations

import yaml

from orch.backends.argo.importer import import_

LEAF = {"name": "t", "container": {"image": "busybox", "command": ["true"]}}


def _report(tmp_path, main: dict):
    source = tmp_path / "wf.yaml"
    source.write_text(yaml.safe_dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                      "metadata": {"name": "wf"},
                                      "spec": {"entrypoint": "main", "templates": [main, LEAF]}}))
    (imported,) = import_(source)
    return imported.report, {e.path: e for e in imported.report.entries}


def test_continue_on_in_steps_says_the_next_group_starts_in_argo(tmp_path):
    """continue-on-fail.yaml: C fails, Argo starts D; orch's none_failed leaves d upstream_failed."""
    main = {"name": "main", "steps": [[{"name": "b", "template": "t"},
                                       {"name": "c", "template": "t", "continueOn": {"failed": True}}],
                                      [{"name": "d", "template": "t"}]]}
    report, entries = _report(tmp_path, main)
    note = entries["spec.templates[0].steps[0][1].continueOn"].note
    assert "next group's steps" in note and "upstream_failed in orch where Argo starts them" in note
    assert "still stops for an error" in note
    assert not report.behaviour.checked  # the run and d differ where c fails: said, not hidden


def test_continue_on_in_the_last_group_says_only_the_run(tmp_path):
    main = {"name": "main", "steps": [[{"name": "c", "template": "t", "continueOn": {"failed": True, "error": True}}]]}
    _, entries = _report(tmp_path, main)
    note = entries["spec.templates[0].steps[0][0].continueOn"].note
    assert "next group" not in note and "still stops" not in note and "the run, do not fail" in note


def test_fail_fast_with_a_failure_a_depends_runs_on_is_approximated(tmp_path):
    """dag-continue-on-fail.yaml: D runs on B.Failed, so Argo's failFast does not stop the DAG when B fails;
    orch's fail_fast would stop c and d."""
    tasks = [{"name": "a", "template": "t"}, {"name": "b", "template": "t", "depends": "a"},
             {"name": "c", "template": "t", "depends": "a"}, {"name": "d", "template": "t", "depends": "b.Failed && c"}]
    _, entries = _report(tmp_path, {"name": "main", "dag": {"tasks": tasks}})
    entry = entries["spec.templates[0].dag"]
    assert entry.status == "approximated" and "failure let through (b)" in entry.note
    _, plain = _report(tmp_path, {"name": "main", "dag": {"tasks": tasks[:3]}})
    assert "spec.templates[0].dag" not in plain  # nothing let through: failFast is fail_fast exactly


def test_a_negated_failure_in_depends_lets_nothing_through(tmp_path):
    tasks = [{"name": "a", "template": "t"}, {"name": "b", "template": "t", "depends": "!a.Failed"}]
    _, entries = _report(tmp_path, {"name": "main", "dag": {"tasks": tasks}})
    assert "spec.templates[0].dag" not in entries
