"""Artifacts on Argo: the render (key-only S3 outputs, inputs `from` the producer's task, optional where
the trigger lets a step run without its producer, across nested chunks), and a run through the fake
server whose executor moves the bytes as Argo's does (fake_executor.py)."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from orch.backends.argo.render import workflow_spec
from orch.core import parse_spec

from .fake_executor import Executor
from .fake_server import REPOSITORY_BUCKET, FakeArgo
from .test_render import check, validator  # noqa: F401 (a fixture)

STEPS = textwrap.dedent('''
    import os

    def make_file():
        with open("report.bin", "wb") as handle:
            handle.write(b"\\x00\\xffbytes\\r\\n")
        return os.path.abspath("report.bin")

    def describe(report, tree):
        found = {}
        for top, folders, files in os.walk(tree):
            for name in folders + files:
                path = os.path.join(top, name)
                found[os.path.relpath(path, tree)] = "dir" if os.path.isdir(path) else open(path, "rb").read().hex()
        return {"report": open(report, "rb").read().hex(), "tree": found}

    def seen(report):
        return report is None

    def part(x):
        os.makedirs("parts", exist_ok=True)
        path = os.path.join("parts", x)
        with open(path, "w") as handle:
            handle.write(x * 3)
        return path

    def lost():
        return "/nowhere/at/all"

    def _listing(path):
        if os.path.isfile(path):
            return open(path).read()
        return {name: "dir" if os.path.isdir(os.path.join(path, name)) else open(os.path.join(path, name)).read()
                for name in sorted(os.listdir(path))}

    def listed(files, trees, empty):
        return {"files": None if files is None else [[p, _listing(p)] for p in files],
                "trees": [[p, _listing(p)] for p in trees], "empty": empty}
''')

SPEC = {
    "apiVersion": "orch/v1", "name": "arts", "artifacts": {"store": "s3://team-bucket/ml/runs"},
    "steps": {
        "make_file": {"python": "art_steps:make_file", "outputs": {"report": "artifact"}},
        "make-dir": {"command": ["sh", "-c", 'd="$ORCH_OUTPUTS/tree"; mkdir -p "$d/sub/empty" && printf "ü" > "$d/naïve ü.txt" '
                                             '&& : > "$d/sub/empty.txt"'], "outputs": {"tree": "artifact"}},
        "read-py": {"python": "art_steps:describe", "outputs": {"listing": "json"},
                    "args": {"report": "${{ steps.make_file.outputs.report }}", "tree": "${{ steps.make-dir.outputs.tree }}"}},
        "read-cmd": {"command": ["sh", "-c", 'cp "$1" "$ORCH_OUTPUTS/copy" && ls "$2" > "$ORCH_OUTPUTS/names"', "sh",
                                 "${{ steps.make_file.outputs.report }}", "${{ steps.make-dir.outputs.tree }}"],
                     "outputs": {"copy": "artifact", "names": "string"}},
        "maybe": {"python": "art_steps:make_file", "when": "1 == 2", "outputs": {"report": "artifact"}},
        "join": {"python": "art_steps:seen", "trigger": "none_failed", "outputs": {"none": "boolean"},
                 "args": {"report": "${{ steps.maybe.outputs.report }}"}},
        "join-cmd": {"command": ["sh", "-c", 'printf "[%s]" "$1" > "$ORCH_OUTPUTS/text"', "sh", "${{ steps.maybe.outputs.report }}"],
                     "trigger": "none_failed", "outputs": {"text": "string"}},
        "fan": {"python": "art_steps:part", "foreach": ["a", "b"], "args": {"x": "${{ item }}"}, "outputs": {"part": "artifact"}},
        "lost": {"python": "art_steps:lost", "outputs": {"gone": "artifact"}},
    },
}


def graph(spec: dict):
    return parse_spec(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))


def test_the_render_wires_key_only_artifacts(validator):
    (document,) = check(graph(SPEC), validator)
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    tasks = {t["name"]: t for t in templates["Main"]["dag"]["tasks"]}
    assert templates["make-file"]["outputs"] == {"artifacts": [
        {"name": "report", "path": "/tmp/orch/outputs/report", "s3": {"key": "ml/runs/arts/{{workflow.name}}/make_file/report"}}]}
    assert templates["fan"]["outputs"]["artifacts"][0]["s3"] == {
        "key": "ml/runs/arts/{{workflow.name}}/fan/part/{{inputs.parameters.item}}"}
    assert templates["read-py"]["inputs"]["artifacts"] == [
        {"name": "make-file_report", "path": "/tmp/orch/inputs/make-file_report"},
        {"name": "make-dir_tree", "path": "/tmp/orch/inputs/make-dir_tree"}]
    assert tasks["read-py"]["arguments"]["artifacts"] == [
        {"from": "{{tasks.make-file.outputs.artifacts.report}}", "name": "make-file_report"},
        {"from": "{{tasks.make-dir.outputs.artifacts.tree}}", "name": "make-dir_tree"}]
    assert templates["read-cmd"]["container"]["args"][-2:] == ["/tmp/orch/inputs/make-file_report", "/tmp/orch/inputs/make-dir_tree"]
    assert tasks["join"]["arguments"]["artifacts"] == [
        {"from": "{{tasks.maybe.outputs.artifacts.report}}", "name": "maybe_report", "optional": True}]
    assert templates["join"]["inputs"]["artifacts"][0]["optional"] is True
    assert templates["join-cmd"]["container"]["args"][-1] == '{{=fromBase64(inputs.parameters["maybe_report"])}}'
    assert {p["name"]: p["value"] for p in tasks["join-cmd"]["arguments"]["parameters"]} == {  # '' for an absent one
        "maybe_report": '{{=tasks["maybe"].status == "Succeeded" ? toBase64("/tmp/orch/inputs/maybe_report") : ""}}'}
    assert "parameters" not in templates["make-dir"]["outputs"]  # an artifact is no output parameter
    wiring = {**document, "metadata": {k: v for k, v in document["metadata"].items() if k != "annotations"}}
    assert "bucket" not in json.dumps(wiring)  # the artifact repository decides (the embedded spec keeps its store)


def _chain(n: int) -> dict:
    return {f"s{i}": {"python": "m:f", **({"after": [f"s{i - 1}"]} if i else {})} for i in range(n)}


def _nested(steps: dict, validator) -> dict:
    """The steps rendered in chunks of 4, schema-valid and lint-clean: the templates by name."""
    from .argo_lint import lint

    spec = workflow_spec(graph({"apiVersion": "orch/v1", "name": "p", "steps": steps}), chunk_size=4)
    document = {"kind": "Workflow", "metadata": {"generateName": "p-"},
                "spec": spec.model_dump(by_alias=True, exclude_none=True, mode="json")}
    assert not list(validator.iter_errors(document)) and lint(document) == []
    return {t["name"]: t for t in document["spec"]["templates"]}


def test_artifacts_cross_nested_chunks_and_shared_templates(validator):
    steps = _chain(6)
    steps["s0"]["outputs"] = {"model": "artifact"}
    steps["s5"].update(args={"model": "${{ steps.s0.outputs.model }}"}, trigger="all_done")
    templates = _nested(steps, validator)
    main = {t["name"]: t for t in templates["Main"]["dag"]["tasks"]}
    assert templates["chunk-1"]["outputs"]["artifacts"] == [
        {"from": "{{tasks.s0.outputs.artifacts.model}}", "name": "s0__model", "optional": True}]
    last = next(n for n, t in templates.items() if n.startswith("chunk-") and any(x["name"] == "s5" for x in t["dag"]["tasks"]))
    assert main[last]["arguments"]["artifacts"] == [
        {"from": "{{tasks.chunk-1.outputs.artifacts.s0__model}}", "name": "s0__model", "optional": True}]
    assert templates[last]["inputs"]["artifacts"] == [{"name": "s0__model", "optional": True}]
    task = next(t for t in templates[last]["dag"]["tasks"] if t["name"] == "s5")
    assert task["arguments"]["artifacts"] == [{"from": "{{inputs.artifacts.s0__model}}", "name": "s0_model", "optional": True}]


def test_a_throttled_fan_out_passes_its_artifacts_into_its_wrapper(validator):
    steps = {"a": {"python": "m:f", "outputs": {"model": "artifact"}},
             "b": {"python": "m:g", "foreach": [1, 2, 3], "parallelism": 2, "args": {"m": "${{ steps.a.outputs.model }}"}}}
    (document,) = check(graph({"apiVersion": "orch/v1", "name": "p", "steps": steps}), validator)
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    assert templates["Fan-b"]["inputs"] == {"artifacts": [{"name": "a_model"}]}
    (inner,) = templates["Fan-b"]["dag"]["tasks"]
    assert inner["arguments"]["artifacts"] == [{"from": "{{inputs.artifacts.a_model}}", "name": "a_model"}]


LISTS = {
    "apiVersion": "orch/v1", "name": "lists",
    "steps": {
        "parts": {"python": "art_steps:part", "foreach": ["a", "b", "c"], "args": {"x": "${{ item }}"},
                  "outputs": {"part": "artifact"}},
        "trees": {"foreach": ["x", "y"], "outputs": {"tree": "artifact"},
                  "command": ["sh", "-c", 'mkdir -p "$ORCH_OUTPUTS/tree/empty" && printf "%s" "$0" > "$ORCH_OUTPUTS/tree/f"',
                              "${{ item }}"]},
        "none": {"python": "art_steps:part", "foreach": [], "args": {"x": "${{ item }}"}, "outputs": {"part": "artifact"}},
        "never": {"python": "art_steps:part", "foreach": ["a"], "when": "1 == 2", "args": {"x": "${{ item }}"},
                  "outputs": {"part": "artifact"}},
        "read-py": {"python": "art_steps:listed", "outputs": {"seen": "json"},
                    "args": {"files": "${{ steps.parts.outputs.part }}", "trees": "${{ steps.trees.outputs.tree }}",
                             "empty": "${{ steps.none.outputs.part }}"}},
        "read-cmd": {"command": ["sh", "-c", 'printf "%s|" "$0" > "$ORCH_OUTPUTS/said" && cat "$1"/* >> "$ORCH_OUTPUTS/said"',
                                 "${{ steps.parts.outputs.part }}", "/tmp/orch/inputs/parts_part"],
                     "outputs": {"said": "string"}},
        "read-trees": {"command": ["sh", "-c", 'for d in "$1"/*; do ls -A "$d"; cat "$d/f"; done > "$ORCH_OUTPUTS/said"',
                                   "${{ steps.trees.outputs.tree }}", "/tmp/orch/inputs/trees_tree"], "outputs": {"said": "string"}},
        "each-cmd": {"foreach": ["p", "q"], "outputs": {"said": "string"},
                     "command": ["sh", "-c", 'ls "$1" > "$ORCH_OUTPUTS/said" && printf "%s" "$0" >> "$ORCH_OUTPUTS/said"',
                                 "${{ item }}", "/tmp/orch/inputs/trees_tree", "${{ steps.trees.outputs.tree }}"]},
        "tolerant": {"python": "art_steps:listed", "trigger": "none_failed", "outputs": {"seen": "json"},
                     "args": {"files": "${{ steps.never.outputs.part }}", "trees": [], "empty": "${{ steps.none.outputs.part }}"}},
        "tolerant-cmd": {"command": ["sh", "-c", 'printf "[%s]" "$0" > "$ORCH_OUTPUTS/said"', "${{ steps.never.outputs.part }}"],
                         "trigger": "none_failed", "outputs": {"said": "string"}},
    },
}


def test_a_fan_outs_artifacts_are_read_from_its_items_prefix(validator):
    (document,) = check(graph(LISTS), validator)
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    tasks = {t["name"]: t for t in templates["Main"]["dag"]["tasks"]}
    assert templates["read-py"]["inputs"]["artifacts"][0] == {
        "name": "parts_part", "optional": True, "path": "/tmp/orch/inputs/parts_part", "s3": {"key": "lists/{{workflow.name}}/parts/part"}}
    assert "artifacts" not in tasks["read-py"]["arguments"]  # the template holds the location
    assert {p["name"]: p["value"] for p in tasks["read-py"]["arguments"]["parameters"]}["parts_part"] == (
        '{{=tasks["parts"].status in ["Succeeded", "Skipped"] ? "3" : ""}}')
    assert templates["read-cmd"]["container"]["command"][0] == "python3"  # through the runner, which unpacks the items
    assert templates["trees"]["container"]["command"][0] == "python3"  # its keys end in the item's index


def test_a_fan_outs_artifacts_over_a_run_time_list_count_its_items(validator):
    steps = {"list": {"python": "m:items", "outputs": {"xs": "json"}},
             "fan": {"python": "m:f", "foreach": "${{ steps.list.outputs.xs }}", "outputs": {"part": "artifact"}},
             "by-param": {"python": "m:f", "foreach": "${{ params.xs }}", "outputs": {"part": "artifact"}},
             "use": {"python": "m:g", "args": {"a": "${{ steps.fan.outputs.part }}", "b": "${{ steps.by-param.outputs.part }}"}}}
    spec = {"apiVersion": "orch/v1", "name": "p", "params": {"xs": {"type": "json", "default": [1]}}, "steps": steps}
    (document,) = check(graph(spec), validator)
    (use,) = [t for t in document["spec"]["templates"][0]["dag"]["tasks"] if t["name"] == "use"]
    assert {p["name"]: p["value"] for p in use["arguments"]["parameters"]} == {
        "fan_part": '{{=tasks["fan"].status in ["Succeeded", "Skipped"] ? '
                    'string(len(fromJSON(tasks["list"].outputs.parameters["xs"]))) : ""}}',
        "by-param_part": '{{=tasks["by-param"].status in ["Succeeded", "Skipped"] ? '
                         'string(len(fromJSON(workflow.parameters["xs"]))) : ""}}'}


def test_a_fan_outs_artifacts_cross_nested_chunks(validator):
    """No artifact crosses: the consumer's template reads the items' prefix; its chunk imports the fan-out's status and
    the output it counts the items from."""
    steps = _chain(6)
    steps["s0"]["outputs"] = {"xs": "json"}
    steps["s1"].update(foreach="${{ steps.s0.outputs.xs }}", outputs={"part": "artifact"})
    steps["s5"].update(args={"parts": "${{ steps.s1.outputs.part }}"}, trigger="all_done")
    templates = _nested(steps, validator)
    last = next(n for n, t in templates.items() if n.startswith("chunk-") and any(x["name"] == "s5" for x in t["dag"]["tasks"]))
    assert "artifacts" not in templates[last].get("inputs", {}) and "artifacts" not in templates["chunk-1"]["outputs"]
    assert {p["name"] for p in templates[last]["inputs"]["parameters"]} >= {"s1___status", "s0__xs"}
    task = next(t for t in templates[last]["dag"]["tasks"] if t["name"] == "s5")
    assert "artifacts" not in task["arguments"]
    assert {p["name"]: p["value"] for p in task["arguments"]["parameters"]}["r0"] == (
        '{{=inputs.parameters["s1___status"] in ["Succeeded", "Skipped"] ? '
        'string(len(fromJSON(inputs.parameters["s0__xs"]))) : ""}}')
    reads = templates[task["template"]]["inputs"]["artifacts"]
    assert reads == [{"name": "s1_part", "optional": True, "path": "/tmp/orch/inputs/s1_part", "s3": {"key": "p/{{workflow.name}}/s1/part"}}]


def _run(spec: dict, tmp_path, monkeypatch):
    """The backend's run (the CLI's capability check is not the backend's) through the fake server and executor."""
    import orch.backends.argo.run as client

    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "art_steps.py").write_text(STEPS)
    monkeypatch.chdir(code_dir)
    monkeypatch.setattr(client.time, "sleep", lambda seconds: None)
    executor = Executor(tmp_path / "cluster", code_dir)
    with FakeArgo(lambda name, task: {"phase": "Succeeded"}, executor=executor) as server:
        monkeypatch.setenv("ARGO_SERVER", server.url)
        monkeypatch.setenv("ARGO_SECURE", "false")
        return client.run(graph(spec), {}), executor


