"""`orch deploy -b argo`, `orch run --server` and `orch runs --backend argo` against the fake Argo Server.

No Kubernetes cluster can run here: fake_server.py speaks the Argo Server's API (the shapes of
server/workflowtemplate, server/cronworkflow and server/workflow, every request body checked against Argo's
published schema) and plays a submitted run by the same model of Argo as `orch run -b argo`'s tests.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from orch.backends.argo.render import render
from orch.core import load_spec

from .fake_server import FakeArgo
from .test_render import schema_file
from .test_run import by_function

TOKEN = "argo-token-Zq9x-never-shown"


@pytest.fixture(scope="module")
def schema():
    return json.loads(schema_file().read_text())


@pytest.fixture(scope="module")
def validator(schema):
    import jsonschema

    schema = {**schema, "definitions": {**schema["definitions"],
                                        "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["string", "integer"]}}}
    return jsonschema.Draft7Validator(schema)


@pytest.fixture
def argo(monkeypatch, tmp_path, schema):
    """A fake Argo Server (with the schema), ARGO_* cleared but the namespace, and no waiting between polls."""
    import time

    monkeypatch.chdir(tmp_path)
    for name in ("ARGO_SERVER", "ARGO_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARGO_NAMESPACE", "ml")
    monkeypatch.setattr(time, "sleep", lambda seconds: None)

    def start(outcome=by_function, **options) -> FakeArgo:
        return FakeArgo(outcome, schema=schema, **options)

    return start


def write(tmp_path, steps: dict, **fields) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "orch/v1", "name": "p", **fields, "steps": steps}, sort_keys=False))
    return str(path)


TRAIN = {
    "train": {"python": "m:train", "outputs": {"accuracy": "number", "model": "string"}, "retries": 3},
    "deploy": {"python": "m:deploy", "args": {"model": "${{ steps.train.outputs.model }}"}},
    "notify": {"python": "m:notify", "after": ["deploy"], "trigger": "any_failed"},
}
PARAMS = {"threshold": {"type": "number", "default": 0.5}}


def outcome(name, task):
    return {"train": {"phase": "Succeeded", "attempts": 3, "outputs": {"accuracy": 0.93, "model": "s3://m/1"}},
            "deploy": {"phase": "Failed", "message": "OOMKilled (exit code 137)"}}.get(name, {"phase": "Succeeded"})


def test_deploy_creates_the_rendered_template_and_its_cron(orch, argo, tmp_path, validator):
    spec = write(tmp_path, TRAIN, params=PARAMS, labels={"team": "ml"},
                 schedule={"cron": "0 2 * * *", "timezone": "Europe/Paris"})
    with argo() as server:
        code, out, err = orch("deploy", spec, "-b", "argo", "--server", server.url)
    assert code == 0, err
    assert out.splitlines() == ["created WorkflowTemplate 'p' in namespace ml", "created CronWorkflow 'p' in namespace ml"]
    template, cron = server.templates["p"], server.crons["p"]
    for document in (template, cron):
        assert not sorted(validator.iter_errors(document), key=str)
        assert document["metadata"]["labels"] == {"team": "ml", "orch.dev/pipeline": "p",
                                                  "app.kubernetes.io/managed-by": "orch"}
        assert document["metadata"]["namespace"] == "ml"
    rendered = yaml.safe_load(render(load_spec(spec), "template")[0].text)
    assert template["spec"] == rendered["spec"]  # what `orch render -b argo --kind template` writes
    assert template["spec"]["arguments"] == {"parameters": [{"name": "threshold", "value": "0.5"}]}
    assert len(template["metadata"]["annotations"]["orch.dev/rendered-sha256"]) == 64
    assert cron["spec"] == {"concurrencyPolicy": "Forbid", "schedules": ["0 2 * * *"], "timezone": "Europe/Paris",
                            "workflowSpec": {"workflowTemplateRef": {"name": "p"}},
                            "workflowMetadata": {"labels": {"team": "ml", "orch.dev/pipeline": "p"}}}
    posts = [(path, body) for method, path, body in server.requests if method == "POST"]
    assert [path for path, _ in posts] == ["/api/v1/workflow-templates/ml", "/api/v1/cron-workflows/ml"]
    assert posts[0][1]["namespace"] == "ml" and posts[0][1]["template"]["metadata"]["name"] == "p"
    assert posts[1][1]["cronWorkflow"]["metadata"]["name"] == "p"


def test_a_second_deploy_updates_with_the_resource_version_the_server_gave(orch, argo, tmp_path):
    spec = write(tmp_path, TRAIN, params=PARAMS, schedule="0 2 * * *")
    with argo() as server:
        assert orch("deploy", spec, "-b", "argo", "--server", server.url)[0] == 0
        versions = {kind: store["p"]["metadata"]["resourceVersion"] for kind, store in
                    (("template", server.templates), ("cron", server.crons))}
        write(tmp_path, TRAIN, params={"threshold": {"type": "number", "default": 0.8}}, schedule="0 3 * * *")
        code, out, err = orch("deploy", spec, "-b", "argo", "--server", server.url, "--json")
    assert code == 0, err
    assert json.loads(out) == {"backend": "argo", "pipeline": "p", "server": server.url,
                               "made": ["updated WorkflowTemplate 'p' in namespace ml",
                                        "updated CronWorkflow 'p' in namespace ml"]}
    puts = {path: body for method, path, body in server.requests if method == "PUT"}
    assert puts["/api/v1/workflow-templates/ml/p"]["template"]["metadata"]["resourceVersion"] == versions["template"]
    assert puts["/api/v1/cron-workflows/ml/p"]["cronWorkflow"]["metadata"]["resourceVersion"] == versions["cron"]
    assert server.templates["p"]["metadata"]["generation"] == 2
    assert server.templates["p"]["spec"]["arguments"]["parameters"] == [{"name": "threshold", "value": "0.8"}]
    assert server.crons["p"]["spec"]["schedules"] == ["0 3 * * *"]


def test_paused_suspends_the_schedule_until_deployed_again(orch, argo, tmp_path):
    spec = write(tmp_path, {"a": {"python": "m:ok"}}, schedule="0 2 * * *")
    with argo() as server:
        code, out, err = orch("deploy", spec, "-b", "argo", "--server", server.url, "--paused")
        assert code == 0 and "created CronWorkflow 'p' in namespace ml (suspended)" in out
        assert server.crons["p"]["spec"]["suspend"] is True
        assert server.tick() == []  # a suspended CronWorkflow starts nothing
        assert orch("deploy", spec, "-b", "argo", "--server", server.url)[0] == 0
        assert "suspend" not in server.crons["p"]["spec"]
        (scheduled,) = server.tick()
        code, out, err = orch("runs", "list", "-b", "argo", "--spec", spec, "--server", server.url)
    assert code == 0 and scheduled in out  # a scheduled run is a run of the template (the controller's label)


def test_delete_removes_what_deploy_made_and_nothing_else(orch, argo, tmp_path):
    spec = write(tmp_path, {"a": {"python": "m:ok"}}, schedule="0 2 * * *")
    with argo() as server:
        assert orch("deploy", spec, "-b", "argo", "--server", server.url)[0] == 0
        server.templates["other"] = {"metadata": {"name": "other", "labels": {"team": "ml"}}, "spec": {}}
        code, out, err = orch("deploy", spec, "-b", "argo", "--server", server.url, "--delete")
        assert code == 0, err
        assert out.splitlines() == ["removed CronWorkflow 'p' from namespace ml",
                                    "removed WorkflowTemplate 'p' from namespace ml"]
        deletes = [path for method, path, _ in server.requests if method == "DELETE"]
        assert deletes == ["/api/v1/cron-workflows/ml/p", "/api/v1/workflow-templates/ml/p"]  # the cron first
        assert list(server.templates) == ["other"] and server.crons == {}
        code, out, err = orch("deploy", spec, "-b", "argo", "--server", server.url, "--delete")
    assert code == 0 and out.strip() == f"nothing of p was on {server.url}"


def test_a_template_orch_did_not_deploy_is_left_alone(orch, argo, tmp_path):
    spec = write(tmp_path, {"a": {"python": "m:ok"}})
    with argo() as server:
        server.templates["p"] = {"metadata": {"name": "p", "resourceVersion": "1"}, "spec": {"entrypoint": "theirs"}}
        code, out, err = orch("deploy", spec, "-b", "argo", "--server", server.url)
    assert code == 2 and "was not deployed by orch" in err and "Traceback" not in err
    assert server.templates["p"]["spec"] == {"entrypoint": "theirs"}


def big(pad: int, count: int = 260, fail: int | None = 250) -> dict:
    """A pipeline past one DAG (nested chunks); with long args, past 1 MB: its chunks go in WorkflowTemplates."""
    steps = {f"s{i}": {"python": "m:fail" if i == fail else "m:ok", "args": {"x": "y" * pad},
                       **({"after": [f"s{i - 1}"]} if i else {})} for i in range(count)}
    steps["tidy"] = {"python": "m:ok", "after": [f"s{count - 1}"], "trigger": "all_done"}
    return steps


def test_a_large_pipeline_deploys_its_chunks_and_runs_through_them(orch, argo, tmp_path):
    spec = write(tmp_path, big(4500), schedule="0 2 * * *")
    with argo() as server:
        code, out, err = orch("deploy", spec, "-b", "argo", "--server", server.url)
        assert code == 0, err
        created = [f"created WorkflowTemplate '{name}' in namespace ml" for name in ("p-chunk-1", "p-chunk-2", "p")]
        # the chunks before the template that refers to them
        assert out.splitlines() == created + ["created CronWorkflow 'p' in namespace ml"]
        refs = [t["templateRef"] for d in server.templates["p"]["spec"]["templates"]
                for t in d.get("dag", {}).get("tasks", []) if "templateRef" in t]
        assert refs == [{"name": "p-chunk-1", "template": "chunk-1"}, {"name": "p-chunk-2", "template": "chunk-2"}]
        code, out, err = orch("run", spec, "-b", "argo", "--server", server.url, "--json")
        (workflow,) = server.workflows.values()
        # the split schedule stays what was deployed: its chunks' nodes name their templates by templateRef
        assert [n["templateRef"] for n in workflow["status"]["nodes"].values() if "templateRef" in n] == refs
        states = {name: step["status"] for name, step in json.loads(out)["steps"].items()}
        assert code == 1 and states["s249"] == "succeeded" and states["s250"] == "failed"
        assert states["s251"] == states["s259"] == "upstream_failed" and states["tidy"] == "succeeded"
        write(tmp_path, big(10, fail=None))  # fits one Workflow again, and unscheduled: the chunks and cron go
        code, out, err = orch("deploy", spec, "-b", "argo", "--server", server.url)
    assert code == 0, err
    assert out.splitlines() == ["updated WorkflowTemplate 'p' in namespace ml", "removed CronWorkflow 'p' from namespace ml",
                                "removed WorkflowTemplate 'p-chunk-1' from namespace ml",
                                "removed WorkflowTemplate 'p-chunk-2' from namespace ml"]
    assert list(server.templates) == ["p"] and server.crons == {}


def test_run_on_the_server_submits_from_the_template_and_reads_its_result(orch, argo, tmp_path):
    spec = write(tmp_path, TRAIN, params=PARAMS, labels={"team": "ml"})
    with argo(outcome, polls_before_done=2) as server:
        assert orch("deploy", spec, "-b", "argo", "--server", server.url)[0] == 0
        code, out, err = orch("run", spec, "-b", "argo", "--server", server.url, "--json", "-p", "threshold=0.7")
    (submit,) = [body for method, path, body in server.requests if path == "/api/v1/workflows/ml/submit"]
    assert submit == {"namespace": "ml", "resourceKind": "WorkflowTemplate", "resourceName": "p",
                      "submitOptions": {"generateName": "p-", "labels": "team=ml,orch.dev/pipeline=p",
                                        "parameters": ["threshold=0.7"]}}
    (workflow,) = server.workflows.values()
    assert workflow["spec"] == {"workflowTemplateRef": {"name": "p"},
                                "arguments": {"parameters": [{"name": "threshold", "value": "0.7"}]}}
    assert workflow["metadata"]["labels"] == {"workflows.argoproj.io/workflow-template": "p", "team": "ml",
                                              "orch.dev/pipeline": "p"}
    result = json.loads(out)
    assert code == 1 and "warning" not in err  # deployed from this very spec
    assert (result["backend"], result["run_id"], result["status"], result["params"]) == ("argo", workflow["metadata"]["name"],
                                                                                        "failed", {"threshold": 0.7})
    assert result["steps"]["train"] == {**result["steps"]["train"], "status": "succeeded", "attempts": 3,
                                        "outputs": {"accuracy": 0.93, "model": "s3://m/1"}}
    assert result["steps"]["deploy"]["error"] == "OOMKilled (exit code 137)"
    assert result["steps"]["notify"]["status"] == "succeeded"


def test_run_warns_once_when_the_deployed_template_is_not_what_the_spec_renders(orch, argo, tmp_path):
    spec = write(tmp_path, {"a": {"python": "m:ok", "args": {"n": 1}}})
    with argo() as server:
        assert orch("deploy", spec, "-b", "argo", "--server", server.url)[0] == 0
        write(tmp_path, {"a": {"python": "m:ok", "args": {"n": 2}}})
        code, out, err = orch("run", spec, "-b", "argo", "--server", server.url, "--json")
    assert code == 0 and json.loads(out)["status"] == "succeeded"
    assert err.count("is not what the spec renders today") == 1 and "orch deploy SPEC -b argo updates it" in err


def test_a_workflow_deleted_while_orch_follows_it_is_exit_3_naming_it(orch, argo, tmp_path, monkeypatch):
    import time

    spec = write(tmp_path, {"a": {"python": "m:ok"}})
    with argo(polls_before_done=5) as server:
        assert orch("deploy", spec, "-b", "argo", "--server", server.url)[0] == 0
        monkeypatch.setattr(time, "sleep", lambda seconds: server.workflows.clear())  # `argo delete` between polls
        code, out, err = orch("run", spec, "-b", "argo", "--server", server.url, "--json")
    assert code == 3 and "is gone from namespace ml" in err and "deleted while orch followed it" in err


def test_a_run_before_any_deploy_says_so(orch, argo, tmp_path):
    spec = write(tmp_path, {"a": {"python": "m:ok"}})
    with argo() as server:
        code, out, err = orch("run", spec, "-b", "argo", "--server", server.url)
    assert code == 2 and "is not deployed on" in err and server.url in err


def test_runs_list_and_show_read_the_servers_workflows_of_the_template(orch, argo, tmp_path, monkeypatch):
    spec = write(tmp_path, TRAIN, params=PARAMS)
    with argo(outcome) as server:
        monkeypatch.setenv("ARGO_SERVER", server.url)  # no --server: ARGO_SERVER
        assert orch("deploy", spec, "-b", "argo")[0] == 0
        first = json.loads(orch("run", spec, "-b", "argo", "--deployed", "--json")[1])
        second = json.loads(orch("run", spec, "-b", "argo", "--deployed", "--json", "-p", "threshold=0.9")[1])
        server.workflows["q-1"] = {"metadata": {"name": "q-1", "creationTimestamp": "2026-11-24T11:00:00Z",
                                                "labels": {"workflows.argoproj.io/workflow-template": "q"}}, "spec": {}}
        code, out, err = orch("runs", "list", "-b", "argo", "--spec", spec)
        assert code == 0, err
        rows = [line.split()[:2] for line in out.splitlines()[1:]]
        assert rows == [[second["run_id"], "failed"], [first["run_id"], "failed"]]  # newest first, q's not there
        listing = [path for _, path, _ in server.requests if "listOptions" in path][-1]
        assert "fields=" in listing and "items.status.nodes" not in listing  # the list, not every node
        code, out, err = orch("runs", "list", "-b", "argo", "--spec", spec, "--limit", "1")
        assert [line.split()[0] for line in out.splitlines()[1:]] == [second["run_id"]]
        code, out, err = orch("runs", "show", second["run_id"], "-b", "argo", "--spec", spec, "--json")
        assert code == 0 and json.loads(out) == second and json.loads(out)["params"] == {"threshold": 0.9}
        code, out, err = orch("runs", "show", "q-1", "-b", "argo", "--spec", spec)
    assert code == 2 and "no run 'q-1' of pipeline 'p'" in err


def test_ctrl_c_can_terminate_the_run_on_the_server(argo, tmp_path, monkeypatch):
    import orch.backends.argo.run as client
    import orch.backends.remote as following
    from orch.core.errors import RunInterrupted

    class Interrupting:
        def begin(self, *args):
            raise KeyboardInterrupt

        def step(self, *args, **kwargs):
            pass

        def end(self):
            pass

    monkeypatch.setattr(following, "_ask_on_terminal", lambda progress: lambda question: True)
    graph = load_spec(write(tmp_path, {"a": {"python": "m:ok"}}))
    with argo() as server:
        client.deploy(graph, spec_path=None, server=server.url, options={}, say=print)
        with pytest.raises(RunInterrupted, match="cancelled the run on the Argo Server at"):
            client.run(graph, {}, server=server.url, progress=Interrupting())
        (name,) = server.workflows
        assert ("PUT", f"/api/v1/workflows/ml/{name}/terminate", {"name": name, "namespace": "ml"}) in server.requests
        result = client.read_run(graph, name, server=server.url)
    assert result.status == "failed" and result.error == "Stopped with strategy 'Terminate'"


def test_the_bearer_token_is_sent_and_never_shown(orch, argo, tmp_path, monkeypatch):
    spec = write(tmp_path, {"a": {"python": "m:ok"}}, schedule="0 2 * * *")
    monkeypatch.setenv("ARGO_TOKEN", TOKEN)
    with argo(token=TOKEN) as server:
        outputs = [orch("deploy", spec, "-b", "argo", "--server", server.url),
                   orch("run", spec, "-b", "argo", "--server", server.url)]
        (name,) = server.workflows
        outputs += [orch("runs", "list", "-b", "argo", "--spec", spec, "--server", server.url),
                    orch("runs", "show", name, "-b", "argo", "--spec", spec, "--server", server.url, "--json"),
                    orch("deploy", spec, "-b", "argo", "--server", server.url, "--delete")]
        stored = json.dumps([server.templates, server.crons, server.workflows])
    assert [code for code, _, _ in outputs] == [0, 0, 0, 0, 0]  # the server answers 401 to a request without it
    assert all(TOKEN not in out + err for _, out, err in outputs) and TOKEN not in stored


def test_a_wrong_token_is_exit_3_naming_the_url_not_the_token(orch, argo, tmp_path, monkeypatch):
    spec = write(tmp_path, {"a": {"python": "m:ok"}})
    monkeypatch.setenv("ARGO_TOKEN", TOKEN)
    with argo(token="the-right-one") as server:
        for args in (["deploy", spec, "-b", "argo"], ["deploy", spec, "-b", "argo", "--delete"],
                     ["run", spec, "-b", "argo"], ["runs", "list", "-b", "argo", "--spec", spec]):
            code, out, err = orch(*args, "--server", server.url)
            assert code == 3 and f"the Argo Server at {server.url} refused the request (401 Unauthorized)" in err, args
            assert TOKEN not in out + err and "Traceback" not in err
    assert server.templates == {}


@pytest.mark.parametrize("args", [["deploy", "{spec}", "-b", "argo"], ["deploy", "{spec}", "-b", "argo", "--delete"],
                                  ["run", "{spec}", "-b", "argo"], ["runs", "list", "-b", "argo", "--spec", "{spec}"],
                                  ["runs", "show", "p-1", "-b", "argo", "--spec", "{spec}"]])
def test_an_unreachable_server_is_exit_3(orch, argo, tmp_path, args):
    spec = write(tmp_path, {"a": {"python": "m:ok"}})
    code, out, err = orch(*[arg.format(spec=spec) for arg in args], "--server", "http://127.0.0.1:9")
    assert code == 3 and "cannot reach the Argo Server at http://127.0.0.1:9" in err and "Traceback" not in err


def test_no_server_named_is_exit_3_naming_the_variable(orch, argo, tmp_path):
    spec = write(tmp_path, {"a": {"python": "m:ok"}})
    code, out, err = orch("deploy", spec, "-b", "argo")
    assert code == 3 and "set ARGO_SERVER" in err
    code, out, err = orch("run", spec, "-b", "argo", "--deployed")
    assert code == 3 and "set ARGO_SERVER" in err


def test_deploy_uploads_shipped_code_that_the_template_reads(orch, argo, tmp_path, monkeypatch, s3_server):
    import boto3

    root = tmp_path / "project"
    (root / "mypkg").mkdir(parents=True)
    (root / "mypkg" / "steps.py").write_text("def work():\n    return {}\n")
    monkeypatch.chdir(root)
    spec = write(root, {"a": {"python": "mypkg.steps:work"}}, code={"ship": True})
    monkeypatch.setenv("ORCH_ARTIFACTS", f"{s3_server}/team/ml")
    monkeypatch.setenv("ORCH_CACHE", str(tmp_path / "cache"))
    with argo() as server:
        code, out, err = orch("deploy", spec, "-b", "argo", "--server", server.url)
        assert code == 0 and "code: uploaded to s3://" in err, err
        (template,) = [t for t in server.templates["p"]["spec"]["templates"] if t["name"] == "a"]
        (code_input,) = template["inputs"]["artifacts"]
        code, out, err = orch("run", spec, "-b", "argo", "--server", server.url)
    assert code == 0 and "warning" not in err and "uploaded" not in err  # the same pack: nothing differs, nothing sent
    key = code_input["s3"]["key"]
    assert code_input["name"] == "orch-code" and key.startswith("code/") and key.endswith(".tar.gz")
    assert boto3.client("s3").head_object(Bucket=s3_server[len("s3://"):], Key=key)["ContentLength"] > 0


def test_a_concurrency_above_one_is_allow_unbounded_and_said(orch, tmp_path, validator):
    """Argo bounds a CronWorkflow's runs at one or not at all: concurrency 16 (Airflow's max_active_runs default,
    as `orch import airflow` brings it) renders as Allow, with the approximation said at the field."""
    spec = write(tmp_path, TRAIN, params=PARAMS, schedule={"cron": "0 2 * * *", "concurrency": 16})
    code, out, err = orch("render", spec, "-b", "argo", "--kind", "cron", "--out", tmp_path / "out")
    assert code == 0, err
    assert re.search(r"warning\[W858\] schedule.concurrency: approximated on argo", err)
    [cron] = [yaml.safe_load(p.read_text()) for p in (tmp_path / "out").rglob("*.yaml")
              if yaml.safe_load(p.read_text())["kind"] == "CronWorkflow"]
    assert cron["spec"]["concurrencyPolicy"] == "Allow" and not sorted(validator.iter_errors(cron), key=str)
