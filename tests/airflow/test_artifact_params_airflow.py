"""An artifact param on Airflow: each task fetches its own copy, as the local backend does (tests/test_artifact_params.py)."""

from __future__ import annotations

import json

SPEC = """
    apiVersion: orch/v1
    name: fetched
    params:
      text: {{type: artifact, default: "{root}/in.txt"}}
      tree: {{type: artifact, default: "file://{root}/tree/"}}
    steps:
      shell:
        command: [sh, -c, 'cat "$0" "$1/sub/b" > $ORCH_OUTPUTS/all; echo changed > "$0"', "${{{{ params.text }}}}",
                  "${{{{ params.tree }}}}"]
        outputs: {{all: string}}
      python: {{python: os.path:getsize, args: {{filename: "${{{{ params.text }}}}"}}, outputs: {{size: integer}}}}
"""


def write_inputs(root):
    (root / "in.txt").write_text("text\n")
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "tree" / "sub" / "b").write_text("B")


def test_each_task_reads_its_own_fetched_copy(orch, spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    path = spec_file(SPEC.format(root=tmp_path))
    code, out, err = orch("run", path, "--backend", "airflow", "--json", "-p", f"text={tmp_path}/tree/sub/b")
    steps = json.loads(out)["steps"]
    assert code == 0, err
    assert steps["shell"]["outputs"] == {"all": "BB"} and steps["python"]["outputs"] == {"size": 1}
    assert (tmp_path / "tree" / "sub" / "b").read_text() == "B"