def test_a_run_hands_a_fan_outs_artifacts_as_a_list_of_paths(tmp_path, monkeypatch):
    result, executor = _run(LISTS, tmp_path, monkeypatch)
    steps = {name: step for name, step in result.steps.items()}
    inputs = tmp_path / "cluster" / "pods"
    assert steps["read-py"].outputs["seen"] == {
        "files": [[f"{inputs}/read-py/inputs/parts_part/{i}", x * 3] for i, x in enumerate("abc")],
        "trees": [[f"{inputs}/read-py/inputs/trees_tree/{i}", {"empty": "dir", "f": x}] for i, x in enumerate("xy")],
        "empty": []}, executor.logs
    folder = f"{inputs}/read-cmd/inputs/parts_part"
    assert steps["read-cmd"].outputs["said"] == json.dumps([f"{folder}/0", f"{folder}/1", f"{folder}/2"]) + "|aaabbbccc"
    assert steps["read-trees"].outputs["said"] == "empty\nf\nxempty\nf\ny"
    assert steps["each-cmd"].outputs["said"] == ["0\n1\np", "0\n1\nq"]  # a literal list, its items picked by the runner
    assert steps["never"].status == "skipped"
    assert steps["tolerant"].outputs["seen"] == {"files": None, "trees": [], "empty": []}
    assert steps["tolerant-cmd"].outputs["said"] == "[]"
    assert result.status == "succeeded"


