"""Command steps render to plain containers whose argv, after Argo's two substitution passes over the
template (workflow/common/util.go, `SubstituteParams`: globals, then inputs, over the JSON text, one
pass each as fasttemplate does) and Kubernetes' `$(VAR)` expansion, is the step's argv byte for byte.

The passes are played here by a small model of util/template (simple tags looked up or written back;
`{{=` expressions evaluated only when every name they read is known, else written back; a `{{` with no
`}}` an error), which understands the expression forms orch writes and fails the test on any other."""

from __future__ import annotations

import base64
import json
import re

import pytest
import yaml

from orch.backends.argo.render import render
from orch.core import parse_spec

from .test_render import check, validator  # noqa: F401 (a fixture)

HOSTILE = ["{{ ds }}", "{{workflow.name}}", "a lone {{ here", "$(HOME) $$ $", "{x} {", "}}{{", "quote ' \" \\ \n naïve ✓",
           "{{=1+1}}", "{{inputs.parameters.L0}}"]
_EXPR = [(re.compile(r'^fromBase64\(inputs\.parameters\["([^"]+)"\]\)$'), lambda m, env: base64.b64decode(env[f"inputs.parameters.{m[1]}"]).decode()),
         (re.compile(r'^replace\(workflow\.parameters\["([^"]+)"\], "\$", "\$\$"\)$'),
          lambda m, env: env[f"workflow.parameters.{m[1]}"].replace("$", "$$")),
         (re.compile(r'^replace\(inputs\.parameters\["([^"]+)"\], "\$", "\$\$"\)$'),
          lambda m, env: env[f"inputs.parameters.{m[1]}"].replace("$", "$$"))]


def replace(text: str, env: dict) -> str:
    out, pos = [], 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return "".join(out) + text[pos:]
        end = text.find("}}", start + 2)
        assert end >= 0, "cannot find end tag: Argo would fail the template"
        out.append(text[pos:start])
        tag = text[start + 2:end]
        out.append(_tag(tag, env))
        pos = end + 2


def _tag(tag: str, env: dict) -> str:
    if tag.startswith("="):
        expression = json.loads(f'"{tag[1:]}"')
        for pattern, evaluate in _EXPR:
            match = pattern.match(expression)
            if match:
                try:
                    return json.dumps(evaluate(match, env))[1:-1]
                except KeyError:  # a name this pass does not know: left for the next
                    return "{{" + tag + "}}"
        raise AssertionError(f"an expression orch does not write: {expression}")
    if tag.strip() in env:
        return json.dumps(env[tag.strip()])[1:-1]
    return "{{" + tag + "}}"


def kubernetes_expand(text: str, env: dict) -> str:
    """k8s.io/kubernetes third_party/forked/golang/expansion: `$$` is `$`, `$(VAR)` a defined variable."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            if text[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            if text[i + 1] == "(":
                close = text.find(")", i)
                if close > 0 and text[i + 2:close] in env:
                    out.append(env[text[i + 2:close]])
                    i = close + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def pod_argv(template: dict, arguments: dict, globals_: dict) -> list[str]:
    """The container's argv as the pod gets it."""
    template = json.loads(json.dumps(template))
    for parameter in template.get("inputs", {}).get("parameters", []):
        if parameter["name"] in arguments:
            parameter["value"] = arguments[parameter["name"]]
    first = json.loads(replace(json.dumps(template), globals_))
    inputs = {f"inputs.parameters.{p['name']}": p["value"] for p in first.get("inputs", {}).get("parameters", [])}
    final = json.loads(replace(json.dumps(first), {**globals_, **inputs}))
    container = final["container"]
    env = {e["name"]: kubernetes_expand(e["value"], {}) for e in container.get("env", [])}
    return [kubernetes_expand(arg, env) for arg in container["command"] + container.get("args", [])]


def document_of(spec: dict, validator) -> dict:
    (document,) = check(parse_spec(yaml.safe_dump(spec, allow_unicode=True)), validator)
    return document


@pytest.mark.parametrize("literal", HOSTILE)
def test_literals_and_params_reach_a_plain_container_byte_for_byte(literal, validator):
    spec = {"apiVersion": "orch/v1", "name": "p", "params": {"x": {"type": "string", "default": "v $(HOME) $$"}},
            "steps": {"a": {"command": ["echo", literal, f"<{literal}>${{{{ params.x }}}}{literal}", "${{ run.id }}"],
                            "image": "busybox:1.36", "env": {"E": literal}}}}
    document = document_of(spec, validator)
    template = next(t for t in document["spec"]["templates"] if t["name"] == "a")
    assert template["container"]["image"] == "busybox:1.36" and template["container"]["command"] == ["echo"]
    globals_ = {"workflow.name": "p-x7k2p", "workflow.parameters.x": "v $(HOME) $$"}
    assert pod_argv(template, {}, globals_) == ["echo", literal, f"<{literal}>v $(HOME) $${literal}", "p-x7k2p"]
    env = {e["name"]: e["value"] for e in template["container"]["env"]}
    first = replace(json.dumps(env["E"]), globals_)
    inputs = {f"inputs.parameters.{p['name']}": p["value"] for p in template.get("inputs", {}).get("parameters", [])}
    assert kubernetes_expand(json.loads(replace(first, {**globals_, **inputs})), {}) == literal


