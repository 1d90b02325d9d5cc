"""Artifacts on the local backend: the store is checked before any step runs, a resume reuses what
finished steps stored, and no credential reaches the records, the logs or the RunResult."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import S3_SECRET

STEPS = '''
import os
from pathlib import Path

def make():
    Path("made.txt").write_text("made " + str(len(Path("calls").read_text()) if Path("calls").exists() else 0))
    with open("calls", "a") as f:
        f.write("x")
    return "made.txt"

def use(path):
    if not Path("let-it-pass").exists():
        raise RuntimeError("not yet")
    return Path(path).read_text()
'''

SPEC = """
apiVersion: orch/v1
name: reuse
steps:
  make: {python: art_steps:make, outputs: {data: artifact}}
  use: {python: art_steps:use, args: {path: "${{ steps.make.outputs.data }}"}, outputs: {text: string}}
"""


def write_project(tmp_path: Path, spec: str = SPEC) -> Path:
    (tmp_path / "art_steps.py").write_text(STEPS)
    path = tmp_path / "pipeline.yaml"
    path.write_text(spec)
    return path


def test_a_resume_reuses_the_artifacts_finished_steps_stored(orch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    spec = write_project(tmp_path)
    code, out, _ = orch("run", spec, "--json")
    first = json.loads(out)
    assert code == 1 and first["steps"]["use"]["status"] == "failed"
    (tmp_path / "let-it-pass").write_text("")
    code, out, _ = orch("run", spec, "--resume", first["run_id"], "--json")
    again = json.loads(out)
    assert code == 0 and again["steps"]["use"]["outputs"] == {"text": "made 0"}  # made once, read from the store
    assert again["steps"]["make"]["outputs"] == first["steps"]["make"]["outputs"]
    assert (tmp_path / "calls").read_text() == "x"


def test_a_resume_stores_where_its_run_began(orch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    spec = write_project(tmp_path)
    first = json.loads(orch("run", spec, "--json", "--artifacts", str(tmp_path / "chosen"))[1])
    (tmp_path / "let-it-pass").write_text("")
    (tmp_path / "art_steps.py").write_text(STEPS + "\ndef use(path):\n    return Path(path).read_text()\n")
    again = json.loads(orch("run", spec, "--resume", first["run_id"], "--json")[1])
    assert again["status"] == "succeeded" and (tmp_path / "chosen").is_dir()
    assert not (tmp_path / ".orch" / "artifacts").exists()


def test_an_unwritable_store_stops_the_run_before_any_step(orch, tmp_path, monkeypatch, s3_server):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    spec = write_project(tmp_path)
    code, out, err = orch("run", spec, "--artifacts", "s3://no-such-bucket-orch/p")
    assert code == 3 and "s3://no-such-bucket-orch/p cannot be written" in err and "Traceback" not in err
    assert not (tmp_path / "calls").exists()  # no step ran
    assert orch("runs", "list")[1].count("reuse") == 0  # and no run was recorded


def test_flag_env_and_spec_pick_the_store_in_that_order(orch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    (tmp_path / "let-it-pass").write_text("")
    spec = write_project(tmp_path, SPEC.replace("name: reuse", "name: reuse\nartifacts: {store: from-spec}"))

    def store_of(*flags):
        code, out, _ = orch("run", spec, "--json", *flags)
        assert code == 0, out
        return json.loads(out)["steps"]["make"]["outputs"]["data"].split("/reuse/")[0]

    assert store_of() == f"file://{tmp_path / 'from-spec'}"
    monkeypatch.setenv("ORCH_ARTIFACTS", str(tmp_path / "from-env"))
    assert store_of() == f"file://{tmp_path / 'from-env'}"
    assert store_of("--artifacts", str(tmp_path / "from-flag")) == f"file://{tmp_path / 'from-flag'}"


def test_no_credential_reaches_the_records_the_logs_or_the_result(orch, tmp_path, monkeypatch, s3_server):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    (tmp_path / "let-it-pass").write_text("")
    code, out, err = orch("run", write_project(tmp_path), "--json", "--artifacts", f"{s3_server}/secrets")
    assert code == 0 and json.loads(out)["steps"]["make"]["outputs"]["data"].startswith(f"{s3_server}/secrets/reuse/")
    assert S3_SECRET not in out + err
    for path in (tmp_path / ".orch").rglob("*"):
        if path.is_file():
            assert S3_SECRET.encode() not in path.read_bytes(), path


def test_a_python_step_returning_no_path_fails_naming_the_output(orch, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    (tmp_path / "art_steps.py").write_text("def number():\n    return 3\n")
    (tmp_path / "p.yaml").write_text("apiVersion: orch/v1\nname: n\nsteps:\n  s: {python: art_steps:number, outputs: {a: artifact}}\n")
    code, out, _ = orch("run", tmp_path / "p.yaml", "--json")
    error = json.loads(out)["steps"]["s"]["error"]
    assert code == 1 and "output 'a' is int 3, not artifact (the path of the file or folder the step wrote)" in error


def test_the_seed_pipeline_passes_its_data_through_s3(orch, tmp_path, monkeypatch, s3_server):
    from ..conftest import SPECS

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    code, out, _ = orch("run", SPECS / "ml-training.yaml", "--json", "--artifacts", f"{s3_server}/seed")
    steps = json.loads(out)["steps"]
    assert code == 0 and steps["deploy"]["status"] == "succeeded"
    prefix = f"{s3_server}/seed/ml-training-pipeline/{json.loads(out)['run_id']}"
    assert {steps[s]["outputs"][o] for s, o in (("ingest", "dataset"), ("features", "features"), ("train", "model"))} == \
        {f"{prefix}/ingest/dataset", f"{prefix}/features/features", f"{prefix}/train/model"}
    assert Path(steps["deploy"]["outputs"]["deployed_path"]).stat().st_size > 0  # the model, fetched back from S3
