"""On Airflow, artifacts reach the store through Airflow's own ObjectStoragePath and the connection
$ORCH_ARTIFACTS_CONN_ID names: its keys and endpoint, with no AWS_* variable in the environment."""

from __future__ import annotations

import json

import pytest

from ..conftest import S3_SECRET

SPEC = """
apiVersion: orch/v1
name: through-a-connection
steps:
  make: {command: [sh, -c, 'printf "kept" > "$ORCH_OUTPUTS/note"'], outputs: {note: artifact}}
  read: {command: [cat, "${{ steps.make.outputs.note }}"], outputs: {text: {type: string, from: stdout}}}
"""


@pytest.mark.slow
def test_the_connection_holds_the_credentials_and_the_endpoint(orch, spec_file, tmp_path, monkeypatch, s3_server):
    import os

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW_CONN_ORCH_ARTIFACTS_S3", json.dumps({
        "conn_type": "aws", "login": "orch-tests-key", "password": S3_SECRET,
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}))
    monkeypatch.setenv("ORCH_ARTIFACTS_CONN_ID", "orch_artifacts_s3")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    code, out, err = orch("run", spec_file(SPEC), "-b", "airflow", "--json", "--artifacts", f"{s3_server}/conn")
    result = json.loads(out)
    assert code == 0, (result, err[-2000:])
    assert result["steps"]["read"]["outputs"] == {"text": "kept"}
    assert result["steps"]["make"]["outputs"]["note"].startswith(f"{s3_server}/conn/through-a-connection/")
    assert S3_SECRET not in out + err
