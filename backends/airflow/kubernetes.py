"""`--target kubernetes`: a step with an image as a KubernetesPodOperator task
(apache-airflow-providers-cncf-kubernetes).

A command step's pod is a plain container: `cmds` and `arguments` are its argv, so the image
needs nothing (no python, no shell). Jinja renders those fields and `env_vars`, so each piece
of literal text that Jinja would change is written as a Jinja string (`{{ '...' }}`), and each
reference as a DAG macro giving its text as every backend gives it to a command. With outputs,
it is a CommandPod (command_pod.py, copied into the DAG file): ORCH_OUTPUTS is the XCom volume,
where the command writes its output files; the task reads them in the XCom sidecar and parses
them by their declared types. An output read from stdout is refused (E814): a pod's log holds its
stdout and stderr as one stream (apart only behind Kubernetes' alpha PodLogsQuerySplitStreams).

A python step's pod runs the same bootstrap as an Argo pod (python3 and the user's code in the
image, nothing of orch): the call travels as JSON in ORCH_PAYLOAD, with every brace of the
user's text written as a \\u escape, so Jinja never finds a tag in it. Each reference's value
arrives in ORCH_R<i>, a Jinja expression orch writes (a param, an upstream XCom as JSON, the run
id or date); the outputs come back through the pod's XCom sidecar (/airflow/xcom/return.json).
A pod's `image` is a template too: each `${{ params.NAME }}` in it as the param's text (a macro), the
rest Kubernetes' own syntax, which no tag opener passes (checked at validation), as `node_selector` is.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

from orch.core.graph import PipelineGraph
from orch.core.refs import find_refs
from orch.core.spec import Step

from ..argo.inline import k8s_literal
from ..argo.payload import Payload
from ..argo.script import bootstrap_source
from ..pycode import Names, literal, wrapped

XCOM_RETURN = "/airflow/xcom/return.json"
XCOM_FOLDER = "/airflow/xcom"  # the provider's PodDefaults.XCOM_MOUNT_PATH: a command pod's ORCH_OUTPUTS
JINJA = re.compile(r"\{[{%#]")
DOLLARS = " | replace('$', '$$')"  # a value's text as Kubernetes' $(VAR) expansion gives it back
COMMAND_POD = Path(__file__).with_name("command_pod.py")  # read, not imported: rendering needs no airflow
IMPORTS = ("from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator\n"
           "from kubernetes.client import models as k8s")


def uses_macros(graph: PipelineGraph) -> bool:
    """Whether a pod's templates call the DAG's MACROS: a command pod's argv and env, an image's params,
    a python pod's run date."""
    return any(step.image and (step.command or find_refs(step.image) or ("run", None, "date") in Payload(graph.pipeline, step).refs)
               for step in graph.pipeline.steps.values())


def imports() -> str:
    """What a DAG file with pods may import (the file keeps the names it uses)."""
    return IMPORTS + "\n" + _command_pod()[0]


def definitions(graph: PipelineGraph) -> str:
    """What the DAG function's pods need defined before it is called: BOOTSTRAP for python pods,
    CommandPod for command pods with outputs."""
    steps = [step for step in graph.pipeline.steps.values() if step.image]
    parts = [bootstrap_constant()] if any(not step.command for step in steps) else []
    if any(_is_command_pod(step) for step in steps):
        parts.append(_command_pod()[1])
    return "\n\n\n".join(parts)


def pod_task(graph: PipelineGraph, name: str, names: Names, trigger: str, attempt_options: list[str], check: str) -> str:
    """`NAME_task = KubernetesPodOperator(...)`, inside the DAG function, after `check` -- the body of its
    `pre_execute`, which may stop or skip it (fail_fast, the deadline, `when`) before a pod starts."""
    step = graph.pipeline.steps[name]
    ident = names.steps[name]
    options = [f"task_id={name!r}", f"name={name.replace('_', '-')!r}", f"image={template(graph, step.image, expanded=False)!r}",
               *(_command(graph, step) if step.command else _bootstrap(graph, step)),
               *attempt_options, f"trigger_rule={trigger!r}", f"pre_execute={ident}_may_start"]
    operator = "CommandPod" if _is_command_pod(step) else "KubernetesPodOperator"
    resources = _resources(step)
    if resources:
        options.append(f"container_resources={resources}")
    options += _kubernetes(step)
    may_start = f"    def {ident}_may_start(context):\n{check}\n\n"
    return may_start + wrapped(f"{ident}_task = {operator}", options, indent="    ")


def _command(graph: PipelineGraph, step: Step) -> list[str]:
    """A plain container running the step's argv; with outputs, writing them to the XCom volume."""
    argv = [template(graph, arg) for arg in step.command]
    options = [f"cmds={literal(argv[:1])}", f"arguments={literal(argv[1:])}"]
    env = {key: template(graph, value) for key, value in step.env.items()}
    if step.outputs:
        env["ORCH_OUTPUTS"] = XCOM_FOLDER  # orch's, as on every backend, over a user's variable of that name
    if env:
        options.append(f"env_vars={literal(env)}")
    if step.outputs:
        options += ["do_xcom_push=True", f"orch_outputs={literal(dict(step.outputs))}"]
    return options


def _is_command_pod(step: Step) -> bool:
    """Whether a step is a CommandPod: a command pod with outputs, read in its XCom sidecar."""
    return bool(step.image and step.command and step.outputs)


