"""`orch import argo` of input artifacts located in a store (s3, gcs, azure, http) and of workflow artifact
arguments: artifact params whose default is the location's URI, copied to the artifact's path before the command
-- Argo's own examples, and a real local run of one against the tests' S3 server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from orch.backends.argo.importer import import_
from orch.core.fidelity import APPROXIMATED, UNSUPPORTED
from orch.core.load import parse_spec

EXAMPLES = Path("/tmp/argo-examples/examples")
needs_examples = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="Argo's examples are not unpacked here")

# example -> (param, its default URI)
STORED = {
    "input-artifact-s3.yaml": ("my-art", "s3://my-bucket-name/path/in/bucket"),
    "input-artifact-gcs.yaml": ("my-art", "gs://my-bucket-name/path/in/bucket"),
    "input-artifact-azure.yaml": ("my-art", "az://my-container/path/in/container"),
    "input-artifact-http.yaml": ("kubectl", "https://storage.googleapis.com/kubernetes-release/release/v1.8.0/bin/linux/amd64/kubectl"),
    "arguments-artifacts.yaml": ("kubectl", "https://storage.googleapis.com/kubernetes-release/release/v1.8.0/bin/linux/amd64/kubectl"),
    "workflow-template/input-artifacts.yaml": ("input-file", "s3://your-bucket-name/input-file/upload.zip"),
}


@needs_examples
@pytest.mark.parametrize("example", sorted(STORED))
def test_an_example_imports_clean_to_an_artifact_param(example):
    [imported] = import_(EXAMPLES / example)
    report = imported.report
    assert [e.path for e in report.entries if e.status == UNSUPPORTED] == []
    assert report.behaviour.checked
    spec = yaml.safe_load(imported.text)
    name, uri = STORED[example]
    assert spec["params"][name] == {"type": "artifact", "default": uri}
    [step] = spec["steps"].values()
    assert "${{ params.%s }}" % name in step["command"][2]
    parse_spec(imported.text)  # it validates
    approximated = {e.path: e.note for e in report.entries if e.status == APPROXIMATED}
    assert any("isTarball" in note for note in approximated.values()), "Argo's unpacking is said"


@needs_examples
def test_a_mode_is_chmod_ed_and_a_raw_argument_is_written():
    [http] = import_(EXAMPLES / "input-artifact-http.yaml")
    assert "chmod 755 '/bin/kubectl'" in yaml.safe_load(http.text)["steps"]["http-artifact-example"]["command"][2]
    [raw] = import_(EXAMPLES / "artifact-path-placeholders.yaml")
    assert not [e for e in raw.report.entries if e.status == UNSUPPORTED]
    assert "printf %s '1\n2\n3\n4\n5\n' > '/inputs/text/data'" in yaml.safe_load(raw.text)["steps"]["head-lines"]["command"][2]


@needs_examples
@pytest.mark.parametrize("example, why", [
    ("input-artifact-git.yaml", "no fsspec client for it is installed"),
    ("input-artifact-oss.yaml", "no fsspec client for it is installed"),
    ("map-reduce.yaml", "default artifact repository"),
])
def test_what_orch_cannot_fetch_stays_unsupported(example, why):
    [imported] = import_(EXAMPLES / example)
    assert any(why in e.note for e in imported.report.entries if e.status == UNSUPPORTED)


@needs_examples
def test_a_key_only_input_one_upstream_task_stores_is_read_as_its_output():
    [imported] = import_(EXAMPLES / "key-only-artifact.yaml")
    assert not [e for e in imported.report.entries if e.status == UNSUPPORTED] and imported.report.behaviour.checked
    [entry] = [e for e in imported.report.entries if e.path == "spec.templates[2].inputs.artifacts[0]"]
    assert entry.status == APPROXIMATED and "never read" in entry.note
    consume = yaml.safe_load(imported.text)["steps"]["consume"]
    assert "cp -r '${{ steps.generate.outputs.file }}' '/tmp/file'" in consume["command"][2]


WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: fetch-}
spec:
  entrypoint: main
  arguments:
    artifacts:
    - name: tool
      s3: {endpoint: "ENDPOINT", insecure: true, bucket: orch-tests, key: imported/tool.sh,
           accessKeySecret: {name: creds, key: a}, secretKeySecret: {name: creds, key: s}}
  templates:
  - name: main
    inputs:
      artifacts:
      - {name: tool, path: "ROOT/bin/tool", mode: 0755}
      - name: notes
        path: ROOT/notes.txt
        archive: {none: {}}
        s3: {endpoint: "ENDPOINT", bucket: orch-tests, key: imported/notes.txt}
    outputs:
      parameters:
      - {name: said, valueFrom: {path: ROOT/said}}
    container:
      image: busybox
      command: [sh, -c]
      args: ["ROOT/bin/tool > ROOT/said && cat ROOT/notes.txt >> ROOT/said"]
"""


def test_an_imported_workflow_fetches_from_s3_and_runs_locally(orch, tmp_path, monkeypatch, s3_server):
    import os

    import fsspec

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    for key, data in (("tool.sh", b"#!/bin/sh\nprintf 'tool ran;'\n"), ("notes.txt", b"notes")):
        with fsspec.open(f"{s3_server}/imported/{key}", "wb") as handle:
            handle.write(data)
    source = tmp_path / "workflow.yaml"
    source.write_text(WORKFLOW.replace("ENDPOINT", os.environ["AWS_ENDPOINT_URL"]).replace("ROOT", str(tmp_path / "pod")))
    code, out, err = orch("import", "argo", source, "-o", tmp_path / "spec.yaml")
    assert code == 1 and "0 unsupported" in out + err  # 1: approximated (the credentials, the endpoint)
    spec = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    assert spec["params"] == {"tool": {"type": "artifact", "default": "s3://orch-tests/imported/tool.sh"},
                              "notes": {"type": "artifact", "default": "s3://orch-tests/imported/notes.txt"}}
    code, out, err = orch("run", tmp_path / "spec.yaml", "--json")
    assert code == 0, err
    assert json.loads(out)["steps"]["main"]["outputs"] == {"said": "tool ran;notes"}
