"""`--target kubernetes`: a step with an image as a KubernetesPodOperator task
(apache-airflow-providers-cncf-kubernetes).

A command step's pod is a plain container: `cmds` and `arguments` are its argv, so the image
needs nothing (no python, no shell). Jinja renders those fields and `env_vars`, so each piece
of literal text that Jinja would change is written as a Jinja string (`{{ '...' }}`), and each
reference as a DAG macro giving its text as every backend gives it to a command. Such a pod
cannot write Airflow's XCom, so a command step with outputs is refused here (not yet).

A python step's pod runs the same bootstrap as an Argo pod (python3 and the user's code in the
image, nothing of orch): the call travels as JSON in ORCH_PAYLOAD, with every brace of the
user's text written as a \\u escape, so Jinja never finds a tag in it. Each reference's value
arrives in ORCH_R<i>, a Jinja expression orch writes (a param, an upstream XCom as JSON, the run
id or date); the outputs come back through the pod's XCom sidecar (/airflow/xcom/return.json).
The pod fields Jinja renders as they are (`image`, `node_selector`) hold Kubernetes' own syntax,
which no tag opener passes (checked at validation).
"""

from __future__ import annotations

import re

from orch.core.errors import Diagnostic
from orch.core.graph import PipelineGraph
from orch.core.refs import find_refs
from orch.core.spec import Step

from ..argo.payload import Payload
from ..argo.script import bootstrap_source
from ..pycode import Names, literal, wrapped

XCOM_RETURN = "/airflow/xcom/return.json"
JINJA = re.compile(r"\{[{%#]")


def problems(graph: PipelineGraph) -> list[Diagnostic]:
    """What a pod task cannot do yet: said at render time, naming the step."""
    found = []
    for name, step in graph.pipeline.steps.items():
        if step.image and step.foreach is not None:
            found.append(Diagnostic("E812", "a fan-out with an image cannot be rendered for --target kubernetes yet",
                                    ("steps", name, "foreach"), hint="render it without --target, or drop its image"))
        if step.image and step.command and step.outputs:
            found.append(Diagnostic("E813", f"step {name!r}: a command step with an image cannot return outputs for "
                                    "--target kubernetes yet: its container may have no python to write Airflow's XCom",
                                    ("steps", name, "outputs"),
                                    hint="drop its image (it then runs in its task), or make it a python step"))
    return found


def plain_pods(graph: PipelineGraph) -> bool:
    """Whether a command step runs as a plain pod (its references then need the DAG's MACROS)."""
    return any(step.image and step.command for step in graph.pipeline.steps.values())


def pod_task(graph: PipelineGraph, name: str, names: Names, trigger: str, attempt_options: list[str], check: str) -> str:
    """`NAME_task = KubernetesPodOperator(...)`, inside the DAG function, after `check` -- the body of its
    `pre_execute`, which may stop or skip it (fail_fast, the deadline, `when`) before a pod starts."""
    step = graph.pipeline.steps[name]
    ident = names.steps[name]
    options = [f"task_id={name!r}", f"name={name.replace('_', '-')!r}", f"image={step.image!r}",
               *(_command(graph, step) if step.command else _bootstrap(graph, step)),
               *attempt_options, f"trigger_rule={trigger!r}", f"pre_execute={ident}_may_start"]
    resources = _resources(step)
    if resources:
        options.append(f"container_resources={resources}")
    options += _kubernetes(step)
    may_start = f"    def {ident}_may_start(context):\n{check}\n\n"
    return may_start + wrapped(f"{ident}_task = KubernetesPodOperator", options, indent="    ")


def _command(graph: PipelineGraph, step: Step) -> list[str]:
    """A plain container running the step's argv."""
    argv = [template(graph, arg) for arg in step.command]
    options = [f"cmds={literal(argv[:1])}", f"arguments={literal(argv[1:])}"]
    if step.env:
        options.append(f"env_vars={literal({key: template(graph, value) for key, value in step.env.items()})}")
    return options


