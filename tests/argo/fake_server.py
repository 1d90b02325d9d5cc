"""A local HTTP server speaking the Argo Server's workflow API (create, get), for the client's tests.

No cluster can run here. It answers POST /api/v1/workflows/{ns} and
GET /api/v1/workflows/{ns}/{name} with objects shaped like the real server's; the
workflow "runs" by the model of Argo in argo_model.py (depends, when, nested DAGs); tasks
that run end as the test's `outcome` says (a fan-out's items one by one, if it gives `items`) -- or,
given an `executor` (fake_executor.py), as their pods do when run here, artifacts moved through a folder
that stands for the cluster's artifact repository, bucket REPOSITORY_BUCKET.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from orch.core.typed import to_text

from .argo_model import call_of, play

REPOSITORY_BUCKET = "orch-artifacts"


class FakeArgo:
    def __init__(self, outcome: Callable[[str, dict], dict], polls_before_done: int = 1, token: str | None = None,
                 executor=None):
        """`outcome(task_name, task) -> {"phase", "outputs", "attempts", "message"}` for tasks that run (with an
        `executor`, for orch's own tasks only: step pods run)."""
        self.outcome = outcome
        self.executor = executor
        self.polls_before_done = polls_before_done
        self.token = token
        self.workflows: dict[str, dict] = {}
        self.polls: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._send(401, {"code": 16, "message": "token not valid"})
                    return False
                return True

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(("POST", self.path, body))
                if not self._authorized():
                    return
                parts = self.path.strip("/").split("/")
                workflow = body["workflow"]
                name = workflow["metadata"]["generateName"] + "x7k2p"
                workflow["metadata"].update(name=name, namespace=parts[3], uid="0b1c")
                workflow["status"] = {"phase": "Pending"}
                server.workflows[name] = workflow
                self._send(200, workflow)

            def do_GET(self):
                server.requests.append(("GET", self.path, {}))
                if not self._authorized():
                    return
                name = self.path.strip("/").split("/")[4].split("?")[0]
                if name not in server.workflows:
                    self._send(404, {"code": 5, "message": f'workflows.argoproj.io "{name}" not found'})
                    return
                server.polls[name] = server.polls.get(name, 0) + 1
                workflow = server.workflows[name]
                workflow["status"] = server.status(workflow, done=server.polls[name] > server.polls_before_done)
                self._send(200, workflow)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def status(self, workflow: dict, done: bool) -> dict:
        """Argo-shaped node statuses: a DAG node per DAG (main, chunks, wrappers), a node per task inside it."""
        name = workflow["metadata"]["name"]
        nodes = {name: {"id": name, "name": name, "displayName": name, "type": "DAG", "templateName": "Main",
                        "phase": "Running", "startedAt": "2026-11-24T10:00:00Z"}}
        if not done:
            return {"phase": "Running", "startedAt": "2026-11-24T10:00:00Z", "nodes": nodes}
        results: dict[str, dict] = {}

        templates = {t["name"]: t for t in workflow["spec"]["templates"]}

        def runs(task: dict) -> str:
            if self.executor and "Orch" not in task["template"]:
                results[task["name"]] = self.executor.task(task, templates, workflow)
                return results[task["name"]]["phase"]
            results[task["name"]] = self.outcome(task["name"], {**task, "call": call_of(task, templates)}
                                                 if "Orch" not in task["template"] else task)
            return results[task["name"]]["phase"]

        played: list[tuple[str, dict, str]] = []
        phases = play(workflow, runs, played)
        for path, task, phase in played:  # a node's id is its path of DAG tasks; its boundary, the DAG task's node
            task_name, task_template = task["name"], task["template"]
            node_id = f"{name}{path}/{task_name}"
            node = {"id": node_id, "name": name + path.replace("/", ".") + f".{task_name}", "displayName": task_name,
                    "boundaryID": name + path, "templateName": task_template, "phase": phase,
                    "startedAt": "2026-11-24T10:00:01Z", "finishedAt": "2026-11-24T10:00:02Z"}
            result = results.get(task_name, {})
            as_text = task_template == task_name  # a step with a template of its own keeps outputs as text
            if phase in ("Omitted", "Skipped"):
                node["type"] = "Skipped"
            elif "dag" in templates[task_template]:
                node["type"] = "DAG"
            elif "suspend" in templates[task_template]:  # orch's chunk-done leaf: no pod
                node["type"] = "Suspend"
            elif "items" in result:  # a fan-out the outcome gives item by item: a task group of them
                for i, item in enumerate(result["items"]):
                    nodes[f"{node_id}({i})"] = _ended({**node, "id": f"{node_id}({i})", "displayName": f"{task_name}({i}:{i})",
                                                       "phase": item["phase"]}, item, as_text)
                node.update(type="TaskGroup", children=[f"{node_id}({i})" for i in range(len(result["items"]))])
            else:
                _ended(node, result, as_text)
            nodes[node_id] = node
        failed = phases.get("Orch-verdict") == "Failed" or any(p in ("Failed", "Error") for p in phases.values())
        nodes[name]["phase"] = "Failed" if failed else "Succeeded"
        status = {"phase": nodes[name]["phase"], "startedAt": "2026-11-24T10:00:00Z", "finishedAt": "2026-11-24T10:00:03Z",
                  "nodes": nodes}
        if self.executor:  # the controller records the repository it resolved (operator.go)
            status["artifactRepositoryRef"] = {"default": True, "artifactRepository": {
                "s3": {"bucket": REPOSITORY_BUCKET, "endpoint": "minio:9000"}}}
        return status


def _ended(node: dict, result: dict, as_text: bool) -> dict:
    """A pod's node (a Retry node over its attempts), with its message and outputs."""
    node["type"] = "Retry" if result.get("attempts", 1) > 1 else "Pod"
    if node["type"] == "Retry":
        node["children"] = [f"{node['id']}-{i}" for i in range(result["attempts"])]
    if result.get("message"):
        node["message"] = result["message"]
    if result.get("outputs"):
        node["outputs"] = {"parameters": [{"name": k, "value": to_text(v) if as_text else json.dumps(v)}
                                          for k, v in result["outputs"].items()]}
    if result.get("parameters") or result.get("artifacts"):  # a pod the executor ran: its values as Argo read them
        node["outputs"] = {k: result[k] for k in ("parameters", "artifacts") if result.get(k)}
    return node
