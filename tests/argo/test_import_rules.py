"""The importer's readings of Argo's small languages, against Argo's own rules: `when` as govaluate reads it
after substitution (steps.go, shouldExecute), `depends` as ancestry.go expands it and dag.go decides it, and
the trigger each becomes, checked over every combination of upstream states."""

from __future__ import annotations

import pytest

from orch.backends.argo.importer import depends as deps
from orch.backends.argo.importer import when
from orch.backends.argo.importer.tags import Unsupported


@pytest.mark.parametrize("text, expected", [
    ("heads == heads", True),  # bare words are variables, which Argo turns into strings
    ("heads == tails", False),
    ('"a b" == "a b"', True),
    ("5 > 3", True),
    ("10 > 9", True),  # numbers, not text: "10" < "9" as text
    ("5 == heads", False),  # a number and a string are never equal
    ("true && !false", True),
    ("1 == 2 || (a != b && 3 >= 3)", True),
])
def test_when_is_read_as_govaluate_reads_substituted_text(text, expected):
    assert when.evaluate(text) is expected


@pytest.mark.parametrize("text", ["5 > heads", "heads", "1 +"])
def test_when_text_argo_cannot_decide_is_an_error(text):
    with pytest.raises(ValueError):
        when.evaluate(text)


def test_when_becomes_an_orch_condition_typed_by_its_literals():
    seen = []
    tree = when.parse("\x000\x00 == heads && \x001\x00 > 80 || !(\x002\x00 == true)")
    condition = when.to_orch(tree, ["steps.flip.outputs.result", "steps.score.outputs.result", "params.go"],
                             lambda ref, literal: seen.append((ref, literal)))
    assert condition == ("((steps.flip.outputs.result == 'heads') and (steps.score.outputs.result > 80)) or "
                         "(not (params.go == 'true'))")
    assert seen == [("steps.flip.outputs.result", "heads"), ("steps.score.outputs.result", 80), ("params.go", True)]


def test_a_when_over_workflow_status_compares_orchs_words():
    tree = when.parse("\x000\x00 != Succeeded")
    assert when.to_orch(tree, ["run.status"], lambda *_: None) == "run.status != 'succeeded'"


def test_a_regular_expression_match_has_no_orch_condition():
    with pytest.raises(Unsupported):
        when.parse("\x000\x00 =~ '^h'")


def test_dependencies_expand_as_ancestry_go_does_with_continue_on():
    tasks = {"a": {}, "b": {"continueOn": {"failed": True}}}
    assert deps.expression({"dependencies": ["a", "b"]}, tasks) == (
        "(a.Succeeded || a.Skipped || a.Daemoned) && (b.Succeeded || b.Skipped || b.Daemoned || b.Failed)")
    assert deps.expression({"depends": "a && b.Failed"}, tasks) == "(a.Succeeded || a.Skipped || a.Daemoned) && b.Failed"


@pytest.mark.parametrize("phases, expected", [
    ({"a": "Succeeded"}, True), ({"a": "Skipped"}, True), ({"a": "Failed"}, False), ({"a": "Omitted"}, False),
])
def test_a_bare_dependency_accepts_success_and_skip_only(phases, expected):
    assert deps.evaluate(deps.expression({"depends": "a"}, {"a": {}}), phases) is expected


@pytest.mark.parametrize("task, trigger, exact", [
    ({"dependencies": ["a", "b", "c"]}, "none_failed", True),
    ({"depends": "a.Succeeded && b.Succeeded"}, None, False),  # a skipped a: orch's step skipped, Argo's omitted
    ({"depends": "a.Failed"}, "any_failed", False),  # Argo omits it when a never ran; orch runs any_failed then
    ({"depends": "(a.Succeeded || a.Failed) && b"}, None, False),
])
def test_the_trigger_agrees_on_every_state_or_is_said_not_to(task, trigger, exact):
    found, wrong, tried = deps.trigger(deps.expression(task, {}))
    assert tried in (0, 5 ** len(deps.names(deps.expression(task, {}))))  # 0: a conjunction, decided without enumerating
    assert (wrong == 0) is exact
    if trigger:
        assert found == trigger


def test_succeeded_depends_are_exact_where_no_upstream_task_can_be_skipped():
    plain = deps.possible({"name": "a"})
    assert plain == ("Succeeded", "Failed", "Error")
    assert deps.trigger("a.Succeeded && b.Succeeded", {"a": plain, "b": plain})[:2] == ("all_succeeded", 0)
    assert deps.trigger("a.Succeeded", {"a": deps.possible({"name": "a", "when": "x == y"})})[1] > 0


@pytest.mark.parametrize("task", [{"dependencies": ["a", "b", "c"]}, {"depends": "a && b"},
                                  {"depends": "a.Succeeded && b.Succeeded && c.Succeeded"}])
@pytest.mark.parametrize("skippable", [False, True])
def test_the_shortcut_for_conjunctions_is_what_enumerating_finds(task, skippable):
    logic = deps.expression(task, {})
    phases = {u: deps.possible({"when": "x == y"} if skippable else {}) for u in deps.names(logic)}
    quick = deps.trigger(logic, phases)
    slow = deps.trigger(logic, phases, shortcut=False)
    assert quick[:2] == slow[:2]  # the same trigger, exact (0) both ways


def test_a_wide_dag_imports_in_seconds(tmp_path):
    import time

    import yaml

    from orch.backends.argo.importer import import_

    tasks = [{"name": f"t{i}", "template": "say", **({"dependencies": [f"t{j}" for j in range(max(0, i - 6), i)]}
                                                    if i else {})} for i in range(150)]
    (tmp_path / "wide.yaml").write_text(yaml.safe_dump({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wide"},
        "spec": {"entrypoint": "main", "templates": [
            {"name": "main", "dag": {"tasks": tasks}},
            {"name": "say", "container": {"image": "busybox", "command": ["true"]}}]}}))
    start = time.perf_counter()
    [imported] = import_(tmp_path / "wide.yaml")
    assert time.perf_counter() - start < 15
    assert imported.report.clean


def test_depends_syntax_argo_refuses_is_unsupported():
    with pytest.raises(Unsupported):
        deps.evaluate("a.Finished", {"a": "Succeeded"})


@pytest.mark.parametrize("fmt, n, expected", [
    ("2020-05-%02X", 19, "2020-05-13"),  # Go's fmt: %X is hexadecimal, as cron-backfill.yaml's days come out
    ("testuser%02X", 10, "testuser0A"),
    ("%d", -3, "-3"), ("%05d", -3, "-0003"), ("%-4d|", 7, "7   |"), ("%+d", 5, "+5"), ("%x%%", 255, "ff%"),
    ("%b", 5, "101"), ("%o", 8, "10"),
])
def test_a_sequence_format_is_read_as_gos_sprintf(fmt, n, expected):
    from orch.backends.argo.importer.common import go_format

    assert go_format(fmt, n) == expected


@pytest.mark.parametrize("fmt", ["%s", "day", "%d-%d", "%.2d"])
def test_a_sequence_format_other_than_one_integer_verb_is_unsupported(fmt):
    from orch.backends.argo.importer.common import go_format

    with pytest.raises(Unsupported):
        go_format(fmt, 1)
