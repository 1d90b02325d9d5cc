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

from ..conformance.test_artifacts import CASES as ARTIFACT_CASES
from ..conformance.test_cases import CASES, load_case
from ..test_generated_specs import valid_specs
from .argo_lint import TAG, lint  # noqa: F401 - TAG for the other tests

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PLACES = [ROOT.parent / "shared", ROOT / "shared"]  # the project's shared/ sits beside the checkout (CI too)


def schema_file() -> Path:
    for place in SCHEMA_PLACES:
        if (place / "schemas" / "argo-workflows.schema.json").exists():
            return place / "schemas" / "argo-workflows.schema.json"
    raise AssertionError(f"Argo's JSON schema not found in {[str(p) for p in SCHEMA_PLACES]}")


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(schema_file().read_text())
    # The published schema types IntOrString as string only; the API accepts integers too.
    schema["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
    return jsonschema.Draft7Validator(schema)


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


def argo_expresses(path: Path) -> bool:
    """A conformance case of which Argo's capabilities refuse nothing (not sub-second timeouts), nor its renderer
    (not fan-out groups yet: E832, groups.py)."""
    from orch.backends.argo.groups import problems as group_problems
    from orch.backends.argo.render import inline_mode
    from orch.backends.capabilities import check as capabilities

    graph = parse_spec(yaml.safe_dump(load_case(path)["spec"]), str(path))
    return not capabilities(graph, "argo").refused and not group_problems(graph, inline_mode(graph))


ARGO_CASES = [p for p in CASES if argo_expresses(p)]


@pytest.mark.parametrize("path", ARGO_CASES, ids=lambda p: p.stem)
def test_conformance_cases_render_valid_manifests(path, validator):
    case = load_case(path)
    check(parse_spec(yaml.safe_dump(case["spec"]), str(path)), validator)


@pytest.mark.parametrize("path", ARTIFACT_CASES, ids=lambda p: p.stem)
def test_artifact_cases_render_valid_manifests_that_declare_argo_artifacts(path, validator):
    """The same cases the other backends run with a store (tests/conformance/artifact_cases): every artifact
    output an output artifact of its producer's template, every artifact reference an input artifact."""
    graph = parse_spec(yaml.safe_dump(load_case(path)["spec"], allow_unicode=True), str(path))
    (document,) = check(graph, validator)
    templates = document["spec"]["templates"]
    produced = {a["name"] for t in templates for a in t.get("outputs", {}).get("artifacts", [])}
    read = [a for t in templates for a in t.get("inputs", {}).get("artifacts", [])]
    declared = {o for step in graph.pipeline.steps.values() for o, kind in step.outputs.items() if kind == "artifact"}
    assert declared and declared <= produced and read
    assert all("s3" in a and "key" in a["s3"] and set(a["s3"]) == {"key"} for t in templates
               for a in t.get("outputs", {}).get("artifacts", []) if "from" not in a)  # key-only


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
    assert lint(document) == ["a tag orch did not write: {{ ds }}", "main: bad name a_b", "a_b: unknown template nope"]


def test_the_lint_knows_argos_dag_rules():
    """Each rule of validate.go (and the CRDs' CEL rules and item limits) that the schema cannot see, broken once."""
    pod = {"image": "busybox:1.36", "command": ["true"]}
    document = {"kind": "Workflow", "metadata": {"generateName": "p-"}, "spec": {"entrypoint": "main", "templates": [
        {"name": "main", "parallelism": 1, "activeDeadlineSeconds": 5, "dag": {"tasks": [
            {"name": "a", "template": "leaf"},
            {"name": "b", "template": "leaf", "depends": "a.Succeeded", "continueOn": {"failed": True}},
            {"name": "c", "template": "leaf", "depends": "a.Finished || b.AnySucceeded", "withParam": "[1]", "when": "{{= true }}"},
            {"name": "d", "template": "takes", "depends": "e", "arguments": {"parameters": [
                {"name": "x", "value": "{{tasks.a.outputs.parameters.nope}}"}, {"name": "y"}]}},
            {"name": "e", "template": "leaf", "depends": "d", "dependencies": ["a"]},
            {"name": "1f", "template": "leaf", "depends": "a", "arguments": {"parameters": [
                {"name": "x", "value": "{{tasks.c.status}}"}, {"name": "x", "value": "{{workflow.annotations.nope}}"}]}},
        ]}, "outputs": {"parameters": [{"name": "s", "valueFrom": {"parameter": "{{tasks.a.status}}"}},
                                       {"name": "t", "valueFrom": {"path": "/tmp/t"}}]}},
        {"name": "leaf", "container": {**pod, "volumeMounts": [{"name": "v", "mountPath": "/m"}, {"name": "w", "mountPath": "/m"}]},
         "parallelism": 2, "outputs": {"parameters": [{"name": "o", "value": "1", "valueFrom": {"path": "/o"}}]}},
        {"name": "takes", "inputs": {"parameters": [{"name": "x"}, {"name": "y"}]}, "container": {**pod, "image": ""}},
        {"name": "leaf", "suspend": {}, "container": pod},
        {"name": "empty", "dag": {"tasks": []}},
    ]}}
    assert lint(document) == [
        "a tag orch did not write: {{workflow.annotations.nope}}",
        "templates: leaf is not unique",
        "main: activeDeadlineSeconds or timeout on a ['dag'] template",
        "main.outputs.t: valueFrom.path in a dag template",
        "b: continueOn in a DAG using depends",
        "c: task result 'Finished' for task 'a' is invalid",
        "c: b.AnySucceeded on a task without items",
        "c: a fan-out's task holds a when (put it in a gate)",
        "main: cannot use both 'depends' and 'dependencies'",
        "1f: a task name cannot begin with a digit when using depends",
        "main: dependency cycle d -> e -> d",
        "leaf: parallelism on a leaf template",
        "leaf: a mountPath mounted twice",
        "leaf.outputs.o: needs one of value and valueFrom",
        "takes: container.image may not be empty",
        "leaf: 2 template types",
        "empty: 0 tasks: a DAG holds 1 to 200",
    ]
    del document["spec"]["templates"][1:]  # the tasks' own rules, once the DAG has no cycle
    document["spec"]["templates"] += [{"name": "leaf", "container": pod, "outputs": {"parameters": [{"name": "o", "valueFrom": {"path": "/o"}}]}},
                                      {"name": "takes", "inputs": {"parameters": [{"name": "x"}, {"name": "y"}]}, "container": pod}]
    tasks = document["spec"]["templates"][0]["dag"]["tasks"]
    tasks[4]["depends"] = "a"
    del tasks[3]["depends"]
    problems = lint(document)
    assert {"d: missing dependency 'a' for parameter 'x'", "d: failed to resolve {{tasks.a.outputs.parameters.nope}}",
            "d: argument y has no value", "1f.arguments: x is not unique", "1f: failed to resolve {{tasks.c.status}}",
            "1f: unknown annotation workflow.annotations.nope", "main.outputs: failed to resolve {{tasks.a.status}}"} <= set(problems)


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
    assert [len(templates[f"chunk-{i}"]["dag"]["tasks"]) for i in (1, 2, 3)] == [200, 200, 53]  # 199 steps and a leaf
    second = templates["chunk-2"]
    assert {p["name"] for p in second["inputs"]["parameters"]} >= {"s50__n", "s50___status", "s198__n"}
    assert {p["name"]: p["valueFrom"] for p in templates["chunk-1"]["outputs"]["parameters"]}["s50___status"] == {
        "default": "Omitted", "expression": 'tasks["s50"].status'}  # validate.go resolves no {{tasks.T.status}} there


def test_a_chunk_succeeds_whatever_its_steps_do_through_one_leaf_of_orchs(validator):
    """No `continueOn` (Argo refuses it beside `depends`): each chunk ends in `Orch-chunk-done`, which waits for the
    chunk's other leaves however they end, so it is the DAG's only target (dag.go, assessDAGPhase) and succeeds --
    a suspend template that resumes at once, with no pod."""
    steps = {f"s{i}": {"python": "m:fail" if i == 3 else "m:f", **({"after": [f"s{i - 1}"]} if i % 4 else {})} for i in range(12)}
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps}, sort_keys=False))
    from orch.backends.argo.depends import leaves
    from orch.backends.argo.render import workflow_spec

    spec = workflow_spec(graph, chunk_size=5).model_dump(by_alias=True, exclude_none=True, mode="json")
    templates = {t["name"]: t for t in spec["templates"]}
    assert templates["Orch-done"] == {"name": "Orch-done", "suspend": {"duration": "0"}}
    chunks = [t for name, t in templates.items() if name.startswith("chunk-")]
    assert [len(t["dag"]["tasks"]) for t in chunks] == [5, 5, 5]
    for chunk in chunks:
        tasks = chunk["dag"]["tasks"]
        *steps_tasks, done = tasks
        assert (done["name"], done["template"]) == ("Orch-chunk-done", "Orch-done")
        assert leaves(tasks) == ["Orch-chunk-done"]
        ends = [f"({t}.Succeeded || {t}.Skipped || {t}.Failed || {t}.Errored || {t}.Omitted)" for t in leaves(steps_tasks)]
        assert done["depends"] == (ends[0] if len(ends) == 1 else "(" + " && ".join(ends) + ")")
    assert "continueOn" not in json.dumps(spec)


