"""The pod-side bootstrap, run here as Argo would run it: payload in, typed outputs out."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orch.backends.argo.script import bootstrap_source

STEPS = Path(__file__).resolve().parent.parent / "conformance" / "steps.py"


def test_the_source_stands_alone():
    source = bootstrap_source()
    ast.parse(source)
    assert "{{" not in source and "}}" not in source
    assert "import orch" not in source and "from orch" not in source


def run(tmp_path, payload: dict, refs: dict[int, str] = (), item: str | None = None):
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    env = {**os.environ, "ORCH_PAYLOAD": json.dumps(payload),
           "ORCH_ARGO_OUTPUTS": str(tmp_path / "out")}
    env.update({f"ORCH_R{i}": text for i, text in dict(refs).items()})
    if item is not None:
        env["ORCH_ITEM"] = item
    done = subprocess.run([sys.executable, "-c", bootstrap_source()], cwd=tmp_path, env=env, capture_output=True, text=True)
    outputs = {p.name: json.loads(p.read_text()) for p in (tmp_path / "out").glob("*")} if (tmp_path / "out").exists() else {}
    return done.returncode, outputs, done.stderr


LITERAL = "{{ ds }} {{workflow.name}} 'q' \"d\" back\\slash\nnaïve"


def test_python_step_with_typed_references(tmp_path):
    payload = {"kind": "python", "python": "conformance_steps:produce", "env": {"X": {"$ref": 1}},
               "args": {"n": {"$ref": 0}, "text": {"$text": ["n=", {"$ref": 0}, " ", {"$ref": 2}]}, "literal": LITERAL,
                        "missing": {"$ref": 3}, "mine": {"$dict": {"$ref": "kept"}}},
               "outputs": {"n": "number", "text": "string", "literal": "string", "missing": "json", "mine": "json"},
               "refs": [{"kind": "param", "type": "number"}, {"kind": "output"}, {"kind": "list"}, {"kind": "output"}]}
    code, outputs, err = run(tmp_path, payload, {0: "2", 1: '{"k": [1]}', 2: '["1.5", "\\"a\\""]', 3: "null"})
    assert code == 0, err
    assert outputs == {"n": 2.0, "text": 'n=2.0 [1.5, "a"]', "literal": LITERAL, "missing": None, "mine": {"$ref": "kept"}}


def test_command_step_outputs_are_checked(tmp_path):
    payload = {"kind": "command", "argv": ["sh", "-c", 'printf "%s\\n" "$1" > "$ORCH_OUTPUTS/word"', "sh", {"$ref": 0}],
               "env": {}, "outputs": {"word": "string"}, "refs": [{"kind": "run"}]}
    assert run(tmp_path, payload, {0: "wf-abc"})[:2] == (0, {"word": "wf-abc"})
    payload["outputs"] = {"word": "integer"}
    (tmp_path / "again").mkdir()
    code, outputs, err = run(tmp_path / "again", payload, {0: "x"})
    assert code == 1 and outputs == {} and "'x' is not an integer" in err


def test_fan_out_items(tmp_path):
    payload = {"kind": "python", "python": "conformance_steps:echo", "args": {"value": {"$ref": 1}}, "env": {},
               "outputs": {"value": "json"}, "refs": [{"kind": "param", "type": "json"}], "foreach": {"$ref": 0}}
    assert run(tmp_path, payload, {0: '[{"c": 1}, {"c": 2}]'}, item="1")[:2] == (0, {"value": {"c": 2}})


def test_an_item_inside_fan_out_groups_is_picked_through_their_lists(tmp_path):
    """ORCH_ITEM holds the indexes, outermost first; each list is filled with the item of the one before it (a
    nested group's list is `${{ item }}`), the step's own list last."""
    payload = {"kind": "python", "python": "conformance_steps:echo", "args": {"value": {"$ref": 1}}, "env": {},
               "outputs": {"value": "json"}, "refs": [{"kind": "param", "type": "json"}],
               "within": [{"$ref": 0}, {"$ref": 1}]}
    assert run(tmp_path, payload, {0: '[[1, 2], [3.0, 4]]'}, item="1,0")[:2] == (0, {"value": 3.0})
    (tmp_path / "bad").mkdir()
    code, _, err = run(tmp_path / "bad", payload, {0: '{"a": 1}'}, item="0,0")
    assert code == 1 and err.startswith("orch: ") and "list" in err


@pytest.mark.parametrize("python, words", [("conformance_steps:fail", "RuntimeError: boom"), ("nope:run", "ModuleNotFoundError")])
def test_failures_exit_non_zero(tmp_path, python, words):
    payload = {"kind": "python", "python": python, "args": {}, "env": {}, "outputs": {}, "refs": []}
    code, _, err = run(tmp_path, payload)
    assert code != 0 and words in err


def test_an_upstream_output_of_the_wrong_type_fails_the_reader_with_orchs_message(tmp_path):
    """What a command step wrote is read by its declared type in the pod that reads it (Argo cannot check it)."""
    import base64

    payload = {"kind": "python", "python": "conformance_steps:produce", "env": {}, "args": {"n": {"$ref": 0}},
               "outputs": {}, "refs": [{"kind": "output", "type": "integer"}]}
    shutil.copy(STEPS, tmp_path / "conformance_steps.py")
    done = subprocess.run([sys.executable, "-c", bootstrap_source(), json.dumps(payload), "v" + base64.b64encode(b"many").decode()],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == "orch: an upstream output is not of its declared type: 'many' is not an integer\n"