def test_the_runner_refuses_objects_that_are_not_the_fan_outs_items(tmp_path):
    import io
    import os
    import subprocess
    import sys
    import tarfile

    from orch.backends.argo.script import bootstrap_source

    (tmp_path / "art_steps.py").write_text(STEPS)
    folder = tmp_path / "inputs" / "f_part"
    folder.mkdir(parents=True)
    for index in ("0", "1", "2"):  # a stale third item
        with tarfile.open(folder / index, "w:gz") as tar:
            info = tarfile.TarInfo(f"part{index}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    payload = {"kind": "python", "python": "art_steps:listed", "env": {}, "outputs": {"seen": "json"},
               "args": {"files": {"$ref": 0}, "trees": [], "empty": []}, "refs": [{"kind": "artifacts", "input": "f_part"}]}
    done = subprocess.run([sys.executable, "-c", bootstrap_source()], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "ORCH_PAYLOAD": json.dumps(payload), "ORCH_ARGO_INPUTS": str(tmp_path / "inputs"),
                               "ORCH_ARGO_OUTPUTS": str(tmp_path / "out"), "ORCH_R0": "2"})
    assert done.returncode == 1
    assert done.stderr == (f"orch: the fan-out's artifacts under {folder} are ['0', '1', '2'], not its 2 items ['0', '1']\n")