def test_an_upstream_output_reaches_a_command_as_its_text(validator):
    text = "{{workflow.name}} $(HOME) {{ lone"
    spec = {"apiVersion": "orch/v1", "name": "p", "steps": {
        "a": {"command": ["sh", "-c", "cat > $ORCH_OUTPUTS/out"], "outputs": {"out": "string"}, "image": "alpine:3.20"},
        "b": {"command": ["printf", "%s", "${{ steps.a.outputs.out }}"], "image": "gcr.io/distroless/static"}}}
    document = document_of(spec, validator)
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    task = next(t for t in templates["Main"]["dag"]["tasks"] if t["name"] == "b")
    (argument,) = task["arguments"]["parameters"]
    # the DAG-side expression, as Argo evaluates it once `a` succeeded: base64 of the text, `$` doubled
    assert argument["value"].startswith('{{=tasks["a"].status == "Succeeded" ? toBase64(replace(')
    value = base64.b64encode(text.replace("$", "$$").encode()).decode()
    assert pod_argv(templates["b"], {argument["name"]: value}, {"workflow.name": "p-1"}) == ["printf", "%s", text]
    assert templates["a"]["outputs"]["parameters"] == [{"name": "out", "valueFrom": {"path": "/tmp/orch/outputs/out"}}]
    assert {"name": "ORCH_OUTPUTS", "value": "/tmp/orch/outputs"} in templates["a"]["container"]["env"]


def test_the_shell_pipeline_needs_nothing_of_its_image(validator):
    from pathlib import Path

    from orch.core import load_spec

    (document, ) = check(load_spec(Path(__file__).resolve().parents[2] / "specs" / "shell-pipeline.yaml"), validator)
    steps = [t for t in document["spec"]["templates"] if t["name"] in ("split", "count", "top-word", "report")]
    assert len(steps) == 4 and all(t["container"]["image"] == "alpine:3.20" for t in steps)
    assert all("python3" not in t["container"]["command"] for t in steps)
    assert "workflowMetadata" not in document["spec"]  # no runner: no python step


def test_python_steps_share_one_runner(validator):
    from pathlib import Path

    from orch.core import load_spec

    documents = check(load_spec(Path(__file__).resolve().parents[2] / "specs" / "ml-training.yaml"), validator)
    text = yaml.safe_dump(documents[0])
    assert text.count("def parse_text") == 1  # the runner once, in the Workflow's annotations
    runner = documents[0]["spec"]["workflowMetadata"]["annotations"]["orch/runner"]
    assert "{{" not in runner and "$(" not in runner and "$$" not in runner  # Argo and Kubernetes leave it be
    train = next(t for t in documents[0]["spec"]["templates"] if t["name"] == "train")
    assert json.loads(train["container"]["args"][0])["python"] == "ml_pipeline.steps:train"
    assert train["container"]["resources"] == {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": "1"}}
    assert len(render(load_spec(Path(__file__).resolve().parents[2] / "specs" / "ml-training.yaml"), "workflow")[0].text.splitlines()) <= 150


def test_past_190_steps_the_runners_call_and_values_survive_kubernetes_expansion(validator):
    """Shared templates carry the call and each reference in env, which Kubernetes expands too."""
    literal = "$(HOME) $$ $$$ end$"
    steps = {f"s{i}": {"command": ["true"]} for i in range(195)}
    steps["s0"] = {"command": ["echo", literal, "${{ params.p }}"], "image": "python:3.12"}
    spec = {"apiVersion": "orch/v1", "name": "p", "params": {"p": {"type": "string", "default": "x"}}, "steps": steps}
    document = document_of(spec, validator)
    templates = {t["name"]: t for t in document["spec"]["templates"]}
    task = next(t for t in templates["Main"]["dag"]["tasks"] if t["name"] == "s0")
    template = json.loads(json.dumps(templates[task["template"]]))
    arguments = {p["name"]: p["value"] for p in task["arguments"]["parameters"]}
    globals_ = {"workflow.parameters.p": "v$(HOME)$$w"}
    arguments = {name: replace(value, globals_) for name, value in arguments.items()}  # the DAG's pass over the task
    for parameter in template["inputs"]["parameters"]:
        if parameter["name"] in arguments:
            parameter["value"] = arguments[parameter["name"]]
    inputs = {f"inputs.parameters.{p['name']}": p.get("value", p.get("default")) for p in template["inputs"]["parameters"]}
    env = {e["name"]: kubernetes_expand(json.loads(replace(json.dumps(e["value"]), {**globals_, **inputs})), {"HOME": "/root"})
           for e in template["container"]["env"]}
    call = json.loads(env["ORCH_PAYLOAD"])
    assert call["argv"][:2] == ["echo", literal] and env["ORCH_R0"] == "v$(HOME)$$w"
