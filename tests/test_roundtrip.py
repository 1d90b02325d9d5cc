"""Round trip (backends/roundtrip.py): what `orch render` wrote, read back, is the spec it was rendered from.

Every example spec and every conformance case is rendered for Argo (each kind the spec allows), Airflow and
Prefect, recovered from the rendered file alone, and compared with the original as its full dump (groups
included). A file edited since orch rendered it is not recovered, and the reason names what changed; a spec past
the bound is not embedded, and the file says so.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from orch.backends import roundtrip
from orch.backends.airflow.render import dag_source
from orch.backends.argo import render as argo
from orch.backends.prefect.render import module_source
from orch.backends.roundtrip import recover_argo, recover_python
from orch.backends.shipping import Shipped
from orch.core import load_spec
from orch.core.errors import SpecError
from orch.core.load import parse_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
CONFORMANCE = ROOT / "tests" / "conformance"
HANDWRITTEN = SPECS / "handwritten"  # Argo manifests written by hand, not specs

YAML_SPECS = sorted(p for p in SPECS.rglob("*.yaml") if HANDWRITTEN not in p.parents)
PYTHON_SPECS = sorted(p for p in SPECS.rglob("*.py") if "PipelineBuilder(" in p.read_text(encoding="utf-8"))
CASES = sorted([*(CONFORMANCE / "cases").glob("*.yaml"), *(CONFORMANCE / "artifact_cases").glob("*.yaml")])
SOURCES = [*YAML_SPECS, *PYTHON_SPECS, *CASES]


def _graph(path: Path):
    if CONFORMANCE in path.parents:
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        return parse_spec(json.dumps({"apiVersion": "orch/v1", "name": path.stem, **case["spec"]}))
    return load_spec(path)


def _dump(pipeline) -> dict:
    return pipeline.model_dump(mode="json", by_alias=True)


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_source_is_found():
    assert len(YAML_SPECS) >= 8 and len(PYTHON_SPECS) >= 2 and len(CASES) >= 40
    assert {p.parent.name for p in SOURCES} >= {"specs", "ports", "python_only", "groups", "cases", "artifact_cases"}


@pytest.mark.parametrize("path", SOURCES, ids=_id)
def test_argo_manifests_give_back_their_spec(path):
    graph = _graph(path)
    kinds = ["workflow", "template"] + (["cron"] if graph.pipeline.schedule else [])
    refused = {}
    for kind in kinds:
        try:
            (document, *_chunks) = argo.render(graph, kind=kind)
        except SpecError as err:  # Argo cannot express the spec at all: said, never passed over
            refused[kind] = [d.code for d in err.diagnostics]
            continue
        recovered, reason = recover_argo(yaml.safe_load(document.text))
        assert reason == "" and recovered is not None, f"{kind}: {reason}"
        assert _dump(recovered) == _dump(graph.pipeline), kind
    if refused:
        assert list(refused) == kinds and all(code.startswith("E8") for codes in refused.values() for code in codes)
        pytest.skip(f"Argo refuses it when rendering: {sorted({c for codes in refused.values() for c in codes})}")


@pytest.mark.parametrize("path", SOURCES, ids=_id)
def test_airflow_and_prefect_files_give_back_their_spec(path):
    graph = _graph(path)
    embedded = roundtrip.embedding(graph)
    assert roundtrip._least_size(graph.pipeline) <= len(embedded.spec.encode())  # a lower bound
    for backend, text in (("airflow", dag_source(graph, "python")), ("prefect", module_source(graph))):
        recovered, reason = recover_python(text)
        assert reason == "" and recovered is not None, f"{backend}: {reason}"
        assert _dump(recovered) == _dump(graph.pipeline), backend


def test_the_kubernetes_target_gives_back_its_spec():
    graph = load_spec(SPECS / "shell-pipeline.yaml")
    text = dag_source(graph, "kubernetes")
    assert text != dag_source(graph, "python") and "KubernetesPodOperator" in text
    recovered, reason = recover_python(text)
    assert reason == "" and _dump(recovered) == _dump(graph.pipeline)


def test_reused_templates_and_shipped_code_travel_beside_the_spec():
    """What rendering reads beyond the spec: each step's template (Argo renders a template once), the code's sha256."""
    data = {"apiVersion": "orch/v1", "name": "shipped", "code": {"ship": True},
            "templates": {"say": {"inputs": {"word": "string"}, "command": ["echo", "${{ inputs.word }}"]}},
            "steps": {"a": {"uses": "say", "with": {"word": "one"}}, "b": {"uses": "say", "with": {"word": "two"}}}}
    graph = parse_spec(json.dumps(data))
    code = Shipped("ab" * 32)
    (document,) = argo.render(graph, kind="workflow", code=code)
    manifest = yaml.safe_load(document.text)
    assert json.loads(manifest["metadata"]["annotations"][roundtrip.INPUTS_ANNOTATION]) == \
        {"templates": {"a": "say", "b": "say"}, "code": "ab" * 32}
    recovered, reason = recover_argo(manifest)
    assert reason == "" and _dump(recovered) == _dump(graph.pipeline)
    for text in (dag_source(graph, code=code), module_source(graph, code=code)):
        assert f"{roundtrip.INPUTS_CONSTANT} = " in text
        recovered, reason = recover_python(text)
        assert reason == "" and _dump(recovered) == _dump(graph.pipeline)


def test_render_inputs_taken_away_are_a_reason_not_a_crash():
    graph = parse_spec(json.dumps({"apiVersion": "orch/v1", "name": "shipped", "code": {"ship": True},
                                   "steps": {"a": {"command": ["true"]}}}))
    text = dag_source(graph, code=Shipped("cd" * 32))
    line = next(line for line in text.splitlines() if line.startswith(f"{roundtrip.INPUTS_CONSTANT} = "))
    recovered, reason = recover_python(text.replace(line + "\n", ""))
    assert recovered is None and reason.startswith("orch cannot render its embedded spec for airflow now: this pipeline "
                                                   "ships its code")
    (document,) = argo.render(graph, kind="workflow", code=Shipped("cd" * 32))
    manifest = yaml.safe_load(document.text)
    manifest["metadata"]["annotations"][roundtrip.INPUTS_ANNOTATION] = '{"templates": {"nowhere": "t"}}'
    assert recover_argo(manifest) == \
        (None, "the embedded render inputs do not fit the spec: they name a step the spec lacks: nowhere")
    assert recover_argo({**manifest, "metadata": ["not", "a", "mapping"]})[0] is None


def test_secrets_are_embedded_as_references():
    data = {"apiVersion": "orch/v1", "name": "secretive", "steps": {
        "a": {"command": ["true"], "env": {"HF_TOKEN": {"secret": "hf-token", "key": "token"}}}}}
    graph = parse_spec(json.dumps(data))
    (document,) = argo.render(graph, kind="workflow")
    manifest = yaml.safe_load(document.text)
    embedded = json.loads(manifest["metadata"]["annotations"][roundtrip.SPEC_ANNOTATION])
    assert embedded["steps"]["a"]["env"] == {"HF_TOKEN": {"secret": "hf-token", "key": "token"}}
    recovered, _ = recover_argo(manifest)
    assert _dump(recovered) == _dump(graph.pipeline)


# -- edited files are not recovered ------------------------------------------------------------


@pytest.fixture(scope="module")
def ml_training():
    graph = load_spec(SPECS / "ml-training.yaml")
    (document,) = argo.render(graph, kind="workflow")
    return graph, yaml.safe_load(document.text)


def _template(manifest: dict, name: str) -> dict:
    return next(t for t in manifest["spec"]["templates"] if t["name"] == name)


def test_an_edited_command_arg_is_named(ml_training):
    _, manifest = ml_training
    edited = copy.deepcopy(manifest)
    _template(edited, "train")["container"]["args"][0] = "something else"
    recovered, reason = recover_argo(edited)
    assert recovered is None
    assert reason.startswith(roundtrip.EDITED) and "spec.templates[train].container.args[0] is 'something else'" in reason


def test_an_edited_retry_limit_is_named(ml_training):
    _, manifest = ml_training
    edited = copy.deepcopy(manifest)
    _template(edited, "evaluate")["retryStrategy"]["limit"] = 7
    recovered, reason = recover_argo(edited)
    assert recovered is None and reason == f"{roundtrip.EDITED}: spec.templates[evaluate].retryStrategy.limit is 7 " \
                                           "(orch renders 2)"


def test_an_added_or_removed_field_is_named(ml_training):
    _, manifest = ml_training
    edited = copy.deepcopy(manifest)
    edited["spec"]["serviceAccountName"] = "robot"
    del _template(edited, "train")["retryStrategy"]
    _, reason = recover_argo(edited)
    assert "spec.templates[train].retryStrategy is missing" in reason
    del edited["spec"]["templates"]
    _, reason = recover_argo(edited)
    assert "spec.templates is missing" in reason
    edited = copy.deepcopy(manifest)
    edited["spec"]["serviceAccountName"] = "robot"
    assert recover_argo(edited) == (None, f"{roundtrip.EDITED}: spec.serviceAccountName was added ('robot'; orch renders none)")


def test_an_edited_embedded_spec_no_longer_explains_the_manifest(ml_training):
    _, manifest = ml_training
    edited = copy.deepcopy(manifest)
    spec = json.loads(edited["metadata"]["annotations"][roundtrip.SPEC_ANNOTATION])
    spec["steps"]["evaluate"]["retries"] = {"limit": 5}
    edited["metadata"]["annotations"][roundtrip.SPEC_ANNOTATION] = json.dumps(spec)
    recovered, reason = recover_argo(edited)
    assert recovered is None and "spec.templates[evaluate].retryStrategy" in reason
    edited["metadata"]["annotations"][roundtrip.SPEC_ANNOTATION] = '{"apiVersion": "orch/v1", "name": "x"}'
    recovered, reason = recover_argo(edited)
    assert recovered is None and reason.startswith("the embedded spec does not load:")


def test_a_manifest_orch_did_not_render_says_so():
    manifest = yaml.safe_load((HANDWRITTEN / "ml-training.argo.yaml").read_text(encoding="utf-8"))
    assert recover_argo(manifest) == (None, "no orch.dev/spec annotation: not rendered by orch, or its spec was too big "
                                            "to embed")
    assert recover_argo({"kind": "ConfigMap"})[0] is None


@pytest.mark.parametrize("render", [dag_source, module_source], ids=["airflow", "prefect"])
def test_an_edited_python_file_is_named_by_its_line(render):
    text = render(load_spec(SPECS / "shell-pipeline.yaml"))
    old = "'printf \"%s\\\\n\" \"$1\" | grep -c . > \"$ORCH_OUTPUTS/total\"'"
    assert text.count(old) == 1
    line = text[:text.index(old)].count("\n") + 1
    recovered, reason = recover_python(text.replace(old, "'wc -l'"))
    assert recovered is None
    assert reason.startswith(f"{roundtrip.EDITED}: line {line} (in def _count_task) is ")
    assert "'wc -l'" in reason


@pytest.mark.parametrize("render", [dag_source, module_source], ids=["airflow", "prefect"])
def test_an_edited_python_retry_count_is_named(render):
    text = render(load_spec(SPECS / "ml-training.yaml"))
    assert "retries=2," in text
    recovered, reason = recover_python(text.replace("retries=2,", "retries=9,", 1))
    assert recovered is None and "retries=9," in reason and "(orch renders 'retries=2,')" in reason


def test_python_files_are_read_never_run(tmp_path):
    marker = tmp_path / "ran"
    text = f"import os\nos.makedirs({str(marker)!r})\nORCH_SPEC = '{{}}'\nfrom airflow.sdk import dag\n"
    assert recover_python(text)[0] is None and not marker.exists()
    assert recover_python("def (:")[1].startswith("not Python")
    assert recover_python("x = 1\n") == (None, "no ORCH_SPEC: not rendered by orch, or its spec was too big to embed")


# -- the bound ---------------------------------------------------------------------------------


def test_a_spec_over_the_bound_is_not_embedded():
    graph = parse_spec(json.dumps({"apiVersion": "orch/v1", "name": "big", "description": "x" * 140_000,
                                   "steps": {"a": {"command": ["true"]}}}))
    (document,) = argo.render(graph, kind="workflow")
    assert document.text.startswith("# orch.dev/spec not embedded: the spec's JSON is 137 KiB, over 128 KiB")
    manifest = yaml.safe_load(document.text)
    assert "annotations" not in manifest["metadata"]
    assert recover_argo(manifest)[0] is None
    for text in (dag_source(graph), module_source(graph)):
        assert "ORCH_SPEC =" not in text and "# ORCH_SPEC not embedded: the spec's JSON is 137 KiB" in text
        assert recover_python(text)[0] is None


def test_a_spec_whose_steps_alone_pass_the_bound_is_not_even_written():
    steps = {f"step-{i:04}": {"python": f"package.module:function_{i:04}"} for i in range(4000)}
    graph = parse_spec(json.dumps({"apiVersion": "orch/v1", "name": "many", "steps": steps}))
    embedded = roundtrip.embedding(graph)
    assert embedded.spec is None and roundtrip.MAX_EMBEDDED < embedded.size == 4000 * (9 + 3 + 28)
    assert roundtrip.python_lines(graph).startswith("# ORCH_SPEC not embedded: the spec's JSON is at least 156 KiB")


def test_the_spec_is_left_out_where_it_would_take_a_manifest_past_1_mb():
    graph = parse_spec(json.dumps({"apiVersion": "orch/v1", "name": "p", "steps": {"a": {"command": ["true"]}}}))
    embedded = roundtrip.embedding(graph)
    document = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "p"},
                "spec": {"note": "x" * (argo.MAX_BYTES - len(embedded.spec) // 2)}}
    text = argo._carrying_spec(document, embedded)
    assert text.startswith("# orch.dev/spec not embedded") and "past Kubernetes' 1 MB" in text.splitlines()[0]
    assert "annotations" not in yaml.safe_load(text)["metadata"]


# -- a nested pipeline past 1 MB: its chunks are WorkflowTemplates of their own -----------------


@pytest.fixture(scope="module")
def split_manifests():
    """3,000 steps: a spec of about 100 KiB (embedded), a DAG of chunks moved into WorkflowTemplates."""
    steps = {f"s{i}": {"command": ["echo", str(i)]} for i in range(3000)}
    graph = parse_spec(json.dumps({"apiVersion": "orch/v1", "name": "wide", "steps": steps}))
    main, *chunks = argo.render(graph, kind="workflow")
    assert len(chunks) > 2 and roundtrip.SPEC_ANNOTATION in main.text
    return graph, yaml.safe_load(main.text), [yaml.safe_load(chunk.text) for chunk in chunks]


def test_a_split_manifest_gives_back_its_spec_with_its_chunks(split_manifests):
    graph, main, chunks = split_manifests
    recovered, reason = recover_argo(main, chunks)
    assert reason == "" and _dump(recovered) == _dump(graph.pipeline)


def test_a_split_manifest_without_or_with_an_edited_chunk_is_not_recovered(split_manifests):
    _, main, chunks = split_manifests
    name = chunks[1]["metadata"]["name"]
    assert recover_argo(main, chunks[:1] + chunks[2:]) == \
        (None, f"the WorkflowTemplate {name} it calls (a chunk of its DAG) is not among the documents read")
    edited = copy.deepcopy(chunks)
    edited[1]["spec"]["templates"][0]["dag"]["tasks"][0]["name"] = "renamed"
    recovered, reason = recover_argo(main, edited)
    task = chunks[1]["spec"]["templates"][0]["dag"]["tasks"][0]["name"]
    assert recovered is None and reason == f"{roundtrip.EDITED}: the WorkflowTemplate {name} it calls: spec.templates" \
                                           f"[chunk-2].dag.tasks[{task}].name is 'renamed' (orch renders '{task}')"