def _bootstrap(graph: PipelineGraph, step: Step) -> list[str]:
    """The bootstrap, the call in ORCH_PAYLOAD, its outputs back through the XCom sidecar."""
    payload = Payload(graph.pipeline, step)
    data = payload.data()
    data["refs"] = [{**spec, "kind": "output"} if spec["kind"] == "list" else spec for spec in data["refs"]]
    payload.data = lambda: data  # a fan-out's outputs arrive as its collector's lists, not Argo's JSON texts
    env = {"ORCH_PAYLOAD": payload.encoded(), "ORCH_XCOM_RETURN": XCOM_RETURN}
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


def template(graph: PipelineGraph, text: str) -> str:
    """`text` as a Jinja template that Airflow renders to the text every backend gives a command:
    literal pieces byte for byte, each reference as its text (MACROS in runtime.py)."""
    pieces, pos = [], 0
    for ref in find_refs(text):
        pieces += [_literal(text[pos:ref.start], last=False), _text_of(graph, ref)]
        pos = ref.end
    return "".join(pieces) + _literal(text[pos:], last=True)


def _literal(text: str, last: bool) -> str:
    """Literal text as it is where Jinja leaves it so; else as a Jinja string, which Jinja outputs as
    written: it holds a tag opener, a '\\r' (Jinja turns newlines into '\\n'), a '{' that would
    open a tag with what follows, or the template's last newline (Jinja drops it)."""
    if not (JINJA.search(text) or "\r" in text or text.endswith("{") or (last and text.endswith("\n"))):
        return text
    return "{{ '" + text.encode("unicode_escape").decode("ascii").replace("'", "\\'") + "' }}"


def _text_of(graph: PipelineGraph, ref) -> str:
    if ref.kind == "param":
        return "{{ orch_param(params[%r], %r) }}" % (ref.name, graph.pipeline.params[ref.name].type)
    if ref.kind == "output":
        return "{{ orch_output(ti.xcom_pull(task_ids=%r), %r) }}" % (ref.step, ref.name)
    return "{{ run_id }}" if ref.name == "id" else "{{ orch_date(dag_run) }}"


def bootstrap_constant() -> str:
    """BOOTSTRAP, the program every pod runs; it never holds '{{', '{%' or '{#', which Jinja would read."""
    source = bootstrap_source()
    if JINJA.search(source):  # pragma: no cover - guarded by a test
        raise AssertionError("the bootstrap must not contain Jinja delimiters")
    return f"BOOTSTRAP = {source!r}\n"


def _refs(payload: Payload) -> list[tuple]:
    return sorted(payload.refs, key=payload.refs.get)


def _jinja(graph: PipelineGraph, key: tuple) -> str:
    kind, step, name = key
    if kind == "param":
        return "{{ params[%r] | tojson }}" % name if graph.pipeline.params[name].type == "json" else "{{ params[%r] }}" % name
    if kind == "output":
        # outputs travel as JSON text (runtime.py); `macros.json` is Airflow's json module in templates
        return "{{ macros.json.loads(ti.xcom_pull(task_ids=%r) or '{}').get(%r) | tojson }}" % (step, name)
    return "{{ run_id }}" if name == "id" else "{{ dag_run.run_after.strftime('%Y-%m-%d') }}"


def _resources(step: Step) -> str | None:
    resources = step.resources
    if resources is None:
        return None
    requests = {k: str(v) for k, v in (("cpu", resources.cpu), ("memory", resources.memory)) if v}
    limits = {"nvidia.com/gpu": str(resources.gpu)} if resources.gpu else {}
    return f"k8s.V1ResourceRequirements(requests={literal(requests) if requests else None}, limits={literal(limits) if limits else None})"


def _kwargs(values: dict) -> str:
    return ", ".join(f"{key}={literal(value)}" for key, value in values.items())
