"""`orch deploy`, `orch run --server` and `orch runs --backend`: what the CLI refuses before any server is asked."""

from __future__ import annotations

import pytest

SPEC = """
apiVersion: orch/v1
name: hello
steps:
  say: {command: [echo, hi]}
"""


@pytest.mark.parametrize("args, message", [
    (["deploy", "{spec}", "-b", "local"], "deploy and --server take prefect, airflow or argo"),
    (["deploy", "{spec}", "-b", "prefect", "--target", "kubernetes"], "--target is Airflow's, not prefect's"),
    (["deploy", "{spec}", "-b", "airflow", "--work-pool", "gpu"], "--work-pool is Prefect's, not airflow's"),
    (["deploy", "{spec}", "-b", "argo", "--dags-folder", "/tmp/dags"], "--dags-folder is Airflow's, not argo's"),
    (["deploy", "{spec}", "-b", "prefect", "--namespace", "ml"], "--namespace is Argo's, not prefect's"),
    (["deploy", "{spec}", "-b", "airflow", "--target", "pods"], "--target takes python or kubernetes"),
    (["deploy", "{spec}", "-b", "airflow", "--artifacts", "s3://"], "--artifacts: the artifact store"),
    (["run", "{spec}", "-b", "local", "--server", "http://127.0.0.1:9"], "deploy and --server take"),
    (["run", "{spec}", "-b", "prefect", "--server", "http://127.0.0.1:9", "--resume", "r1"], "--resume is not for a deployed"),
    (["run", "{spec}", "-b", "airflow", "--deployed", "--artifacts", "/tmp/x"], "--artifacts is not for a deployed"),
    (["run", "-b", "argo", "--deployed"], "give the spec file of the deployed pipeline"),
    (["runs", "list", "-b", "airflow"], "give the deployed pipeline's spec (--spec SPEC)"),
    (["runs", "show", "r1", "-b", "nope", "--spec", "{spec}"], "deploy and --server take prefect, airflow or argo"),
])
def test_refused_before_any_server_is_asked(orch, spec_file, args, message):
    spec = spec_file(SPEC)
    code, out, err = orch(*[arg.format(spec=spec) for arg in args])
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err


def test_a_bad_spec_is_not_deployed(orch, spec_file):
    spec = spec_file(SPEC.replace("command: [echo, hi]", "command: [echo, hi], after: [nowhere]"))
    code, out, err = orch("deploy", spec, "-b", "airflow", "--dags-folder", spec.parent / "dags")
    assert code == 2 and "nowhere" in err and f"{spec}:" in err
    assert not (spec.parent / "dags").exists()
