"""Where a step runs, on the local backend: its secrets (from the environment or --secrets, masked in its
log, never in orch's records, progress or RunResult; a missing one fails the attempt before its code runs),
its shipped code (a fresh copy per attempt, its working folder and import path, the one the run began
with on a resume; unchanged code is not uploaded again) and its own packages (a hand-made wheel, offline)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from orch.backends.local.progress import Lines
from orch.backends.local.run import run
from orch.core.load import load_spec

from ..test_pyenv import NAME as PACKAGE
from ..test_pyenv import _offline, make_wheel

HELD_OUT = "HeldOut-9f3k2-Value"  # distinctive, so a test can look for it where it must never be
VAR = "ORCH_SECRET_HF_TOKEN_TOKEN"
SECRET_ENV = "{TOK: {secret: hf-token, key: token}}"

SECRET_STEPS = '''
import hashlib, os, sys, time

def seen():
    value = os.environ["TOK"]
    return {"sha": hashlib.sha256(value.encode()).hexdigest(),
            "others": sorted(k for k in os.environ if k.startswith("ORCH_SECRET_"))}

def loud():
    value = os.environ["TOK"]
    print("whole", value)
    sys.stdout.write("split " + value[:7])
    sys.stdout.flush()
    time.sleep(0.1)
    sys.stdout.write(value[7:] + " end\\n")
    sys.stdout.flush()
    print("stderr", value, file=sys.stderr)
    raise RuntimeError("refused " + value)

def hangs():
    value = os.environ["TOK"]
    sys.stdout.write("before the kill " + value[:4])
    sys.stdout.flush()
    time.sleep(0.1)
    sys.stdout.write(value[4:])
    sys.stdout.flush()
    time.sleep(60)

def marks(marker):
    open(marker, "w").close()
'''


def project(tmp_path: Path, spec: str, module: str = SECRET_STEPS, name: str = "where_steps") -> Path:
    (tmp_path / f"{name}.py").write_text(module)
    path = tmp_path / "pipeline.yaml"
    path.write_text(spec)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", str(tmp_path / ".orch"))
    monkeypatch.delenv(VAR, raising=False)
    return tmp_path / ".orch"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- secrets

SEEN = f"""
apiVersion: orch/v1
name: seen
steps:
  s: {{python: where_steps:seen, env: {SECRET_ENV}, outputs: {{sha: string, others: json}}}}
"""


def test_a_secret_comes_from_the_environment_or_the_given_values_which_win(tmp_path, home, monkeypatch):
    spec = project(tmp_path, SEEN)

    def outputs(**given):
        result = run(load_spec(spec), {}, spec_path=str(spec), home=home, **given)
        assert result.status == "succeeded", result.steps["s"].error
        return result.steps["s"].outputs

    assert outputs(secrets={VAR: "from-the-file-1"})["sha"] == digest("from-the-file-1")
    monkeypatch.setenv(VAR, "from-the-environment")
    monkeypatch.setenv("ORCH_SECRET_OTHER_KEY", "not-this-steps")
    seen = outputs()
    assert seen["sha"] == digest("from-the-environment")
    assert seen["others"] == []  # a step sees the secrets it names, as variables of its own, and no other
    assert outputs(secrets={VAR: "from-the-file-2"})["sha"] == digest("from-the-file-2")


LOUD = f"""
apiVersion: orch/v1
name: loud
steps:
  py: {{python: where_steps:loud, env: {SECRET_ENV}}}
  cmd:
    command: [sh, -c, 'echo "out $TOK"; head -c 3000000 /dev/zero | tr "\\0" x; printf "\\nhalf %s" "$TOK" >&2; exit 3']
    env: {SECRET_ENV}
  slow: {{python: where_steps:hangs, env: {SECRET_ENV}, timeout: 1}}
"""


def test_a_held_out_value_is_masked_in_logs_and_absent_from_all_orch_writes(orch, tmp_path, home):
    spec = project(tmp_path, LOUD)
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"{VAR}={HELD_OUT}\n")
    code, out, err = orch("run", spec, "--json", "--secrets", secrets)
    assert code == 1, err
    result = json.loads(out)
    code, progress_out, progress_err = orch("run", spec, "--secrets", secrets)  # progress lines, this time
    assert code == 1
    assert HELD_OUT not in out + err + progress_out + progress_err
    steps = result["steps"]
    assert steps["py"]["error"] == "RuntimeError: refused ***"
    assert steps["cmd"]["error"] == "exited with status 3: half ***"  # the log's last line, masked in it
    assert steps["slow"]["error"] == "timed out after 1s"
    run_dir = home / "runs" / result["run_id"]
    logs = {name: (run_dir / name / "attempt-1.log").read_text() for name in steps}
    assert "whole ***\n" in logs["py"] and "split *** end\n" in logs["py"] and "stderr ***\n" in logs["py"]
    assert "RuntimeError: refused ***" in logs["py"]  # the traceback, through the same writer
    assert logs["cmd"] == "out ***\n" + "x" * 3_000_000 + "\nhalf ***"  # 3 MB through the writer, whole
    assert logs["slow"] == "before the kill ***"  # killed by its timeout: nothing it wrote is lost
    files = [path for path in home.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in files) and len(files) > 6
    for path in files:  # the state database (and its journal), logs, results, pid files
        assert HELD_OUT.encode() not in path.read_bytes(), path


MISSING = f"""
apiVersion: orch/v1
name: missing
steps:
  s:
    python: where_steps:marks
    args: {{marker: "{{marker}}"}}
    env: {SECRET_ENV}
    retries: {{limit: 1, delay: 0}}
  after: {{command: [true], after: [s]}}