@lru_cache(maxsize=1)
def _command_pod() -> tuple[str, str]:
    """command_pod.py as (its imports, but for orch's, whose helpers the DAG file carries; the rest, as written)."""
    source = COMMAND_POD.read_text(encoding="utf-8")
    tree = ast.parse(source)
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    kept = [ast.get_source_segment(source, node) for node in imports
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "orch")]
    rest = "\n".join(source.splitlines()[imports[-1].end_lineno:]).strip("\n")
    return "\n".join(kept), rest


def _bootstrap(graph: PipelineGraph, step: Step) -> list[str]:
    """The bootstrap, the call in ORCH_PAYLOAD, its outputs back through the XCom sidecar."""
    payload = Payload(graph.pipeline, step)
    data = payload.data()
    data["refs"] = [{**spec, "kind": "output"} if spec["kind"] == "list" else spec for spec in data["refs"]]
    payload.data = lambda: data  # a fan-out's outputs arrive as its collector's lists, not Argo's JSON texts
    env = {"ORCH_PAYLOAD": k8s_literal(payload.encoded()), "ORCH_XCOM_RETURN": XCOM_RETURN}
    env.update((f"ORCH_R{i}", _jinja(graph, spec_ref)) for i, spec_ref in enumerate(_refs(payload)))
    return ["cmds=['python3', '-c', BOOTSTRAP]", f"env_vars={literal(env)}", "do_xcom_push=True"]


def _kubernetes(step: Step) -> list[str]:
    kube, options = step.kubernetes, []
    if kube:
        if kube.node_selector:
            options.append(f"node_selector={literal(dict(kube.node_selector))}")
        if kube.tolerations:
            tolerations = ", ".join(f"k8s.V1Toleration({_kwargs(t.model_dump(exclude_none=True))})" for t in kube.tolerations)
            options.append(f"tolerations=[{tolerations}]")
        if kube.service_account:
            options.append(f"service_account_name={kube.service_account!r}")
        if kube.image_pull_policy:
            options.append(f"image_pull_policy={kube.image_pull_policy!r}")
    return options


def template(graph: PipelineGraph, text: str, expanded: bool = True) -> str:
    """`text` as a Jinja template that Airflow renders to the text every backend gives a command:
    literal pieces byte for byte, each reference as its text (MACROS in runtime.py). Kubernetes then
    expands `$(VAR)` and `$$` in a container's command, args and env (`expanded`; not in its image),
    so there literal text is written with `$(` as `$$(` and `$$` as `$$$$`, and a value with every `$` doubled."""
    escape = k8s_literal if expanded else str
    pieces, pos = [], 0
    for ref in find_refs(text):
        pieces += [_literal(escape(text[pos:ref.start]), last=False), _text_of(graph, ref, expanded)]
        pos = ref.end
    return "".join(pieces) + _literal(escape(text[pos:]), last=True)


def _literal(text: str, last: bool) -> str:
    """Literal text as it is where Jinja leaves it so; else as a Jinja string, which Jinja outputs as
    written: it holds a tag opener, a '\\r' (Jinja turns newlines into '\\n'), a '{' that would
    open a tag with what follows, or the template's last newline (Jinja drops it)."""
    if not (JINJA.search(text) or "\r" in text or text.endswith("{") or (last and text.endswith("\n"))):
        return text
    return "{{ '" + text.encode("unicode_escape").decode("ascii").replace("'", "\\'") + "' }}"


def _text_of(graph: PipelineGraph, ref, expanded: bool = True) -> str:
    if ref.kind == "param":
        value = "orch_param(params[%r], %r)" % (ref.name, graph.pipeline.params[ref.name].type)
    elif ref.kind == "output":
        value = "orch_output(ti.xcom_pull(task_ids=%r), %r)" % (ref.step, ref.name)
    else:
        value = "run_id" if ref.name == "id" else "orch_date(dag_run)"
    return "{{ %s%s }}" % (value, DOLLARS if expanded else "")


def bootstrap_constant() -> str:
    """BOOTSTRAP, the program every pod runs; it never holds '{{', '{%' or '{#', which Jinja would read."""
    source = bootstrap_source()
    if JINJA.search(source):  # pragma: no cover - guarded by a test
        raise AssertionError("the bootstrap must not contain Jinja delimiters")
    return f"BOOTSTRAP = {source!r}\n"


def _refs(payload: Payload) -> list[tuple]:
    return sorted(payload.refs, key=payload.refs.get)


def _jinja(graph: PipelineGraph, key: tuple) -> str:
    kind, step, name = key  # each value Kubernetes-escaped: it arrives in env
    if kind == "param":
        json_param = graph.pipeline.params[name].type == "json"
        return "{{ params[%r]%s%s }}" % (name, " | tojson" if json_param else "", DOLLARS)
    if kind == "output":
        # outputs travel as JSON text (runtime.py); `macros.json` is Airflow's json module in templates
        return "{{ macros.json.loads(ti.xcom_pull(task_ids=%r) or '{}').get(%r) | tojson%s }}" % (step, name, DOLLARS)
    return "{{ run_id%s }}" % DOLLARS if name == "id" else "{{ orch_date(dag_run) }}"  # the date every task gives


def _resources(step: Step) -> str | None:
    resources = step.resources
    if resources is None:
        return None
    requests = {k: str(v) for k, v in (("cpu", resources.cpu), ("memory", resources.memory)) if v}
    limits = {"nvidia.com/gpu": str(resources.gpu)} if resources.gpu else {}
    return f"k8s.V1ResourceRequirements(requests={literal(requests) if requests else None}, limits={literal(limits) if limits else None})"


def _kwargs(values: dict) -> str:
    return ", ".join(f"{key}={literal(value)}" for key, value in values.items())