def test_the_main_dag_holds_199_chunks():
    from orch.backends.argo.render import workflow_spec

    def spec(count: int):
        return parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": {f"s{i}": {"python": "m:f"} for i in range(count)}}))

    assert len(workflow_spec(spec(2 * 199), chunk_size=3).templates) == 199 + 4  # chunks, main, a step's, done, verdict
    with pytest.raises(SpecError) as error:
        workflow_spec(spec(2 * 199 + 1), chunk_size=3)
    assert [d.code for d in error.value.diagnostics] == ["E804"]


def test_a_manifest_over_a_megabyte_splits_into_workflow_templates(validator):
    steps = {f"s{i}": {"python": "pkg.module:work", "outputs": {"n": "integer"},
                       **({"args": {"x": f"${{{{ steps.s{i - 1}.outputs.n }}}}", "y": "x" * 200}} if i % 10 else {})}
             for i in range(2500)}
    final = {"report": {"python": "pkg.module:report", "args": {"n": "${{ steps.s5.outputs.n }}", "status": "${{ run.status }}"}}}
    graph = parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "huge", "steps": steps, "finally": final},
                                      sort_keys=False))
    artifacts = render(graph)
    documents = {a.path: yaml.safe_load(a.text) for a in artifacts}
    assert all(len(a.text.encode()) <= 1 << 20 for a in artifacts)
    main = documents.pop("huge.workflow.yaml")
    handler = next(t for t in main["spec"]["templates"] if t["name"] == main["spec"]["onExit"])  # it stays, and what it calls
    assert {t["template"] for t in handler["dag"]["tasks"]} <= {t["name"] for t in main["spec"]["templates"]}
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


def test_a_step_named_like_a_chunk_renders(validator):
    """With a template per step, a step's template is named after it: `chunk-…` is a container there, not a chunk DAG."""
    steps = {"chunk-data": {"python": "m:f", "outputs": {"n": "integer"}}, "use": {"python": "m:g", "args": {"n": "${{ steps.chunk-data.outputs.n }}"}}}
    (document,) = check(parse_spec(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", "steps": steps})), validator)
    assert [t["name"] for t in document["spec"]["templates"][0]["dag"]["tasks"]] == ["chunk-data", "use", "Orch-verdict"]


def test_a_pipeline_name_with_underscores_names_kubernetes_objects_with_dashes(validator):
    """Kubernetes object names have no '_': the Workflow's generateName and the CronWorkflow's name map it to '-',
    as step names are (a schedule makes both documents)."""
    graph = parse_spec("apiVersion: orch/v1\nname: my_pipe\nschedule: {cron: '0 * * * *'}\n"
                       "steps:\n  a: {command: [echo, hi]}\n", "p.yaml")
    workflow, cron = check(graph, validator)
    assert workflow["metadata"]["generateName"] == "my-pipe-"
    assert cron["metadata"]["name"] == "my-pipe"