"""


def test_a_missing_secret_fails_the_attempt_before_its_code_runs(tmp_path, home):
    marker = tmp_path / "ran"
    spec = project(tmp_path, MISSING.replace("{marker}", str(marker)))
    result = run(load_spec(spec), {}, spec_path=str(spec), home=home, secrets={"ORCH_SECRET_OTHER_TOKEN": "x" * 8})
    step = result.steps["s"]
    assert step.status == "failed" and step.attempts == 2  # retried as any failure
    assert step.error.startswith("secret 'hf-token' (key 'token') is not set: set ORCH_SECRET_HF_TOKEN_TOKEN")
    assert result.steps["after"].status == "upstream_failed"
    assert not marker.exists()  # the step's code never ran
    assert (home / "runs" / result.run_id / "s" / "attempt-2.log").read_text().startswith("secret 'hf-token'")


# --- shipped code

SHIP = """
apiVersion: orch/v1
name: shipped
code: {ship: true}
defaults: {env: {FLAG: "{flag}"}}
steps:
  py: {python: "shipme.work:where", outputs: {version: string, cwd: string, module: string}}
  cmd:
    command: [python, -m, shipme.cmd]
    outputs: {cwd: string}
"""

WORK = '''
import os
from . import VERSION

def where():
    if not os.path.exists(os.environ["FLAG"]):
        raise RuntimeError("not yet")
    return {"version": VERSION, "cwd": os.getcwd(), "module": __file__}
'''

CMD = '''
import os, shipme
open(os.path.join(os.environ["ORCH_OUTPUTS"], "cwd"), "w").write(os.getcwd() + "|" + shipme.__file__)
'''


def write_shipped(folder: Path, flag: Path, version: str) -> Path:
    (folder / "shipme").mkdir(parents=True, exist_ok=True)
    (folder / "shipme" / "__init__.py").write_text(f"VERSION = {version!r}\n")
    (folder / "shipme" / "work.py").write_text(WORK)
    (folder / "shipme" / "cmd.py").write_text(CMD)
    spec = folder / "pipeline.yaml"
    spec.write_text(SHIP.replace("{flag}", str(flag)))
    return spec


def test_shipped_code_is_each_attempts_folder_and_a_resume_uses_the_code_it_began_with(tmp_path, home, s3_server):
    flag = tmp_path / "flag"
    spec = write_shipped(tmp_path / "proj", flag, "v1")
    store = f"{s3_server}/ship-{tmp_path.name}"

    def go(path: Path, **more):
        said = io.StringIO()
        result = run(load_spec(path), {}, spec_path=str(path), home=home, artifacts=store, progress=Lines(said), **more)
        return result, said.getvalue()

    first, said = go(spec)
    assert first.steps["py"].status == "failed" and "not yet" in first.steps["py"].error
    assert "code: uploaded to " + store + "/code/" in said
    command = first.steps["cmd"].outputs["cwd"]
    cwd, module = command.split("|")
    run_dir = home / "runs" / first.run_id
    assert cwd == str(run_dir / "cmd" / "attempt-1.code") and module == f"{cwd}/shipme/__init__.py"
    assert not Path(cwd).exists()  # removed once the attempt ended
    recorded = json.loads((run_dir / "code.json").read_text())
    assert recorded["uri"] == f"{store}/code/{recorded['sha256']}.tar.gz"

    moved = tmp_path / "moved"
    shutil.move(tmp_path / "proj", moved)
    (moved / "shipme" / "__init__.py").write_text("VERSION = 'v2'\n")  # the folder the spec is in now: not used
    flag.write_text("")
    again, said = go(moved / "pipeline.yaml", resume=first.run_id)
    assert again.status == "succeeded", again.steps["py"].error
    outputs = again.steps["py"].outputs
    assert outputs["version"] == "v1" and "code:" not in said  # the code the run began with, nothing packed
    assert outputs["cwd"] == str(run_dir / "py" / "attempt-2.code")
    assert outputs["module"] == f"{outputs['cwd']}/shipme/work.py"

    (moved / "shipme" / "__init__.py").write_text("VERSION = 'v1'\n")  # the first run's code again
    third, said = go(moved / "pipeline.yaml")
    assert third.status == "succeeded" and third.steps["py"].outputs["version"] == "v1"
    assert f"code: already in {recorded['uri']}" in said  # unchanged code: nothing uploaded


# --- packages

PACKAGES = """
apiVersion: orch/v1
name: packaged
steps:
  py: {python: "pkg_steps:version", packages: ["{requirement}"], outputs: {version: string, module: string}}
  cmd:
    command: [python, -c, "import orchtestpkg, sys; print(orchtestpkg.VERSION, sys.prefix)"]
    packages: ["{requirement}"]
    outputs: {printed: {type: string, from: stdout}}
    after: [py]
  bare: {python: "pkg_steps:version", outputs: {version: string, module: string}, after: [py]}
