"""The Argo player on outputs a Skipped or Omitted task never wrote, as the controller reads them: an absent
optional (scope.go, addSkippedNodeOutputsToScope), dropped from an argument that is nothing but its tag so the
input's own default applies (markAbsentOptionalArgs; common/util.go, ProcessArgs), a terminal error anywhere else
(util/template/simple_template.go) -- never the requeue for ever that a missing output (a failed producer's) gets."""

from __future__ import annotations

from orch.backends.argo.importer import import_
from orch.backends.argo.play import play
from orch.core.play import Draw

FAIL = Draw(fails=1)
MSG = "{{tasks.producer.outputs.parameters.msg}}"


def _templates(consume_input: dict) -> list[dict]:
    produce = {"name": "produce", "outputs": {"parameters": [{"name": "msg", "valueFrom": {"path": "/tmp/out"}}]},
               "container": {"image": "busybox", "command": ["true"]}}
    consume = {"name": "consume", "inputs": {"parameters": [{"name": "in", **consume_input}]},
               "container": {"image": "busybox", "command": ["echo", "{{inputs.parameters.in}}"]}}
    return [produce, consume]


def _workflow(value: str = MSG, consume_input: dict | None = None, producer: dict | None = None,
              consumer: dict | None = None) -> dict:
    tasks = [{"name": "producer", "template": "produce", **(producer or {"when": "false"})},
             {"name": "consumer", "template": "consume", "depends": "producer.Succeeded || producer.Skipped",
              "arguments": {"parameters": [{"name": "in", "value": value}]}, **(consumer or {})}]
    main = {"name": "main", "dag": {"tasks": tasks}}
    return {"kind": "Workflow", "spec": {"entrypoint": "main", "templates": [main, *_templates(consume_input or {})]}}


def _phases(played) -> dict[str, str]:
    return {name: end.state for name, end in played.ends.items()}


def test_a_lone_tag_on_a_skipped_output_leaves_the_input_to_its_default():
    """examples/skipped-output-defaults/consumer-input-default.yaml: the consumer runs on its input's default."""
    played = play(_workflow(consume_input={"default": "fallback"}), {})
    assert _phases(played) == {"producer": "Skipped", "consumer": "Succeeded"} and played.status == "Succeeded"


def test_a_lone_tag_on_a_skipped_output_errors_an_input_without_a_default():
    played = play(_workflow(), {})
    assert _phases(played) == {"producer": "Skipped", "consumer": "Error"} and played.status == "Error"


def test_a_skipped_output_in_other_text_or_in_a_when_errors_the_task():
    assert _phases(play(_workflow(value=f"got {MSG}", consume_input={"default": "d"}), {}))["consumer"] == "Error"
    reading = _workflow(consume_input={"default": "d"}, consumer={"when": f"{MSG} == x"})
    assert _phases(play(reading, {}))["consumer"] == "Error"


def test_a_declared_default_is_the_skipped_outputs_value():
    document = _workflow(value=f"got {MSG}")
    document["spec"]["templates"][1]["outputs"]["parameters"][0]["valueFrom"]["default"] = "none"
    assert _phases(play(document, {}))["consumer"] == "Succeeded"


def test_a_failed_producer_let_through_still_leaves_the_reader_waiting():
    """A failed node's outputs are not filled in as a skipped one's are: the tag is missing, Argo requeues."""
    document = _workflow(producer={"continueOn": {"failed": True}},
                         consumer={"depends": "producer.Succeeded || producer.Failed"})
    played = play(document, {"producer": FAIL})
    assert _phases(played) == {"producer": "Failed", "consumer": "Pending"} and played.status == "Running"


def test_a_false_when_is_decided_before_the_arguments_are_read():
    """dag.go, resolveDependencyReferences resolves `when` first: a false one skips the task though an argument
    names an output no task gave."""
    document = _workflow(value="{{tasks.nobody.outputs.parameters.x}}", producer={},
                         consumer={"when": "1 == 2"})
    assert _phases(play(document, {}))["consumer"] == "Skipped"


def _steps(value: str) -> dict:
    groups = [[{"name": "producer", "template": "produce", "when": "false"}],
              [{"name": "consumer", "template": "consume", "arguments": {"parameters": [{"name": "in", "value": value}]}},
               {"name": "other", "template": "consume", "arguments": {"parameters": [{"name": "in", "value": "x"}]}}]]
    main = {"name": "main", "steps": groups}
    return {"kind": "Workflow", "spec": {"entrypoint": "main", "templates": [main, *_templates({"default": "d"})]}}


def test_in_a_steps_template_an_unresolvable_tag_errors_the_whole_group_before_it_starts():
    """steps.go, executeStepGroup: resolveReferences fails, the group is marked Error, no step of it starts."""
    played = play(_steps("got {{steps.producer.outputs.parameters.msg}}"), {})
    assert _phases(played) == {"producer": "Skipped"} and played.status == "Failed"
    fine = play(_steps("{{steps.producer.outputs.parameters.msg}}"), {})
    assert _phases(fine) == {"producer": "Skipped", "consumer": "Succeeded", "other": "Succeeded"}


def test_the_report_says_what_argo_passes_for_a_skipped_output(tmp_path):
    import yaml

    source = tmp_path / "wf.yaml"
    source.write_text(yaml.safe_dump(_workflow(consume_input={"default": "fallback"})))
    (imported,) = import_(source)
    notes = [entry.note for entry in imported.report.entries if MSG in (entry.note or "")]
    assert notes and "input's own default ('fallback'" in notes[0] and "waiting for ever" not in notes[0]
    assert imported.report.behaviour.checked  # before: the consumer waited for ever in the source, not in the spec


def _nested(default: dict) -> dict:
    """A DAG task calling an inner DAG that exports its skipped task's output (with `default` on the export)."""
    inner = {"name": "inner", "dag": {"tasks": [{"name": "producer", "template": "produce", "when": "false"}]},
             "outputs": {"parameters": [{"name": "out", "valueFrom": {
                 "parameter": "{{tasks.producer.outputs.parameters.msg}}", **default}}]}}
    main = {"name": "main", "dag": {"tasks": [
        {"name": "call", "template": "inner"},
        {"name": "consumer", "template": "consume", "depends": "call",
         "arguments": {"parameters": [{"name": "in", "value": "{{tasks.call.outputs.parameters.out}}"}]}}]}}
    return {"kind": "Workflow", "spec": {"entrypoint": "main", "templates": [main, inner, *_templates({})]}}


def test_a_template_exporting_a_skipped_output_takes_its_own_default_or_errors():
    """operator.go, getTemplateOutputsFromScope: the exporting parameter's valueFrom.default, else an error."""
    assert _phases(play(_nested({"default": "none"}), {})) == {"call.producer": "Skipped", "call": "Succeeded",
                                                                "consumer": "Succeeded"}
    errored = play(_nested({}), {})
    assert errored.ends["call"].state == "Error" and errored.ends["consumer"].state == "Omitted"  # a bare depends
