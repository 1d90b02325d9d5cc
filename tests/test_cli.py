"""The CLI end to end: validate, graph, schema, backends, and error exits."""

import json
import shutil

import jsonschema
import pytest

from orch.core.yaml_source import load_yaml

from .conftest import SPECS

EXAMPLES = sorted(SPECS.glob("*.yaml"))


def test_there_are_the_promised_examples():
    assert {p.name for p in EXAMPLES} >= {"ml-training.yaml", "hyperparameter-sweep.yaml", "failure-handling.yaml", "shell-pipeline.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(orch, path):
    code, out, err = orch("validate", path)
    assert (code, err) == (0, "")
    assert out.startswith(f"ok: {path}: pipeline ")


def test_validate_many_reports_each(orch, spec_file):
    bad = spec_file("apiVersion: orch/v1\nname: p\nsteps: {}\n")
    code, out, err = orch("validate", SPECS / "ml-training.yaml", bad)
    assert code == 2
    assert "ok: " in out and "E202" in err


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_pass_the_published_json_schema(orch, path):
    code, out, _ = orch("schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(load_yaml(path.read_text())[0], schema)  # as YAML 1.2 editors read it: `on:` is a key


def test_schema_rejects_what_the_validator_rejects(orch):
    schema = json.loads(orch("schema")[1])
    with pytest.raises(jsonschema.ValidationError, match="retires"):
        jsonschema.validate({"apiVersion": "orch/v1", "name": "p", "steps": {"a": {"python": "m:f", "retires": 1}}}, schema)


def test_graph_mermaid(orch):
    code, out, _ = orch("graph", SPECS / "ml-training.yaml")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart TD"
    assert '  s0["ingest<br/>ml_pipeline.steps:ingest"]' in lines
    assert '  s0 -->|"dataset"| s1' in lines
    assert "  s3 -.-> s4" in lines  # deploy runs after evaluate: ordering only


def test_graph_dot_is_read_by_graphviz(orch, tmp_path):
    code, out, _ = orch("graph", SPECS / "failure-handling.yaml", "--format", "dot")
    assert code == 0 and out.startswith('digraph "failure-handling" {')
    assert '"load" -> "alert" [style=dashed];' in out
    assert '"extract" -> "load" [label="rows"];' in out


def test_graph_svg_and_png_are_real_pictures(orch, tmp_path):
    code, out, _ = orch("graph", SPECS / "ml-training.yaml", "-f", "svg")
    assert code == 0 and "<svg" in out and ">deploy</text>" in out
    png = tmp_path / "deep" / "g.png"
    code, out, _ = orch("graph", SPECS / "ml-training.yaml", "-f", "png", "-o", png)
    assert code == 0 and out.strip() == f"wrote {png}"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(png.parent.glob(".*tmp"))


def test_graph_without_graphviz_is_exit_3(orch, monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out_file = tmp_path / "g.svg"
    code, out, err = orch("graph", SPECS / "ml-training.yaml", "-f", "svg", "-o", out_file)
    assert code == 3
    assert "Graphviz's 'dot' program is not installed" in err and "--format mermaid" in err
    assert not out_file.exists()  # never a half-written output


def test_graph_of_an_invalid_spec_is_exit_2(orch, spec_file, tmp_path):
    out_file = tmp_path / "g.dot"
    code, _, err = orch("graph", spec_file("apiVersion: orch/v1\nname: p\nsteps: {a: {python: m:f, after: [b]}}\n"), "-o", out_file)
    assert code == 2 and "E401" in err and not out_file.exists()


def test_backends_lists_every_registered_engine(orch):
    code, out, _ = orch("backends", "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"local", "argo", "prefect", "airflow"}
    from importlib.metadata import version

    assert rows["prefect"]["version"] == version("prefect")
    assert rows["airflow"]["version"] == version("apache-airflow")
    assert rows["argo"]["version"] == version("hera")
    assert rows["local"]["engine"] == "orch (embedded)" and rows["local"]["installed"]


def test_backends_table(orch):
    code, out, _ = orch("backends")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:] if line[:2] == " " + line[1:2] and line.split()[0] in
            ("airflow", "argo", "local", "prefect")] == ["airflow", "argo", "local", "prefect"]


def test_unknown_option_is_a_usage_error(orch):
    code, _, err = orch("validate", "--frobnicate")
    assert code == 2 and "No such option" in err and "Traceback" not in err


def test_unknown_backend_names_the_closest():
    from orch.backends.registry import get
    from orch.core import UsageError

    with pytest.raises(UsageError, match="unknown backend 'prefekt'; did you mean 'prefect'"):
        get("prefekt")


def test_internal_errors_are_short_without_debug(orch, monkeypatch):
    import orch.cli.validate_cmd as command

    def boom(path):
        raise RuntimeError("kaput")

    monkeypatch.setattr(command, "load_spec", boom)
    monkeypatch.delenv("ORCH_DEBUG", raising=False)
    code, _, err = orch("validate", SPECS / "ml-training.yaml")
    assert code == 70
    assert "internal error: RuntimeError: kaput" in err and "Traceback" not in err


@pytest.mark.parametrize("backend", ["prefect", "airflow"])
def test_rendering_needs_no_engine_and_running_says_how_to_install_it(orch, monkeypatch, backend):
    from orch.backends.base import Backend

    monkeypatch.setattr(Backend, "engine_version", lambda self: None)  # as if the engine were not installed
    code, out, _ = orch("render", SPECS / "shell-pipeline.yaml", "--backend", backend)
    assert code == 0 and "shell-pipeline" in out
    code, _, err = orch("run", SPECS / "shell-pipeline.yaml", "--backend", backend)
    assert code == 3 and f"pip install 'orch[{backend}]'" in err
    code, out, _ = orch("backends")
    assert f"'orch[{backend}]'" in out  # rich must not eat the brackets as markup


def test_render_all_writes_a_folder_per_backend_or_nothing(orch, tmp_path):
    code, out, _ = orch("render", SPECS / "ml-training.yaml", "-b", "all", "-o", tmp_path / "out", "--kind", "workflow")
    assert code == 0
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")) == [
        "airflow/ml_training_pipeline_dag.py", "argo/ml-training-pipeline.workflow.yaml",
        "prefect/kubernetes-job-template.json", "prefect/ml_training_pipeline_flow.py", "prefect/prefect.yaml"]  # a default image: a work pool's job
    assert orch("render", SPECS / "ml-training.yaml", "-b", "all")[0] == 2  # a folder each: --out is needed
    code, _, err = orch("render", SPECS / "ml-training.yaml", "-b", "all", "--target", "kubernetes", "-o", tmp_path / "pods")
    assert code == 2 and "error[E815]" in err and not (tmp_path / "pods").exists()  # refused before anything is written
