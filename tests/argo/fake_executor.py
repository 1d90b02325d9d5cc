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
- A failed attempt is run again while the template's `retryStrategy.limit` allows; `outputs.result` is the main
  container's stdout, one trailing newline trimmed (CaptureScriptResult).
The repository is a folder; the pod's filesystem is a folder that stands in for `/tmp/orch`. The model
(argo_model.py) resolves a task's arguments; the template's tags are resolved here as Argo does (expr_lang.py), and
one it cannot read fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from .expr_lang import flat, substitute
from .test_plain_containers import kubernetes_expand

POD_ROOT = "/tmp/orch"
_FROM = re.compile(r"^\{\{tasks\.([a-zA-Z0-9-]+)\.outputs\.artifacts\.([A-Za-z0-9_-]+)\}\}$")
_GLOBAL = re.compile(r"^\{\{workflow\.outputs\.artifacts\.([A-Za-z0-9_-]+)\}\}$")


class Executor:
    def __init__(self, folder: Path, code: Path):
        """`folder` holds the repository and the pods' disks; `code` is the pods' working directory."""
        self.repository, self.pods, self.code = folder / "repository", folder / "pods", code
        self.recorded: dict[str, list[dict]] = {}  # task name -> its node's output artifacts
        self.logs: dict[str, str] = {}  # pod (task, and item, and attempt past the first) -> its stderr

    def task(self, task: dict, templates: dict, world) -> dict:
        """The outcome of one task (its items', for a fan-out), as fake_server.FakeArgo records it; `world` is what the
        model knows of the workflow (argo_model.World), the task's arguments resolved by it but `{{item}}`."""
        name = task["name"]
        if "withParam" not in task:
            result = self._attempts(task, templates, world, None)
            self.recorded[name] = result.get("artifacts", [])
        else:
            items = [self._attempts(task, templates, world, item) for item in json.loads(task["withParam"])]
            result = {"phase": "Failed" if any(i["phase"] != "Succeeded" for i in items) else "Succeeded", "items": items}
            if not items:  # dag.go: a task expanding to no item is Skipped
                result = {"phase": "Skipped"}
        return result

    def _attempts(self, task: dict, templates: dict, world, item) -> dict:
        """The pod, again while it fails and its template's retryStrategy allows (retryPolicy Always)."""
        limit = int((templates[task["template"]].get("retryStrategy") or {}).get("limit", 0))
        for attempt in range(limit + 1):
            result = self._pod(task, templates, world, item, attempt)
            if result["phase"] == "Succeeded":
                break
        return {**result, "attempts": attempt + 1}

    def _pod(self, task: dict, templates: dict, world, item, attempt: int = 0) -> dict:
        template = templates[task["template"]]
        suffix = ("" if item is None else f"-{item}") + (f"-{attempt}" if attempt else "")
        scope = ".".join(world.path.split("/")[1:])  # a task inside a group: its DAG tasks' names first
        disk = self.pods / f"{scope + '.' if scope else ''}{task['name']}{suffix}"
        disk.mkdir(parents=True)
        params = {p["name"]: p["default"] for p in template.get("inputs", {}).get("parameters", []) if "default" in p}
        for p in task.get("arguments", {}).get("parameters", []):
            params[p["name"]] = self._argument(p["value"], item)
        env = {"inputs": {"parameters": params}, "workflow": world.workflow()}
        tags = flat(env)

        def fill(value: str) -> str:
            return substitute(value, env, tags)

        problem = self._load(task, template, disk, fill, world)
        if problem:
            return {"phase": "Error", "message": problem}
        container = template["container"]

        def text(value: str) -> str:
            return fill(value).replace(POD_ROOT, str(disk))

        defined: dict[str, str] = {}  # the kubelet expands `$(VAR)` and `$$` in env (in order), command and args
        for e in container.get("env", []):
            if "value" in e:
                defined[e["name"]] = kubernetes_expand(text(e["value"]), defined)
        argv = [kubernetes_expand(text(v), defined) for v in container.get("command", []) + container.get("args", [])]
        variables = {**os.environ, "ORCH_ARGO_OUTPUTS": str(disk / "outputs"), "ORCH_ARGO_INPUTS": str(disk / "inputs"),
                     **defined}
        (disk / "outputs").mkdir(exist_ok=True)  # an emptyDir, or the image's /tmp
        done = subprocess.run(argv, cwd=self.code, env=variables, capture_output=True, text=True)
        self.logs[disk.name] = done.stderr
        if done.returncode:  # the wait container saves the outputs there are, whatever the main container did
            return {"phase": "Failed", "message": f"Error (exit code {done.returncode})",
                    "parameters": _parameters(template, disk, missing_ok=True), "artifacts": self._save(template, disk, fill, missing_ok=True)}
        saved = self._save(template, disk, fill)
        if saved is None:
            return {"phase": "Error", "message": "an output artifact's path does not exist"}
        parameters = _parameters(template, disk)
        if parameters is None:  # executor.go, saveParameters: a missing file with no default errors the node
            return {"phase": "Error", "message": "an output parameter's file is missing"}
        stdout = done.stdout[:-1] if done.stdout.endswith("\n") else done.stdout  # CaptureScriptResult trims one newline
        return {"phase": "Succeeded", "artifacts": saved, "parameters": parameters, "result": stdout}

    def _argument(self, value: str, item) -> str:
        """A task argument's value, resolved by the model but `{{item}}`, which is the item's."""
        assert "{{" not in value.replace("{{item}}", ""), f"the fake executor cannot resolve {value}"
        return value.replace("{{item}}", str(item))

    def _save(self, template: dict, disk: Path, fill, missing_ok: bool = False) -> list[dict] | None:
        """Each output artifact stored at its key, as the node records it; None when one's path is missing (the node
        errors), unless the pod failed: then those there are."""
        saved = []
        for art in template.get("outputs", {}).get("artifacts", []):
            source = Path(art["path"].replace(POD_ROOT, str(disk)))
            if not os.path.lexists(source):
                if missing_ok:
                    continue
                return None
            key = fill(art["s3"]["key"])
            target = self.repository / key
            target.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(target, "w:gz") as tar:
                tar.add(source, arcname=source.name)
            saved.append({"name": art["name"], "path": art["path"], "s3": {"key": key}})
        return saved

    def _load(self, task: dict, template: dict, disk: Path, fill, world) -> str | None:
        """Each input artifact placed at its path; what fails the node, if anything."""
        given = {art["name"]: art for art in task.get("arguments", {}).get("artifacts", [])}
        for art in template.get("inputs", {}).get("artifacts", []):
            if "s3" in art:
                problem = self._load_key(art, fill(art["s3"]["key"]), Path(art["path"].replace(POD_ROOT, str(disk))))
                if problem:
                    return problem
                continue
            argument = given.get(art["name"], {})
            match, exported = _FROM.match(argument.get("from", "")), _GLOBAL.match(argument.get("from", ""))
            assert match or exported, f"the fake executor cannot resolve {argument}"
            found = ([world.artifacts[exported[1]]] if exported[1] in world.artifacts else []) if exported else [
                a for a in self.recorded.get(match[1], []) if a["name"] == match[2]]
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


def _parameters(template: dict, disk: Path, missing_ok: bool = False) -> list[dict] | None:
    """The output parameters read from their files (one trailing newline trimmed), a missing one its default; None
    when one is missing with no default, unless `missing_ok` (a failed pod's: those there are)."""
    found = []
    for p in template.get("outputs", {}).get("parameters", []):
        path = Path(p["valueFrom"]["path"].replace(POD_ROOT, str(disk)))
        if not path.exists() and "default" not in p["valueFrom"]:
            if missing_ok:
                continue
            return None
        value = path.read_text(encoding="utf-8") if path.exists() else p["valueFrom"]["default"]
        found.append({"name": p["name"], "value": value[:-1] if value.endswith("\n") else value})
    return found