def test_a_run_moves_files_and_folders_exactly(orch, tmp_path, monkeypatch):
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "art_steps.py").write_text(STEPS)
    monkeypatch.chdir(code_dir)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(SPEC, allow_unicode=True, sort_keys=False), encoding="utf-8")
    executor = Executor(tmp_path / "cluster", code_dir)
    with FakeArgo(lambda name, task: {"phase": "Failed" if task["template"] == "Orch-verdict" else "Succeeded"},
                  executor=executor) as server:
        monkeypatch.setenv("ARGO_SERVER", server.url)
        import orch.backends.argo.run as client

        monkeypatch.setattr(client.time, "sleep", lambda seconds: None)
        code, out, err = orch("run", str(path), "--backend", "argo", "--json")
    steps = json.loads(out)["steps"]
    uri = f"s3://{REPOSITORY_BUCKET}/ml/runs/arts/arts-x7k2p"
    assert steps["make_file"]["outputs"] == {"report": f"{uri}/make_file/report"}
    assert steps["read-py"]["outputs"]["listing"] == {"report": "00ff62797465730d0a", "tree": {
        "sub": "dir", "naïve ü.txt": "ü".encode().hex(), "sub/empty": "dir", "sub/empty.txt": ""}}
    assert steps["read-cmd"]["outputs"] == {"copy": f"{uri}/read-cmd/copy", "names": "naïve ü.txt\nsub"}
    copied = tmp_path / "cluster" / "pods" / "read-cmd" / "outputs" / "copy"
    assert copied.read_bytes() == b"\x00\xffbytes\r\n"
    assert steps["maybe"]["status"] == "skipped"
    assert (steps["join"]["status"], steps["join"]["outputs"]) == ("succeeded", {"none": True})
    assert steps["join-cmd"]["outputs"] == {"text": "[]"}
    assert steps["fan"]["outputs"] == {"part": [f"{uri}/fan/part/0", f"{uri}/fan/part/1"]}
    assert steps["lost"]["status"] == "failed"
    assert executor.logs["lost"] == "orch: output 'gone': /nowhere/at/all does not exist\n"
    assert code == 1


