"""A local HTTP server speaking the Argo Server's API, for the client's tests.

No cluster can run here. It answers, with objects shaped like the real server's:
- workflows: create (POST /api/v1/workflows/{ns}), get, list (labelSelector, limit, fields), submit from a
  WorkflowTemplate (POST .../submit), stop and terminate (PUT .../{name}/stop|terminate);
- WorkflowTemplates and CronWorkflows (/api/v1/workflow-templates/{ns}, /api/v1/cron-workflows/{ns}): create,
  get, list by label, update (PUT, refused without the object's current resourceVersion), delete.
The shapes follow argo-workflows' server/workflow, server/workflowtemplate, server/cronworkflow and the
Kubernetes API's errors as grpc-gateway returns them ({"code": grpc code, "message"}; 404 code 5, 409 code 6, 400
code 3). Given Argo's published `schema`, every request body is checked against its definition (400 if not).
A workflow "runs" by the model of Argo in argo_model.py (depends, when, nested DAGs); tasks that run end as the
test's `outcome` says (a fan-out's items one by one, if it gives `items`) -- or, given an `executor`
(fake_executor.py), as their pods do when run here, artifacts moved through a folder that stands for the
cluster's artifact repository, bucket REPOSITORY_BUCKET. A submitted workflow runs its template's spec with its
arguments, chunks called by `templateRef` read from their WorkflowTemplates, and records that spec in
`status.storedWorkflowTemplateSpec`, as the controller does; `tick()` starts each unsuspended CronWorkflow's run.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from orch.core.typed import to_text

from .argo_model import Ended, World, call_of, play, workflow_phase

REPOSITORY_BUCKET = "orch-artifacts"
TEMPLATE_LABEL = "workflows.argoproj.io/workflow-template"  # common.LabelKeyWorkflowTemplate
CRON_LABEL = "workflows.argoproj.io/cron-workflow"  # common.LabelKeyCronWorkflow
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # RFC 1123 subdomain
PLURAL = {"WorkflowTemplate": "workflowtemplates", "CronWorkflow": "cronworkflows", "Workflow": "workflows"}
# the request body's definition in Argo's schema, by (resource, method, action)
REQUESTS = {("workflows", "POST", ""): "WorkflowCreateRequest", ("workflows", "POST", "submit"): "WorkflowSubmitRequest",
            ("workflows", "PUT", "stop"): "WorkflowStopRequest",
            ("workflows", "PUT", "terminate"): "WorkflowTerminateRequest",
            ("workflow-templates", "POST", ""): "WorkflowTemplateCreateRequest",
            ("workflow-templates", "PUT", ""): "WorkflowTemplateUpdateRequest",
            ("cron-workflows", "POST", ""): "CreateCronWorkflowRequest",
            ("cron-workflows", "PUT", ""): "UpdateCronWorkflowRequest"}


class FakeArgo:
    def __init__(self, outcome: Callable[[str, dict], dict], polls_before_done: int = 1, token: str | None = None,
                 executor=None, schema: dict | None = None):
        """`outcome(task_name, task) -> {"phase", "outputs", "attempts", "message"}` for tasks that run (with an
        `executor`, for orch's own tasks only: step pods run)."""
        self.outcome = outcome
        self.executor = executor
        self.polls_before_done = polls_before_done
        self.token = token
        self.workflows: dict[str, dict] = {}
        self.templates: dict[str, dict] = {}  # WorkflowTemplates by name
        self.crons: dict[str, dict] = {}  # CronWorkflows by name
        self.polls: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.version = 0  # the store's resourceVersion, one more for each write
        self.validators = _validators(schema) if schema else None
        self._played: dict[str, dict] = {}  # a submitted workflow's spec as run: its template's, chunks inlined
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

            def _answer(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                server.requests.append((method, self.path, copy.deepcopy(body)))  # as sent, not as stored
                if not self._authorized():
                    return
                url = urlsplit(self.path)
                self._send(*server.answer(method, url.path.strip("/").split("/")[2:], parse_qs(url.query), body))

            def do_POST(self):
                self._answer("POST")

            def do_GET(self):
                self._answer("GET")

            def do_PUT(self):
                self._answer("PUT")

            def do_DELETE(self):
                self._answer("DELETE")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.lock = threading.Lock()

    def answer(self, method: str, parts: list[str], query: dict, body: dict) -> tuple[int, dict]:
        """(HTTP status, body) for `METHOD /api/v1/<parts>`: parts are the resource, the namespace, then the name and
        an action if any."""
        resource, namespace, rest = parts[0], parts[1], parts[2:]
        action = rest[1] if len(rest) > 1 else ("submit" if rest == ["submit"] else "")
        definition = REQUESTS.get((resource, method, action))
        if self.validators and definition:
            errors = sorted(self.validators[definition].iter_errors(body), key=str)
            if errors:
                return 400, {"code": 3, "message": f"{definition}: {errors[0].message} at {list(errors[0].absolute_path)}"}
        with self.lock:
            if resource == "workflows":
                return self._workflows(method, namespace, rest, query, body)
            store, kind, field = ((self.templates, "WorkflowTemplate", "template") if resource == "workflow-templates"
                                  else (self.crons, "CronWorkflow", "cronWorkflow"))
            if method == "POST":
                return self._create(store, kind, namespace, body[field])
            if method == "GET" and not rest:
                return 200, _listed(store.values(), query)
            if rest[0] not in store:
                return _not_found(kind, rest[0])
            if method == "GET":
                return 200, store[rest[0]]
            if method == "PUT":
                return self._update(store, kind, rest[0], body[field])
            del store[rest[0]]
            return 200, {}

    def _workflows(self, method: str, namespace: str, rest: list[str], query: dict, body: dict) -> tuple[int, dict]:
        if method == "POST" and not rest:
            workflow = body["workflow"]
            name = workflow["metadata"]["generateName"] + "x7k2p"
            workflow["metadata"].update(name=name, namespace=namespace, uid="0b1c")
            workflow["status"] = {"phase": "Pending"}
            self.workflows[name] = workflow
            return 200, workflow
        if method == "POST":
            return self._submit(namespace, body)
        if method == "GET" and not rest:
            found = _listed(self.workflows.values(), query, newest_first=True)
            return 200, _cleaned(found, query.get("fields", [""])[0])
        name = rest[0]
        if name not in self.workflows:
            return _not_found("Workflow", name)
        workflow = self.workflows[name]
        if method == "PUT":  # stop or terminate: the controller ends it, its running nodes failed (operator.go)
            workflow["spec"]["shutdown"] = rest[1].capitalize()
            return 200, workflow
        self.polls[name] = self.polls.get(name, 0) + 1
        done = self.polls[name] > self.polls_before_done and not workflow["spec"].get("shutdown")
        if "workflowTemplateRef" in workflow["spec"]:
            status = self.status({"metadata": workflow["metadata"], "spec": self._inlined(name)}, done=done)
            workflow["status"] = {**status, "storedWorkflowTemplateSpec": self._ran(workflow)}
        else:
            workflow["status"] = self.status(workflow, done=done)
        if workflow["spec"].get("shutdown"):
            workflow["status"] = _shut_down(workflow)
        return 200, workflow

    def _submit(self, namespace: str, body: dict) -> tuple[int, dict]:
        """server/workflow SubmitWorkflow: common.NewWorkflowFromWorkflowTemplate, then util.ApplySubmitOpts."""
        kind, name = body.get("resourceKind", ""), body.get("resourceName", "")
        if kind not in ("WorkflowTemplate", "workflowtemplate", "workflowtemplates", "wftmpl"):
            return 400, {"code": 3, "message": f"Resource kind '{kind}' is not supported for submitting"}
        if name not in self.templates:
            return 400, {"code": 3, "message": f'workflowtemplates.argoproj.io "{name}" not found'}
        options = body.get("submitOptions") or {}
        labels = {TEMPLATE_LABEL: name}
        labels.update(pair.split("=", 1) for pair in (options.get("labels") or "").split(",") if pair)
        parameters = []
        for text in options.get("parameters") or []:
            if "=" not in text:
                return 500, {"code": 13, "message": f"expected parameter of the form: NAME=VALUE. Received: {text}"}
            parameters.append(dict(zip(("name", "value"), text.split("=", 1))))
        spec = {"workflowTemplateRef": {"name": name}}
        if parameters:
            spec["arguments"] = {"parameters": parameters}
        missing = [p["name"] for p in self._ran({"spec": spec})["arguments"].get("parameters", []) if "value" not in p]
        if missing:  # validate.Workflow, Submit: every argument needs its value
            return 400, {"code": 3, "message": f"spec.arguments.{missing[0]}.value is required"}
        generate = options.get("generateName") or f"{name}-"
        workflow = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                    "metadata": {"generateName": generate, "labels": labels}, "spec": spec}
        self.workflows[self._stored(workflow, namespace, generate + f"{len(self.workflows):05d}")] = workflow
        workflow["status"] = {}
        return 200, workflow

    def tick(self) -> list[str]:
        """The cron controller's tick: a run of each CronWorkflow not suspended (ConvertCronWorkflowToWorkflow, and
        the workflow-template label setWfTemplateLabel adds). The names of the runs started."""
        started = []
        with self.lock:
            for name, cron in self.crons.items():
                if cron["spec"].get("suspend"):
                    continue
                spec = copy.deepcopy(cron["spec"]["workflowSpec"])
                labels = {CRON_LABEL: name, **(cron["spec"].get("workflowMetadata") or {}).get("labels", {})}
                if "workflowTemplateRef" in spec:
                    labels[TEMPLATE_LABEL] = spec["workflowTemplateRef"]["name"]
                workflow = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                            "metadata": {"generateName": f"{name}-", "labels": labels}, "spec": spec, "status": {}}
                started.append(self._stored(workflow, cron["metadata"]["namespace"], f"{name}-{1700000000 + self.version}"))
                self.workflows[started[-1]] = workflow
        return started

    def _stored(self, document: dict, namespace: str, name: str) -> str:
        """The metadata the API server adds to an object it stores; its name."""
        self.version += 1
        document["metadata"].update(name=name, namespace=namespace, uid=f"uid-{self.version}",
                                    resourceVersion=str(self.version), creationTimestamp=_time(self.version))
        return name

    def _create(self, store: dict, kind: str, namespace: str, document: dict) -> tuple[int, dict]:
        name = document["metadata"].get("name", "")
        if name in store:
            return 409, {"code": 6, "message": f'{PLURAL[kind]}.argoproj.io "{name}" already exists'}
        problem = self._invalid(kind, document)
        if problem:
            return 400, {"code": 3, "message": problem}
        document["metadata"].pop("resourceVersion", None)
        self._stored(document, namespace, name)
        document["metadata"]["generation"] = 1
        store[name] = document
        return 200, document

    def _update(self, store: dict, kind: str, name: str, document: dict) -> tuple[int, dict]:
        """Kubernetes' optimistic concurrency: the update names the resourceVersion it read, else it is refused."""
        current, given = store[name], document["metadata"].get("resourceVersion")
        if not given:
            return 400, {"code": 3, "message": f'{PLURAL[kind]}.argoproj.io "{name}" is invalid: metadata.resourceVersion: '
                                               "Invalid value: 0x0: must be specified for an update"}
        if given != current["metadata"]["resourceVersion"]:
            return 409, {"code": 6, "message": f'Operation cannot be fulfilled on {PLURAL[kind]}.argoproj.io "{name}": the '
                                               "object has been modified; please apply your changes to the latest version "
                                               "and try again"}
        problem = self._invalid(kind, document)
        if problem:
            return 400, {"code": 3, "message": problem}
        self.version += 1
        kept = {k: current["metadata"][k] for k in ("uid", "creationTimestamp", "namespace")}
        document["metadata"].update(kept, resourceVersion=str(self.version), generation=current["metadata"]["generation"] + 1)
        store[name] = document
        return 200, document

    def _invalid(self, kind: str, document: dict) -> str | None:
        """What the API server (names) and validate.go (references, a CronWorkflow's name) refuse."""
        name = document["metadata"].get("name", "")
        if not DNS_NAME.match(name) or len(name) > 253:
            return f'{PLURAL[kind]}.argoproj.io "{name}" is invalid: metadata.name: Invalid value: "{name}": a lowercase ' \
                   "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
        if kind == "CronWorkflow":
            if len(name) > 52:
                return f"cron workflow name \"{name}\" must not be more than 52 characters long (currently {len(name)})"
            refs = [document["spec"]["workflowSpec"].get("workflowTemplateRef", {}).get("name")]
        else:
            refs = [t["templateRef"]["name"] for template in document["spec"].get("templates", [])
                    for t in (template.get("dag") or {}).get("tasks", []) if "templateRef" in t]
        missing = [ref for ref in refs if ref and ref not in self.templates]
        return f'templateRef: workflowtemplates.argoproj.io "{missing[0]}" not found' if missing else None

    def _ran(self, workflow: dict) -> dict:
        """The spec the controller runs and stores: its template's, the workflow's arguments over the template's."""
        spec = copy.deepcopy(self.templates[workflow["spec"]["workflowTemplateRef"]["name"]]["spec"])
        given = {p["name"]: p for p in (workflow["spec"].get("arguments") or {}).get("parameters", [])}
        declared = (spec.get("arguments") or {}).get("parameters", [])
        spec["arguments"] = {"parameters": [given.pop(p["name"], p) for p in declared] + list(given.values())}
        return spec

    def _inlined(self, name: str) -> dict:
        """The spec as played: a task calling a chunk by `templateRef` calls it by name, the chunk's WorkflowTemplate's
        templates joining the spec's (the nodes still say `templateRef`)."""
        if name not in self._played:
            spec = self._ran(self.workflows[name])
            names = {t["name"] for t in spec["templates"]}
            for template in list(spec["templates"]):
                for task in (template.get("dag") or {}).get("tasks", []):
                    if "templateRef" in task:
                        task["template"] = task["templateRef"]["template"]
                        called = self.templates[task["templateRef"]["name"]]["spec"]["templates"]
                        spec["templates"] += [copy.deepcopy(t) for t in called if t["name"] not in names]
                        names |= {t["name"] for t in called}
            self._played[name] = spec
        return self._played[name]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def status(self, workflow: dict, done: bool) -> dict:
        """Argo-shaped node statuses: a DAG node per DAG (main, chunks, wrappers, the exit handler), a node per task
        inside it."""
        name = workflow["metadata"]["name"]
        nodes = {name: {"id": name, "name": name, "displayName": name, "type": "DAG", "templateName": "Main",
                        "phase": "Running", "startedAt": "2026-11-24T10:00:00Z"}}
        if not done:
            return {"phase": "Running", "startedAt": "2026-11-24T10:00:00Z", "nodes": nodes}
        results: dict[str, dict] = {}
        spec = workflow["spec"]
        templates = {t["name"]: t for t in spec["templates"]}
        world = World(name=name, parameters={p["name"]: p.get("value", "") for p in (spec.get("arguments") or {}).get("parameters", [])},
                      annotations=(spec.get("workflowMetadata") or {}).get("annotations", {}))

        def runs(task: dict) -> Ended:
            key = (world.path, task["name"])  # a task's name is its own in its DAG only (groups)
            if self.executor and "Orch" not in task["template"]:
                results[key] = self.executor.task(task, templates, world)
            else:
                results[key] = self.outcome(task["name"], {**task, "call": call_of(task, templates)}
                                            if "Orch" not in task["template"] else task)
            return _as_ended(results[key], _as_text(templates[task["template"]]))

        played: list[tuple[str, dict, str]] = []
        play(workflow, runs, played, world)
        if spec.get("onExit"):  # operator.go, GenerateOnExitNodeName; executed with no boundary
            exit_node = f"{name}.onExit"
            nodes[exit_node] = {"id": exit_node, "name": exit_node, "displayName": exit_node, "type": "DAG",
                                "templateName": spec["onExit"], "phase": world.exit, "startedAt": "2026-11-24T10:00:02Z",
                                "finishedAt": "2026-11-24T10:00:03Z"}
        for path, task, phase in played:  # a node's id is its path of DAG tasks; its boundary, the DAG task's node
            task_name, task_template = task["name"], task["template"]
            node_id = f"{name}{path}/{task_name}"
            node = {"id": node_id, "name": name + path.replace("/", ".") + f".{task_name}", "displayName": task_name,
                    "boundaryID": name + path, "templateName": task_template, "phase": phase,
                    "startedAt": "2026-11-24T10:00:01Z", "finishedAt": "2026-11-24T10:00:02Z"}
            if "templateRef" in task:  # operator.go, initializeNode: the holder's template name, none for a ref
                del node["templateName"]
                node["templateRef"] = task["templateRef"]
            result = results.get((path, task_name), {})
            as_text = _as_text(templates[task_template])
            if phase in ("Omitted", "Skipped"):
                node["type"] = "Skipped"
            elif (path, task_name) in world.expansion_errors:  # dag.go: its items not expanded, a Skipped node in Error
                node.update(type="Skipped", message=world.expansion_errors[(path, task_name)])
            elif (path, task_name) in world.dag_items:  # a looped DAG: a task group of DAG nodes, one per item
                for i, item in enumerate(world.dag_items[(path, task_name)]):
                    nodes[f"{node_id}({i})"] = {**node, "id": f"{node_id}({i})", "displayName": f"{task_name}({i}:{i})",
                                                "type": "DAG", "phase": item.phase,
                                                **({"outputs": {"parameters": [{"name": k, "value": v} for k, v in
                                                                               item.parameters.items()]}} if item.parameters else {})}
                node.update(type="TaskGroup", children=[f"{node_id}({i})" for i in range(len(world.dag_items[(path, task_name)]))])
            elif "dag" in templates[task_template]:
                node["type"] = "DAG"
                exported = world.dag_outputs.get((path, task_name))
                if exported:  # operator.go: a DAG node's outputs, from its template's
                    node["outputs"] = {"parameters": [{"name": k, "value": v} for k, v in exported.items()]}
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
        nodes[name]["phase"] = world.main
        status = {"phase": workflow_phase(world), "startedAt": "2026-11-24T10:00:00Z", "finishedAt": "2026-11-24T10:00:03Z",
                  "nodes": nodes}
        if world.globals or world.artifacts:  # workflow/util, AddParamToGlobalScope; operator.go, addArtifactToGlobalScope
            status["outputs"] = {k: v for k, v in (
                ("parameters", [{"name": k, "value": v} for k, v in world.globals.items()]),
                ("artifacts", [{**art, "name": k} for k, art in world.artifacts.items()])) if v}
        if self.executor:  # the controller records the repository it resolved (operator.go)
            status["artifactRepositoryRef"] = {"default": True, "artifactRepository": {
                "s3": {"bucket": REPOSITORY_BUCKET, "endpoint": "minio:9000"}}}
        return status


