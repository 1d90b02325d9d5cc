"""Rendered Argo manifests: valid against Argo's published JSON schema, and true to orch's rules
on the names and references Argo checks (workflow/validate/validate.go) -- for every example
spec, every conformance case Argo can express, and generated specs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from orch.backends.argo.render import render
from orch.core import SpecError, load_spec, parse_spec

from ..conformance.test_cases import CASES, load_case
from ..test_generated_specs import valid_specs

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PLACES = [ROOT.parent / "shared", ROOT / "shared"]  # the project's shared/ sits beside the checkout (CI too)


def schema_file() -> Path:
    for place in SCHEMA_PLACES:
        if (place / "schemas" / "argo-workflows.schema.json").exists():
            return place / "schemas" / "argo-workflows.schema.json"
    raise AssertionError(f"Argo's JSON schema not found in {[str(p) for p in SCHEMA_PLACES]}")
TASK_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
TAG = re.compile(r"\{\{(=?)(.*?)\}\}", re.S)


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(schema_file().read_text())
    # The published schema types IntOrString as string only; the API accepts integers too.
    schema["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
    return jsonschema.Draft7Validator(schema)


OURS = ("inputs.parameters.", "workflow.parameters.", "tasks.", "workflow.name", "workflow.creationTimestamp.", "item",
        "workflow.annotations.orch/runner")


def lint(document: dict) -> list[str]:
    """Argo's own rules that a schema cannot see, and: every tag in it is one orch wrote."""
    problems = []
    for expression, body in TAG.findall(json.dumps(document)):
        if not expression and not body.strip().startswith(OURS):
            problems.append(f"a tag orch did not write: {{{{{body}}}}}")
    spec = document["spec"].get("workflowSpec", document["spec"])
    templates = {t["name"]: t for t in spec["templates"]}
    params = {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
    if "entrypoint" in spec and spec["entrypoint"] not in templates:
        problems.append("entrypoint names no template")
    for template in spec["templates"]:
        inputs = {p["name"] for p in template.get("inputs", {}).get("parameters", [])}
        text = json.dumps(template)
        for expression, body in TAG.findall(text):
            body = body.strip()
            if not expression and body.startswith("inputs.parameters.") and body.split(".", 2)[2] not in inputs:
                problems.append(f"{template['name']}: unknown input {body}")
        for task in template.get("dag", {}).get("tasks", []):
            names = {t["name"] for t in template["dag"]["tasks"]}
            if not TASK_NAME.match(task["name"]):
                problems.append(f"bad task name {task['name']}")
            if "templateRef" in task:  # resolved against the WorkflowTemplates rendered beside it
                continue
            if task["template"] not in templates:
                problems.append(f"{task['name']}: unknown template {task['template']}")
                continue
            wanted = {p["name"] for p in templates[task["template"]].get("inputs", {}).get("parameters", [])
                      if "default" not in p and "value" not in p}
            given = {p["name"] for p in task.get("arguments", {}).get("parameters", [])}
            if wanted - given:
                problems.append(f"{task['name']}: missing arguments {wanted - given}")
            for word in re.findall(r"([a-zA-Z0-9][-a-zA-Z0-9]*)\.(?:Succeeded|Failed|Errored|Skipped|Omitted)", task.get("depends", "")):
                if word not in names:
                    problems.append(f"{task['name']}: depends on unknown task {word}")
            for _, body in TAG.findall(json.dumps(task.get("arguments", {}))):
                body = body.strip()
                if body.startswith("workflow.parameters.") and body.split(".", 2)[2] not in params:
                    problems.append(f"{task['name']}: unknown param {body}")
                if body.startswith("tasks.") and body.split(".")[1] not in names:
                    problems.append(f"{task['name']}: unknown task in {body}")
    return problems


def check(graph, validator) -> list[dict]:
    documents = []
    for artifact in render(graph):
        document = yaml.safe_load(artifact.text)
        errors = sorted(validator.iter_errors(document), key=str)
        assert not errors, errors[0]
        assert lint(document) == []
        assert "${{" not in artifact.text.replace('"${{ ', "")  # user references only as payload placeholders
        documents.append(document)
    return documents


@pytest.mark.parametrize("path", sorted((ROOT / "specs").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_render_valid_manifests(path, validator):
    documents = check(load_spec(path), validator)
    kinds = [d["kind"] for d in documents]
    assert kinds == (["Workflow", "CronWorkflow"] if "schedule" in path.read_text() else ["Workflow"])


ARGO_CANNOT = {"timeouts", "pipeline-timeout"}  # sub-second timeouts: Argo counts whole seconds


@pytest.mark.parametrize("path", [p for p in CASES if p.stem not in ARGO_CANNOT], ids=lambda p: p.stem)
def test_conformance_cases_render_valid_manifests(path, validator):
    case = load_case(path)
    check(parse_spec(yaml.safe_dump(case["spec"]), str(path)), validator)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_specs())
def test_generated_specs_render_valid_manifests(validator, case):
    check(parse_spec(yaml.safe_dump(case[0], allow_unicode=True)), validator)


@pytest.mark.parametrize("steps, code", [
    ({"a": {"python": "m:f", "retries": {"limit": 2, "delay": "1s", "factor": 1.5}}}, "E801"),
    ({"a": {"python": "m:f", "timeout": "500ms"}}, "E802"),
])
def test_what_argo_cannot_express_is_refused_with_the_step_named(steps, code):
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps}))
    with pytest.raises(SpecError) as error:
        render(graph)
    assert [d.code for d in error.value.diagnostics] == [code]
    assert error.value.diagnostics[0].line is not None  # located in the spec, like a validation error