def test_the_runner_reads_artifacts_from_its_disk_and_stores_them(tmp_path):
    """Through a shared template (the values in ORCH_R<i>): an artifact takes no R, so the param after it is R0;
    an absent optional input is None, and '' in a command's text; what the step left is copied for Argo to upload."""
    import os
    import subprocess
    import sys

    from orch.backends.argo.script import bootstrap_source

    (tmp_path / "art_steps.py").write_text(STEPS)
    (tmp_path / "inputs" / "a_tree").mkdir(parents=True)
    (tmp_path / "inputs" / "a_tree" / "x").write_text("x")

    def run(payload: dict, **env) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", bootstrap_source()], cwd=tmp_path, capture_output=True, text=True,
                              env={**os.environ, "ORCH_PAYLOAD": json.dumps(payload), "ORCH_ARGO_INPUTS": str(tmp_path / "inputs"),
                                   "ORCH_ARGO_OUTPUTS": str(tmp_path / "out"), **env})

    payload = {"kind": "python", "python": "art_steps:describe", "env": {},
               "args": {"tree": {"$ref": 0}, "report": {"$text": ["inputs/a_tree/", {"$ref": 1}]}},
               "outputs": {"listing": "json"}, "refs": [{"kind": "artifact", "input": "a_tree"}, {"kind": "param", "type": "string"}]}
    done = run(payload, ORCH_R0="x")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "listing").read_text()) == {"report": "78", "tree": {"x": "78"}}
    command = {"kind": "command", "env": {}, "outputs": {"tree": "artifact", "said": "string"},
               "argv": ["sh", "-c", 'mkdir -p "$ORCH_OUTPUTS/tree/e" && printf "[%s]" "$1" > "$ORCH_OUTPUTS/said"', "sh", {"$ref": 0}],
               "refs": [{"kind": "artifact", "input": "b_absent"}]}
    done = run(command)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "said").read_text() == '"[]"' and (tmp_path / "out" / "tree" / "e").is_dir()


