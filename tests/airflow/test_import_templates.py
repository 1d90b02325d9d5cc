"""Params a template reads that the DAG does not declare, and context keys Airflow never passes."""

from __future__ import annotations

from orch.core.load import parse_spec


def _entries(one) -> dict:
    return {entry.path: entry for entry in one.report.entries}


def test_a_param_only_a_template_reads_is_a_required_param(readings):
    one = readings["conf_reader"]
    pipeline = parse_spec(one.text).pipeline
    assert pipeline.params["who"].required and pipeline.params["who"].type == "string"
    assert pipeline.all_steps["greet"].env == {"WHO": "${{ params.who }}"}
    entry = _entries(one)["tasks.greet.env.WHO"]
    assert entry.status == "approximated" and "StrictUndefined" in entry.note and "does not start" in entry.note


def test_test_mode_holds_its_default_and_what_only_its_branch_reads_is_never_read(readings):
    entries = _entries(readings["conf_reader"])
    assert entries["tasks.report.python_callable.test_mode"].status == "mapped"
    for name in ("task", "ti"):  # read only under `if test_mode:`
        entry = entries[f"tasks.report.python_callable.{name}"]
        assert entry.status == "approximated" and "a branch never run" in entry.note
    peeked = entries["tasks.peek.python_callable.task"]  # read outside any such branch: the default would raise
    assert peeked.status == "unsupported"


def test_a_decorator_naming_the_parameter_is_not_a_use_of_it():
    import ast

    from orch.backends.airflow.importer.body import uses_of

    node = ast.parse("@task(task_id='x')\ndef f(task=None):\n    return 1\n").body[0]
    assert uses_of(node, "task").unused


def test_a_constant_lambda_choosing_is_a_command_writing_what_its_readers_test(readings, tmp_path):
    """`lambda: 0` as a short-circuit is falsy (Airflow takes its truth): the command writes false; a branch's
    `lambda: "left"` writes the task_id as JSON. A lambda that computes has no module:function: refused."""
    import subprocess

    one = readings["lambdas"]
    steps, entries = parse_spec(one.text).pipeline.all_steps, _entries(one)
    for name, written in (("gate", "false"), ("pick", '"left"')):
        assert steps[name].command[:2] == ["sh", "-c"] and entries[f"tasks.{name}.python_callable"].status == "mapped"
        subprocess.run(steps[name].command, env={"ORCH_OUTPUTS": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=True)
        assert (tmp_path / "return_value").read_text() == written
    assert entries["tasks.counted.python_callable"].status == "unsupported"
    assert one.report.behaviour.checked