"""

PKG_STEPS = '''
def version():
    try:
        import orchtestpkg
    except ImportError:
        return {"version": "none", "module": ""}
    return {"version": orchtestpkg.VERSION, "module": orchtestpkg.__file__}
'''


def test_a_steps_packages_are_importable_by_a_python_step_and_a_command(tmp_path, home, monkeypatch):
    _offline(monkeypatch)
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    wheel = make_wheel(tmp_path)
    requirement = f"{PACKAGE} @ {wheel.as_uri()}"
    spec = project(tmp_path, PACKAGES.replace("{requirement}", requirement), PKG_STEPS, "pkg_steps")
    result = run(load_spec(spec), {}, spec_path=str(spec), home=home)
    assert result.status == "succeeded", {n: s.error for n, s in result.steps.items()}
    envs = tmp_path / "cache" / "envs"
    assert result.steps["py"].outputs["version"] == "1.0"
    assert result.steps["py"].outputs["module"].startswith(str(envs))
    version, prefix = result.steps["cmd"].outputs["printed"].split()
    assert version == "1.0" and prefix.startswith(str(envs))  # the env's python, first on PATH
    assert result.steps["bare"].outputs["version"] == "none"  # a step without packages: the base only
    log = (home / "runs" / result.run_id / "py" / "attempt-1.log").read_text()
    assert "Successfully installed orchtestpkg-1.0" in log  # built inside the attempt, its output in its log
    assert len(list(envs.iterdir())) == 1  # one env for the one requirement set


# --- pod settings


def test_pod_settings_are_said_once_to_mean_nothing_here_and_the_image_not_at_all(tmp_path, home):
    spec = project(tmp_path, """
apiVersion: orch/v1
name: pods
defaults: {image: "python:3.12-slim", kubernetes: {labels: {team: ml}}}
steps:
  a: {command: [true], kubernetes: {node_selector: {gpu: a100}, labels: {team: ml}}}
  b: {command: [true]}
""")
    said = io.StringIO()
    result = run(load_spec(spec), {}, spec_path=str(spec), home=home, progress=Lines(said))
    assert result.status == "succeeded"
    notes = [line for line in said.getvalue().splitlines() if "no meaning for a local run" in line]
    assert len(notes) == 1, said.getvalue()
    assert "kubernetes.node_selector, kubernetes.labels have no meaning" in notes[0]
    assert notes[0].endswith("(set on a, b)") and "image" not in notes[0]  # images: what a local run is for


def test_shipped_code_runs_with_orchs_home_given_relative(tmp_path, monkeypatch):
    """The default ORCH_HOME is `.orch`, relative: an attempt works in its code's folder, and orch's files for it
    (log, result, outputs) must still be found."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCH_HOME", ".orch")
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "relmod.py").write_text("def answer():\n    return 42\n")
    spec = tmp_path / "pipeline.yaml"
    spec.write_text("apiVersion: orch/v1\nname: relative-home\ncode: {ship: true}\nsteps:\n"
                    "  py: {python: 'relmod:answer', outputs: {n: integer}}\n"
                    "  cmd: {command: [sh, -c, 'echo 7 > $ORCH_OUTPUTS/m'], outputs: {m: integer}}\n")
    result = run(load_spec(spec), {}, spec_path="pipeline.yaml")
    assert result.status == "succeeded", {n: s.error for n, s in result.steps.items()}
    assert result.steps["py"].outputs == {"n": 42} and result.steps["cmd"].outputs == {"m": 7}


def test_a_missing_secret_points_out_a_variable_named_like_it_without_the_prefix(tmp_path, home):
    spec = project(tmp_path, "apiVersion: orch/v1\nname: near\nsteps:\n"
                             "  a: {command: [echo], env: {T: {secret: api-creds, key: token}}}\n")
    result = run(load_spec(spec), {}, spec_path=str(spec), home=home, secrets={"API_CREDS_TOKEN": "abcd1234"})
    assert result.steps["a"].error == ("secret 'api-creds' (key 'token') is not set: set ORCH_SECRET_API_CREDS_TOKEN or "
                                       "give it in the file named by --secrets (API_CREDS_TOKEN is set: a local run "
                                       "reads ORCH_SECRET_API_CREDS_TOKEN)")
