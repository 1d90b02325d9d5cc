"""`--target kubernetes`: a step with an image as a KubernetesPodOperator task
(apache-airflow-providers-cncf-kubernetes).

The pod runs the same bootstrap as an Argo pod (python3 and the user's code in the image,
nothing of orch): the step's call travels as JSON in ORCH_PAYLOAD, with every brace of
the user's text written as a \\u escape, so Jinja -- which renders a pod's `cmds` and
`env_vars` -- never finds a tag in it. The pod fields Jinja renders as they are (`image`,
`node_selector`) hold Kubernetes' own syntax, which no tag opener passes (checked at validation).
Each reference's value arrives in ORCH_R<i>, a Jinja expression orch writes (a param, an
upstream XCom as JSON, the run id or date).
The outputs come back through the pod's XCom sidecar (/airflow/xcom/return.json).
"""

from __future__ import annotations

import re

from orch.core.errors import Diagnostic
from orch.core.graph import PipelineGraph
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
    return found


def pod_task(graph: PipelineGraph, name: str, names: Names, trigger: str, attempt_options: list[str], check: str) -> str:
    """`NAME_task = KubernetesPodOperator(...)`, inside the DAG function, after `check` -- the body of its
    `pre_execute`, which may stop or skip it (fail_fast, the deadline, `when`) before a pod starts."""
    step = graph.pipeline.steps[name]
    payload = Payload(graph.pipeline, step)
    data = payload.data()
    data["refs"] = [{**spec, "kind": "output"} if spec["kind"] == "list" else spec for spec in data["refs"]]
    payload.data = lambda: data  # a fan-out's outputs arrive as its collector's lists, not Argo's JSON texts
    env = {"ORCH_PAYLOAD": payload.encoded(), "ORCH_XCOM_RETURN": XCOM_RETURN}
    env.update((f"ORCH_R{i}", _jinja(graph, spec_ref)) for i, spec_ref in enumerate(_refs(payload)))
    ident = names.steps[name]
    options = [f"task_id={name!r}", f"name={name.replace('_', '-')!r}", f"image={step.image!r}",
               "cmds=['python3', '-c', BOOTSTRAP]", f"env_vars={literal(env)}", "do_xcom_push=True",
               *attempt_options, f"trigger_rule={trigger!r}", f"pre_execute={ident}_may_start"]
    resources = _resources(step)
    if resources:
        options.append(f"container_resources={resources}")
    kube = step.kubernetes
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
    may_start = f"    def {ident}_may_start(context):\n{check}\n\n"
    return may_start + wrapped(f"{ident}_task = KubernetesPodOperator", options, indent="    ")


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
