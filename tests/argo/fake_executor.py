"""Argo's executor, played on this machine for the fake server: a pod's input artifacts in, its main
container run, its output artifacts out, as workflow/executor/executor.go does it.

- Inputs (loadArtifact): a task argument's `from` is resolved to the producer's recorded artifact;
  unresolvable and optional, the input is left out (dag.go); its key missing in the repository and
  optional, absent; else the node errors. A tgz is unpacked as `untar` + `unpack` do: a single entry
  is renamed to the input's path. A template's own key-only input is read the same way, or, when the
  key holds objects under it (an S3 "directory"), as those objects, not unpacked.
- Outputs (saveArtifact): the path is tar+gzipped with its base name as the root (util/archive,
  TarGzToWriter) and stored at its `s3.key`; a missing path errors the node. The node records the
  artifact as the template declares it, a key-only `s3` (docs/key-only-artifacts.md).
The repository is a folder; the pod's filesystem is a folder that stands in for `/tmp/orch`.
Only the tags orch writes into a pod's template are understood; anything else fails the test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

POD_ROOT = "/tmp/orch"
_TAG = re.compile(r"\{\{(.*?)\}\}")
_FROM_BASE64 = re.compile(r'^=fromBase64\(inputs\.parameters\["([^"]+)"\]\)$')
_IF_SUCCEEDED = re.compile(r'^\{\{=tasks\["([a-zA-Z0-9-]+)"\]\.status == "Succeeded" \? toBase64\(("[^"]*")\) : ""\}\}$')
_COUNT = re.compile(r'^\{\{=tasks\["([a-zA-Z0-9-]+)"\]\.status in \["Succeeded", "Skipped"\] \? "(\d+)" : ""\}\}$')
_FROM = re.compile(r"^\{\{tasks\.([a-zA-Z0-9-]+)\.outputs\.artifacts\.([A-Za-z0-9_-]+)\}\}$")


class Executor:
    def __init__(self, folder: Path, code: Path):
        """`folder` holds the repository and the pods' disks; `code` is the pods' working directory."""
        self.repository, self.pods, self.code = folder / "repository", folder / "pods", code
        self.recorded: dict[str, list[dict]] = {}  # task name -> its node's output artifacts
        self.logs: dict[str, str] = {}  # pod (task, and item) -> its stderr
        self.phases: dict[str, str] = {}  # task name -> how the tasks it ran ended

    def task(self, task: dict, templates: dict, workflow: dict) -> dict:
        """The outcome of one task (its items', for a fan-out), as fake_server.FakeArgo records it."""
        name = task["name"]
        if "withParam" not in task:
            result = self._pod(task, templates, workflow, None)
            self.recorded[name] = result.get("artifacts", [])
        else:
            items = [self._pod(task, templates, workflow, item) for item in json.loads(task["withParam"])]
            result = {"phase": "Failed" if any(i["phase"] != "Succeeded" for i in items) else "Succeeded", "items": items}
            if not items:  # dag.go: a task expanding to no item is Skipped
                result = {"phase": "Skipped"}
        self.phases[name] = result["phase"]
        return result

    def _pod(self, task: dict, templates: dict, workflow: dict, item) -> dict:
        template = templates[task["template"]]
        suffix = "" if item is None else f"-{item}"
        disk = self.pods / f"{task['name']}{suffix}"
        disk.mkdir(parents=True)
        params = {p["name"]: p["default"] for p in template.get("inputs", {}).get("parameters", []) if "default" in p}
        for p in task.get("arguments", {}).get("parameters", []):
            params[p["name"]] = self._argument(p["value"], item)
        tags = {"workflow.name": workflow["metadata"]["name"],
                **{f"inputs.parameters.{k}": v for k, v in params.items()},
                **{f"workflow.annotations.{k}": v for k, v in workflow["spec"].get("workflowMetadata", {}).get("annotations", {}).items()}}
        problem = self._load(task, template, disk, lambda value: _fill(value, tags, params))
        if problem:
            return {"phase": "Error", "message": problem}
        container = template["container"]

        def text(value: str) -> str:
            return _fill(value, tags, params).replace(POD_ROOT, str(disk))

        argv = [text(v) for v in container.get("command", []) + container.get("args", [])]
        env = {**os.environ, "ORCH_ARGO_OUTPUTS": str(disk / "outputs"), "ORCH_ARGO_INPUTS": str(disk / "inputs"),
               **{e["name"]: text(e["value"]) for e in container.get("env", [])}}
        (disk / "outputs").mkdir(exist_ok=True)  # an emptyDir, or the image's /tmp
        done = subprocess.run(argv, cwd=self.code, env=env, capture_output=True, text=True)
        self.logs[disk.name] = done.stderr
        if done.returncode:
            return {"phase": "Failed", "message": f"Error (exit code {done.returncode})"}
        saved = []
        for art in template.get("outputs", {}).get("artifacts", []):
            source = Path(art["path"].replace(POD_ROOT, str(disk)))
            if not os.path.lexists(source):
                return {"phase": "Error", "message": f"{art['path']} no such file or directory"}
            key = _fill(art["s3"]["key"], tags, params)
            target = self.repository / key
            target.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(target, "w:gz") as tar:
                tar.add(source, arcname=source.name)
            saved.append({"name": art["name"], "path": art["path"], "s3": {"key": key}})
        parameters = []
        for p in template.get("outputs", {}).get("parameters", []):
            path = Path(p["valueFrom"]["path"].replace(POD_ROOT, str(disk)))
            value = path.read_text(encoding="utf-8") if path.exists() else p["valueFrom"]["default"]
            parameters.append({"name": p["name"], "value": value[:-1] if value.endswith("\n") else value})
        return {"phase": "Succeeded", "artifacts": saved, "parameters": parameters}

    def _argument(self, value: str, item) -> str:
        """A task argument's value: `{{item}}`, or the base64 of a path once its producer succeeded (inline.py)."""
        match = _IF_SUCCEEDED.match(value)
        if match:
            return base64.b64encode(json.loads(match[2]).encode()).decode() if self.phases.get(match[1]) == "Succeeded" else ""
        match = _COUNT.match(value)  # a fan-out's item count (artifacts.item_count), over a literal list
        if match:
            return match[2] if self.phases.get(match[1]) in ("Succeeded", "Skipped") else ""
        assert "{{" not in value.replace("{{item}}", ""), f"the fake executor cannot resolve {value}"
        return value.replace("{{item}}", str(item))

    def _load(self, task: dict, template: dict, disk: Path, fill) -> str | None:
        """Each input artifact placed at its path; what fails the node, if anything."""
        given = {art["name"]: art for art in task.get("arguments", {}).get("artifacts", [])}
        for art in template.get("inputs", {}).get("artifacts", []):
            if "s3" in art:
                problem = self._load_key(art, fill(art["s3"]["key"]), Path(art["path"].replace(POD_ROOT, str(disk))))
                if problem:
                    return problem
                continue
            argument = given.get(art["name"], {})
            match = _FROM.match(argument.get("from", ""))
            assert match, f"the fake executor cannot resolve {argument}"
            found = [a for a in self.recorded.get(match[1], []) if a["name"] == match[2]]
            if not found:
                if argument.get("optional") and art.get("optional"):
                    continue
                return f"Unable to resolve: {argument['from']}"
            problem = self._load_key(art, found[0]["s3"]["key"], Path(art["path"].replace(POD_ROOT, str(disk))))
            if problem:
                return problem
        return None

    def _load_key(self, art: dict, key: str, target: Path) -> str | None:
        """s3.go, loadS3Artifact: the object at the key, unpacked; else, the key as a "directory" (IsDirectory: an
        object under `key/`), every object under it downloaded by its relative key, as it is (a folder is no
        tarball: unarchiveArtifact renames it); else NoSuchKey, which an optional input skips."""
        stored = self.repository / key
        target.parent.mkdir(parents=True, exist_ok=True)
        if stored.is_file():
            unpacked = target.with_name(target.name + ".tmpdir")
            with tarfile.open(stored, "r:gz") as tar:
                tar.extractall(unpacked, filter="tar")
            (entry,) = unpacked.iterdir()  # orch's artifacts hold one root: the file or the folder
            shutil.move(str(entry), str(target))
            unpacked.rmdir()
        elif stored.is_dir() and any(path.is_file() for path in stored.rglob("*")):
            for path in stored.rglob("*"):
                if path.is_file():
                    (target / path.relative_to(stored)).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target / path.relative_to(stored))
        elif not art.get("optional"):
            return f"artifact {art['name']} failed to load: NoSuchKey"
        return None


def _fill(value: str, tags: dict, params: dict) -> str:
    def one(match):
        body = match[1]
        if body in tags:
            return tags[body]
        expression = _FROM_BASE64.match(body)
        assert expression, f"the fake executor cannot resolve {{{{{body}}}}}"
        return base64.b64decode(params[expression[1]]).decode("utf-8")
    return _TAG.sub(one, value)
