"""Groups and reusable steps in core: what the spec means once read (qualified names, lexical references,
template expansion), that a dump reads back as the same pipeline, and how `orch graph` draws a group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orch.core import diagram, groups
from orch.core.load import parse_spec

CASES = sorted((Path(__file__).parent / "conformance" / "cases").glob("*.yaml"))
SWEEP = {
    "apiVersion": "orch/v1", "name": "sweep",
    "steps": {
        "load": {"python": "m:load", "outputs": {"data": "artifact"}},
        "prepare": {"python": "m:prepare", "outputs": {"data": "artifact"}},
        "sweep": {"foreach": [1, 2], "parallelism": 1, "steps": {
            "train": {"python": "m:train", "args": {"lr": "${{ item }}", "data": "${{ steps.load.outputs.data }}"},
                      "outputs": {"model": "artifact"}},
            "prepare": {"python": "m:local", "outputs": {"x": "string"}},  # shadows the pipeline's prepare inside
            "evaluate": {"python": "m:evaluate", "args": {"model": "${{ steps.train.outputs.model }}",
                                                          "x": "${{ steps.prepare.outputs.x }}"}, "outputs": {"score": "number"}}},
            "outputs": {"score": "${{ steps.evaluate.outputs.score }}", "model": "${{ steps.train.outputs.model }}"}},
        "pick": {"python": "m:pick", "args": {"scores": "${{ steps.sweep.outputs.score }}"}, "after": ["sweep"]},
    },
}


def graph_of(spec: dict):
    return parse_spec(json.dumps(spec))


def test_steps_inside_a_group_get_qualified_names_and_references_are_lexical():
    graph = graph_of(SWEEP)
    pipeline = graph.pipeline
    assert list(pipeline.steps) == ["load", "prepare", "sweep.train", "sweep.prepare", "sweep.evaluate", "pick"]
    assert groups.order(pipeline) == ["load", "prepare", "sweep", "sweep.train", "sweep.prepare", "sweep.evaluate", "pick"]
    edges = {(e.upstream, e.downstream) for e in graph.edges}
    assert ("load", "sweep.train") in edges  # a name not in the group: the pipeline's
    assert ("sweep.prepare", "sweep.evaluate") in edges and ("prepare", "sweep.evaluate") not in edges  # the sibling
    assert {u for u, d in edges if d == "pick"} == {"sweep.train", "sweep.prepare", "sweep.evaluate"}  # all of the group
    assert groups.lookup(pipeline, "sweep.evaluate", "prepare") == "sweep.prepare"
    assert groups.lookup(pipeline, "pick", "prepare") == "prepare"


def test_a_group_output_of_an_artifact_is_an_artifact():
    from orch.core.artifacts import is_artifact

    pipeline = graph_of(SWEEP).pipeline
    assert is_artifact(pipeline, "sweep", "model") and not is_artifact(pipeline, "sweep", "score")


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_a_dump_reads_back_as_the_same_pipeline(path):
    spec = {"apiVersion": "orch/v1", "name": path.stem, **yaml.safe_load(path.read_text())["spec"]}
    pipeline = graph_of(spec).pipeline
    dumped = {"apiVersion": "orch/v1", **pipeline.model_dump(mode="json", by_alias=True, exclude_defaults=True)}
    again = graph_of(dumped).pipeline
    assert again.model_dump() == pipeline.model_dump() and list(again.groups) == list(pipeline.groups)
    assert again.groups == pipeline.groups


def test_a_template_fills_its_inputs_and_the_steps_own_fields_win():
    spec = {"apiVersion": "orch/v1", "name": "t", "params": {"lr": {"type": "number", "default": 0.1}},
            "templates": {"train": {"inputs": {"lr": "number", "epochs": {"type": "integer", "default": 3}},
                                    "python": "m:train", "env": {"A": "1", "B": "1"},
                                    "args": {"lr": "${{ inputs.lr }}", "epochs": "${{ inputs.epochs }}", "tag": "lr=${{ inputs.lr }}"}}},
            "steps": {"small": {"uses": "train", "with": {"lr": 0.5}},
                      "large": {"uses": "train", "with": {"lr": "${{ params.lr }}"}, "env": {"B": "2"}, "args": {"epochs": 9},
                                "timeout": 60}}}
    steps = graph_of(spec).pipeline.steps
    assert steps["small"].args == {"lr": 0.5, "epochs": 3, "tag": "lr=0.5"}  # a whole reference keeps the value's type
    assert steps["large"].args == {"lr": "${{ params.lr }}", "epochs": 9, "tag": "lr=${{ params.lr }}"}
    assert steps["large"].env == {"A": "1", "B": "2"} and steps["large"].timeout == 60
    assert steps["small"]._template == steps["large"]._template == "train"


def test_orch_graph_draws_a_group_as_a_cluster_with_one_edge_in_and_one_out():
    graph = graph_of(SWEEP)
    mermaid = diagram.to_mermaid(graph)
    assert 'subgraph g0["sweep<br/>foreach (parallelism 1)"]' in mermaid
    assert "s0 -->|\"data\"| g0" in mermaid and "g0 -->|\"score\"| s5" in mermaid
    assert mermaid.count("-->") + mermaid.count("-.->") == 4  # into the group, two inside, out of it
    dot = diagram.to_dot(graph)
    assert 'subgraph "cluster_sweep"' in dot and "compound=true" in dot
    assert 'lhead="cluster_sweep"' in dot and 'ltail="cluster_sweep"' in dot


def test_the_builder_makes_groups_and_finally_steps_as_yaml_does():
    from orch.core.builder import ITEM, RUN_STATUS, PipelineBuilder

    pipe = PipelineBuilder("sweep")
    load = pipe.command("load", ["true"], outputs={"data": "artifact"})
    pipe.command("prepare", ["true"], outputs={"data": "artifact"})
    with pipe.group("sweep", foreach=[1, 2], parallelism=1) as sweep:
        train = pipe.command("train", ["echo", f"{ITEM}", f"{load.outputs.data}"], outputs={"model": "artifact"})
        local = pipe.command("prepare", ["true"], outputs={"x": "string"})
        evaluate = pipe.command("evaluate", ["echo", f"{train.outputs.model}", f"{local.outputs.x}"],
                                outputs={"score": "number"})
        scores = sweep.output("score", evaluate.outputs.score)
        sweep.output("model", train.outputs.model)
    pipe.command("pick", ["echo", f"{scores}"], after=[sweep])
    with pipe.finally_steps():
        pipe.command("report", ["echo", f"{RUN_STATUS}"])
    built = pipe.build()
    assert list(built.steps) == ["load", "prepare", "sweep.train", "sweep.prepare", "sweep.evaluate", "pick"]
    assert built.groups["sweep"].outputs == {"score": "${{ steps.evaluate.outputs.score }}",
                                             "model": "${{ steps.train.outputs.model }}"}
    assert list(built.finally_) == ["report"]
    with pytest.raises(TypeError, match="outside any group"):
        with pipe.group("other"):
            with pipe.finally_steps():
                pass


def test_a_builder_error_inside_a_group_is_at_the_line_of_its_step():
    from orch.core.builder import PipelineBuilder
    from orch.core.errors import SpecError

    pipe = PipelineBuilder("p")
    with pipe.group("g"):
        pipe.command("a", ["echo", "${{ steps.nope.outputs.x }}"])  # the line the error must name
    with pytest.raises(SpecError) as error:
        pipe.build()
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == "E503" and diagnostic.path[:4] == ("steps", "g", "steps", "a")
    assert "pipe.command(\"a\"" in diagnostic.source_line


@pytest.mark.parametrize("path", [p for p in CASES if p.stem.startswith(("group-", "reusable-", "finally-"))], ids=lambda p: p.stem)
def test_the_published_schema_takes_groups_templates_and_finally_steps(path):
    import jsonschema

    from orch.core.spec import json_schema

    spec = {"apiVersion": "orch/v1", "name": path.stem, **yaml.safe_load(path.read_text())["spec"]}
    jsonschema.validate(spec, json_schema())
    with pytest.raises(jsonschema.ValidationError):  # a typo inside a group is still refused
        jsonschema.validate({**spec, "steps": {"g": {"steps": {"a": {"python": "m:f", "retires": 1}}}}}, json_schema())


def test_orch_graph_draws_finally_steps_in_a_cluster_of_their_own():
    spec = {"apiVersion": "orch/v1", "name": "f", "steps": {"a": {"command": ["true"], "outputs": {"x": "string"}}},
            "finally": {"tidy": {"command": ["echo", "${{ steps.a.outputs.x }}"]}, "then": {"command": ["true"], "after": ["tidy"]}}}
    graph = graph_of(spec)
    mermaid = diagram.to_mermaid(graph)
    assert 'subgraph fin["finally: after every step, whatever happened"]' in mermaid
    assert 's0 -->|"x"| f0' in mermaid and "f0 -.-> f1" in mermaid
    assert 'subgraph "cluster_finally"' in diagram.to_dot(graph)


def test_a_step_outside_a_group_cannot_name_a_step_inside_it():
    from orch.core.errors import SpecError

    inside = {"g": {"steps": {"a": {"command": ["true"]}}}}
    for other in ({"after": ["g.a"]}, {"after": ["a"]}):
        with pytest.raises(SpecError, match="E401") as error:
            graph_of({"apiVersion": "orch/v1", "name": "p", "steps": {**inside, "b": {"command": ["true"], **other}}})
        assert "after: [g]" in (error.value.diagnostics[0].hint or "") or "did you mean 'g'" in (error.value.diagnostics[0].hint or "")


def test_an_input_in_a_condition_is_a_literal_or_the_reference_given():
    spec = {"apiVersion": "orch/v1", "name": "t", "params": {"env": "prod"},
            "templates": {"deploy": {"inputs": {"target": "string"}, "command": ["true"],
                                     "when": "params.env == ${{ inputs.target }}"}},
            "steps": {"sneaky": {"uses": "deploy", "with": {"target": "x' or 'a' == 'a"}},
                      "same": {"uses": "deploy", "with": {"target": "${{ params.env }}"}}}}
    steps = graph_of(spec).pipeline.steps
    assert steps["sneaky"].when == 'params.env == "x\' or \'a\' == \'a"'  # one string, never condition text
    assert steps["same"].when == "params.env == params.env"


def test_the_sweep_example_runs_each_grid_point_as_a_train_and_evaluate_group(orch, tmp_path, monkeypatch):
    root = Path(__file__).parent.parent / "specs"
    monkeypatch.chdir(root)  # its steps are ml_pipeline.*, found beside it
    code, out, err = orch("run", "groups/sweep-train-evaluate.yaml", "--json", "-p", f"bucket={tmp_path / 'bucket'}",
                          "--artifacts", str(tmp_path / "store"))
    assert code == 0, err
    steps = json.loads(out)["steps"]
    assert list(steps) == ["ingest", "features", "sweep", "sweep.train", "sweep.evaluate", "select", "report"]
    assert len(steps["sweep"]["outputs"]["recall"]) == 4 and steps["sweep.evaluate"]["attempts"] == 1
    best = steps["select"]["outputs"]
    assert best["best_accuracy"] == max(steps["sweep"]["outputs"]["accuracy"]) and best["best_model"].endswith("/best_model")
