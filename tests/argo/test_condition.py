"""`when` conditions as expr-lang tags: typed decoding, null guards, no `}}` inside the tag."""

import pytest

from orch.backends.argo.condition import ExprLang
from orch.core.expr import parse_condition

PARAMS = {"threshold": "number", "n": "integer", "flag": "boolean", "mode": "string", "tags": "json"}
OUTPUTS = {"acc": "number", "label": "string", "report": "json"}


def tag(text: str) -> str:
    lang = ExprLang(PARAMS.__getitem__, lambda ref: PARAMS[ref.name] if ref.kind == "param" else OUTPUTS[ref.name])
    return lang.tag(parse_condition(text))


@pytest.mark.parametrize("text, expected", [
    ("steps.train.outputs.acc > params.threshold",
     "{{= (fromJSON(tasks[\"train\"].outputs.parameters[\"acc\"]) != nil && "
     "(fromJSON(tasks[\"train\"].outputs.parameters[\"acc\"]) > asFloat(workflow.parameters[\"threshold\"]))) }}"),
    ("params.n >= 3 and not params.flag",
     "{{= ((asInt(workflow.parameters[\"n\"]) >= 3) && !((workflow.parameters[\"flag\"] == 'true'))) }}"),
    ("params.mode in ['a', 'b']", "{{= (workflow.parameters[\"mode\"] in [\"a\", \"b\"]) }}"),
    ("'x' in params.mode", "{{= (workflow.parameters[\"mode\"] contains \"x\") }}"),
    ("steps.load-data.outputs.label == null", "{{= (fromJSON(tasks[\"load-data\"].outputs.parameters[\"label\"]) == nil) }}"),
    ("run.id != 'x'", "{{= (workflow.name != \"x\") }}"),
])
def test_translations(text, expected):
    assert tag(text) == expected


def test_literals_cannot_close_the_tag():
    text = tag("params.mode == '}} {{workflow.name}}'")
    assert "}}" not in text[:-2] and "{{" not in text[2:]
    assert "\\u007d\\u007d \\u007b\\u007bworkflow.name\\u007d\\u007d" in text


def test_json_membership_checks_the_kind_at_run_time():
    assert "type(fromJSON(workflow.parameters[\"tags\"])) == 'string'" in tag("'a' in params.tags")
