"""Artifacts in the spec: the type, the store's URL, what validation refuses (located, all at once), and
which store a run picks (flag > $ORCH_ARTIFACTS > the spec > a folder under ORCH_HOME)."""

from __future__ import annotations

import pytest

from orch.core.artifacts import choose_store, normalized, store_problem
from orch.core.load import load_spec

BAD = """
apiVersion: orch/v1
name: bad-artifacts
artifacts: {store: "s3://AKIA:secret@bucket/prefix"}
steps:
  make:
    command: [sh, -c, "true"]
    outputs: {data: artifact, log: {type: artifact, from: stdout}}
  use:
    python: m:f
    args: {path: "${{ steps.make.outputs.data }}"}
    when: steps.make.outputs.data != ''
  each:
    python: m:f
    foreach: "${{ steps.make.outputs.data }}"
"""


def test_every_artifact_problem_is_located_at_once(orch, spec_file):
    code, out, err = orch("validate", spec_file(BAD))
    assert code == 2 and "Traceback" not in err
    for where, code_ in (("3:20", "E228"), ("7:59", "E227"), ("11:11", "E604"), ("14:14", "E509")):
        assert f"{where}: error[{code_}]" in err, (code_, err)
    message = next(line for line in err.splitlines() if "E228" in line)
    assert "secret" not in message and "AKIA" not in message  # the message does not repeat a credential
    assert "4 errors found" in err


def test_artifact_is_an_output_type_in_both_forms(spec_file):
    graph = load_spec(spec_file("""
        apiVersion: orch/v1
        name: ok
        artifacts: {store: "s3://bucket/some/prefix/"}
        steps:
          a: {command: [sh, -c, "true"], outputs: {x: artifact, y: {type: artifact}}}
    """))
    assert graph.pipeline.steps["a"].outputs == {"x": "artifact", "y": "artifact"}
    assert graph.pipeline.artifacts.store == "s3://bucket/some/prefix/"


def test_the_schema_offers_artifact(orch):
    code, out, _ = orch("schema")
    assert code == 0 and '"artifact"' in out and '"store"' in out


@pytest.mark.parametrize("store, problem", [
    ("", "cannot be empty"), ("s3://key:secret@bucket/x", "holds credentials"), ("s3://bucket/x?versionId=1", "query"),
    ("s3:///no-bucket", "names no bucket"), ("s3://b/${{ params.p }}", "references"),
])
def test_store_urls_refused(store, problem):
    assert problem in store_problem(store)[0]


@pytest.mark.parametrize("store", ["s3://bucket", "gs://bucket/a/b", "file:///tmp/x", "relative/folder", "/abs/folder"])
def test_store_urls_accepted(store):
    assert store_problem(store) is None


def test_the_store_is_flag_then_env_then_spec_then_a_folder_under_orch_home(tmp_path):
    env = {"ORCH_ARTIFACTS": "s3://from-env/p", "ORCH_HOME": str(tmp_path / "home")}
    assert choose_store("s3://from-flag/p/", "s3://from-spec", env) == ("s3://from-flag/p", "--artifacts")
    assert choose_store(None, "s3://from-spec", env) == ("s3://from-env/p", "$ORCH_ARTIFACTS")
    assert choose_store(None, "s3://from-spec", {"ORCH_HOME": str(tmp_path)}) == ("s3://from-spec", "artifacts.store")
    assert choose_store(None, None, {"ORCH_HOME": str(tmp_path / "home")}) == \
        (f"file://{tmp_path / 'home' / 'artifacts'}", "the default")
    with pytest.raises(ValueError, match="--artifacts: the artifact store"):
        choose_store("s3://a:b@c/d", None, env)


def test_a_folder_store_is_an_absolute_file_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalized("store") == f"file://{tmp_path / 'store'}"
    assert normalized("file://store/") == f"file://{tmp_path / 'store'}"


def test_a_pod_cannot_move_artifacts_on_airflows_kubernetes_target(orch, spec_file, tmp_path):
    path = spec_file("""
        apiVersion: orch/v1
        name: pods
        steps:
          make: {command: [sh, -c, "true"], image: alpine, outputs: {data: artifact}}
          use: {command: [cat, "${{ steps.make.outputs.data }}"], image: alpine}
          fine: {python: m:f, args: {p: "${{ steps.make.outputs.data }}"}}
    """)
    code, _, err = orch("render", path, "-b", "airflow", "--target", "kubernetes", "-o", tmp_path / "out")
    assert code == 2 and err.count("error[E815]") == 2 and "steps.make.outputs.data" in err and "steps.use.image" in err
    assert not (tmp_path / "out").exists()
    assert orch("render", path, "-b", "airflow", "-o", tmp_path / "plain")[0] == 0  # its own tasks move them


def test_argo_takes_no_store_flag_its_cluster_has_a_repository(orch, spec_file):
    path = spec_file("""
        apiVersion: orch/v1
        name: on-argo
        steps:
          a: {command: [sh, -c, "true"], outputs: {x: artifact}}
    """)
    code, _, err = orch("run", path, "-b", "argo", "--artifacts", "s3://bucket/p")
    assert code == 2 and "artifact repository" in err and "Traceback" not in err
