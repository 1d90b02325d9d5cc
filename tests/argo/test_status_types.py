"""Reading an Argo run back: a command step whose pod succeeded but wrote an output that is not of its
declared type is failed, with orch's message, as on every other backend (Argo itself cannot check it)."""

from __future__ import annotations

from orch.backends.argo.status import result_from_workflow
from orch.core.load import parse_spec

SPEC = """
apiVersion: orch/v1
name: p
steps:
  count:
    command: [sh, -c, 'echo many > $ORCH_OUTPUTS/n']
    outputs: {n: integer}
  after:
    command: ["true"]
    after: [count]
"""


def workflow(value: str) -> dict:
    main = {"id": "w", "type": "DAG", "templateName": "Main", "phase": "Succeeded"}
    count = {"id": "w-1", "type": "Pod", "displayName": "count", "templateName": "count", "boundaryID": "w", "phase": "Succeeded",
             "outputs": {"parameters": [{"name": "n", "value": value}]}}
    after = {"id": "w-2", "type": "Pod", "displayName": "after", "templateName": "after", "boundaryID": "w", "phase": "Succeeded"}
    return {"metadata": {"name": "p-x"}, "spec": {"templates": [{"name": "Main"}, {"name": "count"}, {"name": "after"}]},
            "status": {"phase": "Succeeded", "nodes": {n["id"]: n for n in (main, count, after)}}}


def test_a_wrong_type_fails_the_producer_and_the_run_and_names_the_output():
    result = result_from_workflow(parse_spec(SPEC), workflow("many\n"), {})
    count = result.steps["count"]
    assert count.status == "failed" and count.outputs == {}
    assert count.error.startswith("output 'n': ") and "integer" in count.error
    assert result.steps["after"].status == "succeeded"  # it ran on Argo: said as it happened
    assert result.status == "failed"


def test_the_right_type_is_read_by_its_declared_type():
    result = result_from_workflow(parse_spec(SPEC), workflow("42\n"), {})
    assert result.status == "succeeded" and result.steps["count"].outputs == {"n": 42}


def test_a_command_reading_a_boolean_that_is_neither_word_errors_in_argo_not_passes_it_on():
    """The task's argument is an expression whose last branch fails (expr-lang's int() of the text), as a bad
    integer's does; read from the rendered DAG, since no expr-lang runs here."""
    from orch.backends.argo.render import render

    spec = parse_spec(SPEC.replace("integer", "boolean").replace('command: ["true"]', 'command: [echo, "${{ steps.count.outputs.n }}"]')
                      .replace("after: [count]", ""))
    text = next(a.text for a in render(spec) if a.path.endswith(".workflow.yaml"))
    (line,) = [row for row in text.splitlines() if "tasks[\"count\"].outputs" in row and "toBase64" in row]
    assert 'int("not true or false: " + trim(' in line and '"true"' in line and '"false"' in line