def _as_text(template: dict) -> bool:
    """Whether the template's pod keeps an output as its text (a step's own, a shared use's), not as JSON text (a
    template past a template per step, its call in ORCH_PAYLOAD)."""
    return not any(e.get("name") == "ORCH_PAYLOAD" for e in (template.get("container") or {}).get("env", []))


def _texts(result: dict, as_text: bool) -> dict[str, str]:
    if result.get("parameters"):  # a pod the executor ran: its values as Argo read them
        return {p["name"]: p["value"] for p in result["parameters"]}
    return {k: to_text(v) if as_text else json.dumps(v) for k, v in (result.get("outputs") or {}).items()}


def _as_ended(result: dict, as_text: bool) -> Ended:
    """The outcome as the model reads it (argo_model.Ended)."""
    items = [_as_ended(item, as_text) for item in result["items"]] if "items" in result else None
    return Ended(result["phase"], _texts(result, as_text), result.get("result"), result.get("attempts", 1), items,
                 result.get("message", ""), result.get("artifacts") or [])


def _ended(node: dict, result: dict, as_text: bool) -> dict:
    """A pod's node (a Retry node over its attempts), with its message and outputs."""
    node["type"] = "Retry" if result.get("attempts", 1) > 1 else "Pod"
    if node["type"] == "Retry":
        node["children"] = [f"{node['id']}-{i}" for i in range(result["attempts"])]
    if result.get("message"):
        node["message"] = result["message"]
    if result.get("outputs"):
        node["outputs"] = {"parameters": [{"name": k, "value": v} for k, v in _texts(result, as_text).items()]}
    if result.get("parameters") or result.get("artifacts"):  # a pod the executor ran: its values as Argo read them
        node["outputs"] = {k: result[k] for k in ("parameters", "artifacts") if result.get(k)}
    if result.get("result") is not None:
        node.setdefault("outputs", {})["result"] = result["result"]
    return node


