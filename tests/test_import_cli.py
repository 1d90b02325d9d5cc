"""`orch import argo|airflow` as a user meets it: the spec on stdout (or OUT), the report's table on stderr and
its JSON in --report, exit 0 / 1 / 2, nothing half-written, and migration in one line through `orch render -`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from orch.core.load import parse_spec

DIAMOND = textwrap.dedent("""\
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata:
      generateName: diamond-
    spec:
      entrypoint: main
      arguments:
        parameters:
          - name: greeting
            value: hello
      templates:
        - name: main
          dag:
            tasks:
              - name: a
                template: say
                arguments: {parameters: [{name: text, value: "{{workflow.parameters.greeting}}"}]}
              - name: b
                template: say
                depends: a
                arguments: {parameters: [{name: text, value: b}]}
              - name: c
                template: say
                dependencies: [a]
                arguments: {parameters: [{name: text, value: c}]}
              - name: d
                template: say
                depends: b && c
                arguments: {parameters: [{name: text, value: d}]}
        - name: say
          inputs:
            parameters:
              - name: text
          container:
            image: alpine:3.20
            command: [echo, "{{inputs.parameters.text}}"]
    """)
FLAKY = DIAMOND.replace("    - name: say\n", "    - name: say\n      retryStrategy: {limit: 2, retryPolicy: OnTransientError}\n")


@pytest.fixture
def diamond(tmp_path):
    path = tmp_path / "diamond.yaml"
    path.write_text(DIAMOND)
    return path


def test_a_faithful_import_is_exit_0_with_the_spec_on_stdout(orch, diamond):
    code, out, err = orch("import", "argo", diamond)
    assert code == 0, err
    graph = parse_spec(out)
    assert list(graph.pipeline.steps) == ["a", "b", "c", "d"]
    assert graph.pipeline.params["greeting"].default == "hello"
    assert "behaviour checked" in err and "0 unsupported" in err


def test_an_approximation_is_exit_1_and_the_report_locates_it(orch, tmp_path):
    source, report = tmp_path / "flaky.yaml", tmp_path / "report.json"
    source.write_text(FLAKY)
    code, out, err = orch("import", "argo", source, "--report", report)
    assert code == 1
    parse_spec(out)  # the spec is still written: a migration starts from it
    [found] = json.loads(report.read_text())
    retry = [e for e in found["entries"] if e["path"].startswith("spec.templates[1].retryStrategy")
             and e["status"] != "mapped"]
    assert retry and retry[0]["line"] == FLAKY.splitlines().index(
        next(line for line in FLAKY.splitlines() if "retryStrategy" in line)) + 1
    assert "retryStrategy" in err and found["summary"]["approximated"] >= 1


def test_input_that_is_not_a_pipeline_is_exit_2_located_and_writes_nothing(orch, tmp_path):
    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    out, report = tmp_path / "out.yaml", tmp_path / "report.json"
    code, stdout, err = orch("import", "argo", pod, "-o", out, "--report", report)
    assert code == 2 and "Traceback" not in err
    assert str(pod) in err and not out.exists() and not report.exists()
    broken = tmp_path / "broken_dag.py"
    broken.write_text("from airflow.sdk import dag\n\n@dag(\ndef oops(:\n")
    code, _, err = orch("import", "airflow", broken)
    assert code == 2 and "Traceback" not in err and f"{broken}:" in err


def test_several_pipelines_need_a_folder(orch, tmp_path, diamond):
    both = tmp_path / "both.yaml"
    both.write_text(DIAMOND + "---\n" + DIAMOND.replace("generateName: diamond-", "name: second"))
    code, out, err = orch("import", "argo", both)
    assert code == 2 and "--out" in err and out == ""
    code, _, err = orch("import", "argo", both, "-o", tmp_path / "specs")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "specs").iterdir()) == ["diamond.yaml", "second.yaml"]


def test_migration_in_one_line(tmp_path, diamond):
    """`orch import argo wf.yaml | orch render - -b airflow`: the DAG file Airflow reads, its tasks the steps."""
    orch = [sys.executable, "-m", "orch.cli.main"]
    imported = subprocess.run([*orch, "import", "argo", str(diamond)], capture_output=True, text=True, check=True)
    rendered = subprocess.run([*orch, "render", "-", "-b", "airflow"], input=imported.stdout, capture_output=True,
                              text=True)
    assert rendered.returncode == 0, rendered.stderr
    assert "dag_id='diamond'" in rendered.stdout
    for task in "abcd":
        assert f"task_id='{task}'" in rendered.stdout
    compile(rendered.stdout, "diamond_dag.py", "exec")


def test_what_orch_rendered_imports_back_as_the_spec(orch, tmp_path):
    spec = yaml.safe_load(open("specs/shell-pipeline.yaml"))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    code, out, err = orch("render", tmp_path / "spec.yaml", "-b", "argo", "--kind", "workflow", "-o", tmp_path / "argo")
    assert code == 0, err
    [manifest] = (tmp_path / "argo").iterdir()
    code, out, err = orch("import", "argo", manifest)
    assert code == 0, err
    assert parse_spec(out).pipeline == parse_spec(yaml.safe_dump(spec)).pipeline


def test_a_dag_file_orch_rendered_imports_back_and_an_edited_one_says_what_changed(orch, tmp_path):
    code, _, err = orch("render", "specs/shell-pipeline.yaml", "-b", "airflow", "-o", tmp_path / "dags")
    assert code == 0, err
    [dag_file] = (tmp_path / "dags").iterdir()
    code, out, err = orch("import", "airflow", dag_file)
    assert code == 0, err
    assert parse_spec(out).pipeline == parse_spec(open("specs/shell-pipeline.yaml").read()).pipeline
    dag_file.write_text(dag_file.read_text().replace("retries=0,", "retries=4,", 1))
    code, out, err = orch("import", "airflow", dag_file, "--report", tmp_path / "report.json")
    assert code == 1
    [report] = json.loads((tmp_path / "report.json").read_text())
    edited = [e for e in report["entries"] if e["path"] == "ORCH_SPEC"]
    assert edited and "edited since orch rendered it" in edited[0]["note"] and "retries=4" in edited[0]["note"]
    assert parse_spec(out).pipeline.steps["split"].retries.limit == 4  # read the general way: the edit is kept


def test_importing_airflow_without_airflow_says_what_to_install(orch, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "airflow" else real(name, *a))
    (tmp_path / "dag.py").write_text("x = 1\n")
    code, _, err = orch("import", "airflow", tmp_path / "dag.py")
    assert code == 3 and "pip install 'orch[airflow]'" in err