def test_the_lint_sees_what_it_is_for():
    document = {"spec": {"entrypoint": "main", "templates": [
        {"name": "main", "dag": {"tasks": [{"name": "a_b", "template": "nope", "arguments": {"parameters": [{"name": "x", "value": "{{ ds }}"}]}}]}},
    ]}}
    assert lint(document) == ["a tag orch did not write: {{ ds }}", "bad task name a_b", "a_b: unknown template nope"]


def test_too_many_steps_even_nested_is_refused():
    from orch.backends.argo.render import workflow_spec

    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p",
                                       "steps": {f"s{i}": {"python": "m:f"} for i in range(3 * 199 + 1)}}))
    with pytest.raises(SpecError) as error:
        workflow_spec(graph, chunk_size=3)
    assert [d.code for d in error.value.diagnostics] == ["E804"]


def test_a_large_pipeline_nests_in_chunks_of_200(validator):
    steps = {f"s{i}": {"python": "m:f", "outputs": {"n": "integer"},
                       **({"args": {"n": f"${{{{ steps.s{i - 150}.outputs.n }}}}"}} if i >= 150 else {})} for i in range(450)}
    (document,) = check(parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "big", "steps": steps}, sort_keys=False)), validator)
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    assert [t["name"] for t in templates["Main"]["dag"]["tasks"]] == ["chunk-1", "chunk-2", "chunk-3", "Orch-verdict"]
    assert all(len(templates[f"chunk-{i}"]["dag"]["tasks"]) <= 200 for i in (1, 2, 3))
    second = templates["chunk-2"]
    assert {p["name"] for p in second["inputs"]["parameters"]} >= {"s50__n", "s50___status"}


def test_a_manifest_over_a_megabyte_splits_into_workflow_templates(validator):
    steps = {f"s{i}": {"python": "pkg.module:work", "outputs": {"n": "integer"},
                       **({"args": {"x": f"${{{{ steps.s{i - 1}.outputs.n }}}}", "y": "x" * 200}} if i % 10 else {})}
             for i in range(2500)}
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "huge", "steps": steps}, sort_keys=False))
    artifacts = render(graph)
    documents = {a.path: yaml.safe_load(a.text) for a in artifacts}
    assert all(len(a.text.encode()) <= 1 << 20 for a in artifacts)
    main = documents.pop("huge.workflow.yaml")
    assert len(documents) == 13 and all(d["kind"] == "WorkflowTemplate" for d in documents.values())
    refs = [t["templateRef"] for t in main["spec"]["templates"][0]["dag"]["tasks"] if "templateRef" in t]
    assert {r["name"] for r in refs} == {d["metadata"]["name"] for d in documents.values()}
    for document in [main, *documents.values()]:
        assert not list(validator.iter_errors(document))
        assert lint(document) == []
    for ref in refs:  # each named template lives in the WorkflowTemplate named, with the step templates it uses
        chunk = next(d for d in documents.values() if d["metadata"]["name"] == ref["name"])
        names = {t["name"] for t in chunk["spec"]["templates"]}
        assert ref["template"] in names
        chunk_dag = next(t for t in chunk["spec"]["templates"] if t["name"] == ref["template"])
        assert {t["template"] for t in chunk_dag["dag"]["tasks"]} <= names
