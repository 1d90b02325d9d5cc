"""Artifact params (`type: artifact`): a URI from outside the pipeline, validated where it is written, and a
reference to it is the step's own copy, fetched before it starts (a file as it is, a folder when it ends in '/')."""

from __future__ import annotations

import json
import pytest

from orch.core.artifacts import param_uri_problem


def test_no_message_shows_a_uris_credentials_or_query():
    problem = param_uri_problem("https://alice:s3cr3t@host/x?sig=abc")
    assert "s3cr3t" not in problem and "sig=abc" not in problem

GOOD = ["s3://bucket/key", "s3://bucket/folder/", "gs://b/k", "az://container/blob", "https://host/x?y=1",
        "http://host", "file:///data/x", "/data/x", "/data/folder/"]
BAD = ["ftp://host/x", "relative/path", "s3://bucket", "s3://bucket/", "s3:/bucket/key", "s3://user:pw@bucket/k",
       "s3://bucket/k?token=1", "file://", "/", "", "s3://b/${{ params.x }}", "s3://b/{{workflow.name}}",
       "file://data/x.csv", "S3://bucket/key", "/data/{{ x }}"]  # a host in a file URI is read from the cwd


@pytest.mark.parametrize("uri", GOOD)
def test_a_uri_orch_fetches_is_accepted(uri):
    assert param_uri_problem(uri) is None


@pytest.mark.parametrize("uri", BAD)
def test_anything_else_is_refused(uri):
    assert param_uri_problem(uri)


def test_a_bad_default_is_refused_located_with_a_hint(orch, spec_file):
    path = spec_file("""
        apiVersion: orch/v1
        name: p
        params:
          fine: {type: artifact, default: "s3://bucket/key"}
          data: {type: artifact, default: "ftp://host/x"}
        steps:
          a: {command: [cat, "${{ params.data }}", "${{ params.fine }}"]}
    """)
    code, out, err = orch("validate", path, "--json")
    diagnostics = json.loads(out)["errors"]
    assert code != 0 and [(d["code"], d["line"], d["field"]) for d in diagnostics] == [("E229", 5, "params.data")]
    assert "s3://bucket/key" in diagnostics[0]["hint"]


def test_a_condition_a_fan_out_and_an_image_cannot_use_one(orch, spec_file):
    path = spec_file("""
        apiVersion: orch/v1
        name: p
        params: {data: {type: artifact, default: "s3://bucket/key"}}
        steps:
          a: {command: ["true"], when: "params.data == 'x'"}
          b: {command: ["true"], foreach: "${{ params.data }}"}
          c: {command: ["true"], image: "${{ params.data }}"}
    """)
    code, out, err = orch("validate", path)
    assert code != 0
    for code_, line in (("E604", 5), ("E509", 6), ("E226", 7)):
        assert f":{line}:" in err + out and f"error[{code_}]" in err + out


def test_a_bad_uri_given_at_run_is_refused(orch, spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = spec_file("""
        apiVersion: orch/v1
        name: p
        params: {data: {type: artifact}}
        steps:
          a: {command: [cat, "${{ params.data }}"]}
    """)
    code, out, err = orch("run", path, "-p", "data=ftp://host/x")
    assert code == 2 and "E702" in err and "param 'data'" in err


def test_a_local_run_reads_each_steps_own_copy_of_a_file_a_folder_and_an_s3_object(orch, spec_file, tmp_path,
                                                                                     monkeypatch, s3_server):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    (tmp_path / "in.txt").write_text("from a file\n")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "a").write_text("A")
    (tmp_path / "tree" / "sub" / "b").write_text("B")
    import fsspec

    with fsspec.open(f"{s3_server}/params/in.txt", "wb") as handle:  # (the server's own bucket, its credentials)
        handle.write(b"from s3")
    for key, data in (("a", b"sA"), ("sub/b", b"sB")):
        with fsspec.open(f"{s3_server}/params/tree/{key}", "wb") as handle:
            handle.write(data)
    path = spec_file(f"""
        apiVersion: orch/v1
        name: p
        params:
          text: {{type: artifact, default: "file://{tmp_path}/in.txt"}}
          tree: {{type: artifact, default: "{tmp_path}/tree/"}}
          remote: {{type: artifact, default: "{s3_server}/params/in.txt"}}
          remote_tree: {{type: artifact, default: "{s3_server}/params/tree/"}}
        steps:
          shell:
            command: [sh, -c, 'cat "$0" "$1/a" "$1/sub/b" "$2" "$3/a" "$3/sub/b" > $ORCH_OUTPUTS/all; echo changed > "$0"',
                      "${{{{ params.text }}}}", "${{{{ params.tree }}}}", "${{{{ params.remote }}}}",
                      "${{{{ params.remote_tree }}}}"]
            outputs: {{all: string}}
          python:
            python: os.path:getsize
            args: {{filename: "${{{{ params.remote }}}}"}}
            outputs: {{size: integer}}
    """)
    code, out, err = orch("run", path, "--json")
    steps = json.loads(out)["steps"]
    assert code == 0, err
    assert steps["shell"]["outputs"]["all"] == "from a file\nABfrom s3sAsB"
    assert steps["python"]["outputs"]["size"] == len(b"from s3")
    assert (tmp_path / "in.txt").read_text() == "from a file\n"  # the step changed its copy only
    code, out, err = orch("run", path, "--json", "-p", f"remote=file://{tmp_path}/tree/a")
    assert code == 0 and json.loads(out)["steps"]["python"]["outputs"]["size"] == 1