def _validators(schema: dict) -> dict:
    import jsonschema

    # the published schema types IntOrString as string only; the API accepts integers too (as test_render.py)
    definitions = {**schema["definitions"],
                   "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["string", "integer"]}}
    return {name: jsonschema.Draft7Validator({"$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{name}",
                                              "definitions": definitions}) for name in set(REQUESTS.values())}


def _not_found(kind: str, name: str) -> tuple[int, dict]:
    return 404, {"code": 5, "message": f'{PLURAL[kind]}.argoproj.io "{name}" not found'}


def _time(second: int) -> str:
    return f"2026-11-24T09:{second // 60 % 60:02d}:{second % 60:02d}Z"


def _listed(items, query: dict, newest_first: bool = False) -> dict:
    """A list response: the items whose labels match `listOptions.labelSelector` (k=v, comma-separated), at most
    `listOptions.limit` of them; an empty list's items are null, as Go writes a nil slice."""
    selector = query.get("listOptions.labelSelector", [""])[0]
    wanted = [pair.replace("==", "=").split("=", 1) for pair in selector.split(",") if pair]
    found = [copy.deepcopy(item) for item in items
             if all((item["metadata"].get("labels") or {}).get(k) == v for k, v in wanted)]
    if newest_first:
        found.sort(key=lambda item: item["metadata"]["creationTimestamp"], reverse=True)
    limit = int(query.get("listOptions.limit", ["0"])[0] or 0)
    return {"metadata": {"resourceVersion": "1"}, "items": (found[:limit] if limit else found) or None}


def _cleaned(document: dict, fields: str) -> dict:
    """util/fields Cleaner: keep the comma-separated paths (or, after a leading '-', drop them)."""
    if not fields:
        return document
    exclude = fields.startswith("-")
    paths = set(fields.lstrip("-").split(","))

    def clean(item, path):
        if isinstance(item, dict):
            for key in list(item):
                field = ".".join(path + [key])
                inside = field in paths
                parent = inside or any(p.startswith(field) for p in paths)
                if (exclude and not inside) or (not exclude and parent):
                    if not inside:
                        clean(item[key], path + [key])
                else:
                    del item[key]
        elif isinstance(item, list):
            for each in item:
                clean(each, path)

    clean(document, [])
    return document


def _shut_down(workflow: dict) -> dict:
    """A stopped or terminated workflow once the controller saw it: Failed, its running nodes too."""
    strategy = workflow["spec"]["shutdown"]
    status = workflow.get("status") or {}
    nodes = {key: ({**node, "phase": "Failed", "message": f"Stopped with strategy '{strategy}'"}
                   if node.get("phase") in ("Running", "Pending") else node)
             for key, node in (status.get("nodes") or {}).items()}
    return {**status, "phase": "Failed", "message": f"Stopped with strategy '{strategy}'",
            "finishedAt": "2026-11-24T10:00:03Z", "nodes": nodes}