def test_the_lint_knows_argos_artifact_rules():
    pod = {"image": "busybox:1.36", "command": ["true"]}
    document = {"kind": "Workflow", "metadata": {"generateName": "p-"}, "spec": {"entrypoint": "main", "templates": [
        {"name": "main", "inputs": {"artifacts": [{"name": "m", "path": "/m"}]}, "dag": {"tasks": [
            {"name": "a", "template": "writes"},
            {"name": "b", "template": "reads", "arguments": {"artifacts": [
                {"name": "x", "from": "{{tasks.a.outputs.artifacts.nope}}"}, {"name": "y"}]}},
            {"name": "c", "template": "reads", "depends": "b", "arguments": {"artifacts": [
                {"name": "x", "from": "{{inputs.artifacts.gone}}"}]}},
        ]}},
        {"name": "writes", "container": pod, "outputs": {"artifacts": [{"name": "o"}]}},
        {"name": "reads", "container": pod, "inputs": {"artifacts": [{"name": "x", "path": "/x", "from": "{{x}}"}]}},
    ]}}
    from .argo_lint import lint

    problems = lint(document)
    assert {"main.inputs.artifacts.m.path only valid in container/script templates", "main: unknown input artifact inputs.artifacts.gone",
            "writes.outputs.artifacts.o: did not specify a path", "reads.inputs.artifacts.x.from not valid in inputs",
            "b: y.from, artifact location, or key is required", "b: missing dependency 'a' for artifact 'x'",
            "b: failed to resolve {{tasks.a.outputs.artifacts.nope}}"} <= set(problems), problems


def test_the_runner_refuses_an_item_whose_links_lead_outside_its_folder(tmp_path, monkeypatch):
    """Each link checked on the disk as it stands (the links made before it resolved): no chain leads out."""
    import io
    import tarfile

    import orch.backends.argo.bootstrap as runner

    monkeypatch.setattr(runner, "INPUTS", str(tmp_path / "inputs"))
    folder = tmp_path / "inputs" / "S_O"
    folder.mkdir(parents=True)
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        for name, kind, data in [("a", "dir", None), ("a/b", "dir", None), ("a/b/up", "sym", ".."),
                                 ("a/b/up/up2", "sym", "../.."), ("a/up2/evil", "file", b"escaped")]:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    (folder / "0").write_bytes(packed.getvalue())
    with pytest.raises(runner.InputError, match="illegal"):
        runner.artifact_list({"input": "S_O"}, "1")
    assert not any(p.name == "evil" for p in tmp_path.rglob("*"))


def test_too_many_steps_with_artifacts_for_one_workflow_are_refused_at_render(orch, spec_file, tmp_path):
    """Steps that pass artifacts keep a template each (their keys name them): past Argo's 200, a located error."""
    steps = {f"s{i}": {"command": ["sh", "-c", "true"], "outputs": {"a": "artifact"}} for i in range(230)}
    path = spec_file(yaml.safe_dump({"apiVersion": "orch/v1", "name": "many", "steps": steps}))
    code, _, err = orch("render", path, "-b", "argo", "-o", tmp_path / "out")
    assert code == 2 and "error[E827]" in err and "235 templates" in err and not (tmp_path / "out").exists()