def test_a_uri_with_nothing_there_fails_the_step_as_an_error(orch, spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    path = spec_file(f"""
        apiVersion: orch/v1
        name: p
        params: {{data: {{type: artifact, default: "{tmp_path}/missing"}}, tree: {{type: artifact, default: "{tmp_path}"}}}}
        steps:
          a: {{command: [cat, "${{{{ params.data }}}}"]}}
          b: {{command: [ls, "${{{{ params.tree }}}}"]}}
    """)
    code, out, err = orch("run", path, "--json")
    steps = json.loads(out)["steps"]
    assert code == 1 and "nothing is there" in steps["a"]["error"]
    assert "a URI that names a folder ends in '/'" in steps["b"]["error"]


def test_argo_refuses_to_render_one_located(orch, spec_file, tmp_path):
    path = spec_file("""
        apiVersion: orch/v1
        name: p
        params: {data: {type: artifact, default: "s3://bucket/key"}}
        steps:
          a: {command: [cat, "${{ params.data }}"]}
    """)
    code, out, err = orch("render", path, "-b", "argo", "-o", tmp_path / "out")
    assert code == 2 and "pipeline.yaml:3:" in err and "E833" in err
    from orch.backends.argo.render import render
    from orch.core.errors import SpecError
    from orch.core.load import load_spec

    with pytest.raises(SpecError) as refused:  # the renderer itself, as `orch run -b argo` and deploy call it
        render(load_spec(path))
    assert [(d.code, d.line) for d in refused.value.diagnostics] == [("E833", 3)]


def test_prefect_and_airflow_render_the_fetch(orch, spec_file, tmp_path):
    path = spec_file("""
        apiVersion: orch/v1
        name: p
        params: {data: {type: artifact, default: "s3://bucket/key"}}
        steps:
          a: {command: [cat, "${{ params.data }}"]}
    """)
    for backend, helper in (("prefect", "_gate"), ("airflow", "_step")):
        code, out, err = orch("render", path, "-b", backend, "-o", tmp_path / backend)
        assert code == 0, err
        text = next((tmp_path / backend).glob("*.py")).read_text()
        assert f"_inputs.param({helper}.param('data'), 'data')" in text


def test_a_pod_on_airflows_kubernetes_target_reading_one_is_refused(orch, spec_file, tmp_path):
    path = spec_file("""
        apiVersion: orch/v1
        name: p
        params: {data: {type: artifact, default: "s3://bucket/key"}}
        steps:
          a: {command: [cat, "${{ params.data }}"], image: "busybox:1.36"}
    """)
    code, out, err = orch("render", path, "-b", "airflow", "--target", "kubernetes", "-o", tmp_path / "out")
    assert code == 2 and "error[E815] steps.a.image" in err


def test_steps_in_a_fan_out_group_and_a_finally_step_fetch_their_own_copies(orch, spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    (tmp_path / "in.txt").write_text("hello")
    path = spec_file(f"""
        apiVersion: orch/v1
        name: p
        params: {{data: {{type: artifact, default: "{tmp_path}/in.txt"}}}}
        steps:
          g:
            foreach: [1, 2]
            steps:
              a: {{command: [sh, -c, 'cat "$0" > $ORCH_OUTPUTS/t', "${{{{ params.data }}}}"], outputs: {{t: string}}}}
            outputs: {{t: "${{{{ steps.a.outputs.t }}}}"}}
        finally:
          f: {{command: [sh, -c, 'cat "$DATA" > $ORCH_OUTPUTS/t'], env: {{DATA: "${{{{ params.data }}}}"}}, outputs: {{t: string}}}}
    """)
    code, out, err = orch("run", path, "--json")
    steps = json.loads(out)["steps"]
    assert code == 0, err
    assert steps["g"]["outputs"] == {"t": ["hello", "hello"]} and steps["f"]["outputs"] == {"t": "hello"}
