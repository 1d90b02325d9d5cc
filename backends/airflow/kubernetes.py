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
id or date, a finally step's run.status or run.failed_steps); the outputs come back through the
pod's XCom sidecar (/airflow/xcom/return.json).
A pod's `image` is a template too: each `${{ params.NAME }}` in it as the param's text (a macro), the
rest Kubernetes' own syntax, which no tag opener passes (checked at validation), as `node_selector` is.

Where a step runs: a pipeline that ships code, or a step with packages, runs every pod of such a step through
that bootstrap -- a command step too, whose image then needs python3 -- which fetches the code from
ORCH_CODE_URL (a presigned GET the task signs as it starts: runtime.pod_code), checks ORCH_CODE_SHA, and makes
the env of ORCH_PACKAGES. A secret is a secretKeyRef to the Kubernetes Secret of its name: optional in a
runner pod, whose runner fails the step naming the secret and key (ORCH_SECRETS); required in a plain command
pod, which Kubernetes then does not start (the task fails after startup_timeout_seconds). Volumes, limits,
labels, annotations and image pull secrets are the operator's own parameters; `pod_spec_patch` is its
`pod_template_dict`, the base pod the operator's own is merged onto (docs/backends.md says how).
"""

from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from pathlib import Path

from orch.core import groups
from orch.core.artifacts import ships_code
from orch.core.graph import PipelineGraph
from orch.core.pod import Kubernetes, Volume
from orch.core.refs import find_refs
from orch.core.spec import Pipeline, Step

from ..argo.bootstrap import brace_free_json
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
    """Whether a pod's templates call the DAG's MACROS: a plain command pod's argv and env, an image's params,
    a runner pod's run date, run.status or run.failed_steps."""
    pipeline = graph.pipeline
    return any(step.image and ((step.command and not runs_runner(pipeline, step)) or find_refs(step.image)
                               or any(kind == "run" and name != "id" for kind, _, name in Payload(pipeline, step).refs))
               for step in pipeline.all_steps.values())


def runs_runner(pipeline: Pipeline, step: Step) -> bool:
    """Whether a step's pod runs orch's runner (BOOTSTRAP, python3 -c): a python step always; a command step when
    it needs what only the runner does -- fetch the shipped code, make its packages' env -- so its image needs
    python3 then. A plain command pod needs nothing in its image."""
    return not step.command or ships_code(pipeline) or bool(step.packages)


def imports() -> str:
    """What a DAG file with pods may import (the file keeps the names it uses)."""
    return IMPORTS + "\n" + _command_pod()[0]


def definitions(graph: PipelineGraph) -> str:
    """What the DAG function's pods need defined before it is called: BOOTSTRAP for python pods,
    CommandPod for command pods with outputs."""
    pipeline = graph.pipeline
    steps = [step for step in pipeline.all_steps.values() if step.image]
    parts = [bootstrap_constant()] if any(runs_runner(pipeline, step) for step in steps) else []
    if any(_is_command_pod(pipeline, step) for step in steps):
        parts.append(_command_pod()[1])
    return "\n\n\n".join(parts)


def pod_task(graph: PipelineGraph, name: str, names: Names, trigger: str, attempt_options: list[str], check: str,
             sha: str | None = None) -> str:
    """`NAME_task = KubernetesPodOperator(...)`, inside the DAG function, after `check` -- the body of its
    `pre_execute`, which may stop or skip it (fail_fast, the deadline, `when`) before a pod starts, and which
    signs the shipped code's URL for a runner pod (`sha`: the code's sha256)."""
    pipeline = graph.pipeline
    step = pipeline.all_steps[name]
    ident = names.steps[name]
    runner = runs_runner(pipeline, step)
    options = [f"task_id={name!r}", f"name={name.replace('_', '-')!r}", f"image={template(graph, step.image, expanded=False)!r}",
               *(_bootstrap(graph, step, sha) if runner else _command(graph, step)),
               *attempt_options, f"trigger_rule={trigger!r}", f"pre_execute={ident}_may_start"]
    operator = "CommandPod" if _is_command_pod(pipeline, step) else "KubernetesPodOperator"
    resources = _resources(step)
    if resources:
        options.append(f"container_resources={resources}")
    options += _kubernetes(step)
    if runner and sha:
        check += "\n        pod_code(context['task'], PIPELINE['store'], PIPELINE['code'])"
    may_start = f"    def {ident}_may_start(context):\n{check}\n\n"
    return may_start + wrapped(f"{ident}_task = {operator}", options, indent="    ")


def _command(graph: PipelineGraph, step: Step) -> list[str]:
    """A plain container running the step's argv; with outputs, writing them to the XCom volume."""
    argv = [template(graph, arg) for arg in step.command]
    options = [f"cmds={literal(argv[:1])}", f"arguments={literal(argv[1:])}"]
    env = {key: template(graph, value) for key, value in step.env.items()}
    if step.outputs:
        env["ORCH_OUTPUTS"] = XCOM_FOLDER  # orch's, as on every backend, over a user's variable of that name
    if env or step.secrets:
        options.append(f"env_vars={_env_vars(env, step, optional=False)}")
    if step.outputs:
        options += ["do_xcom_push=True", f"orch_outputs={literal(dict(step.outputs))}"]
    return options


def _is_command_pod(pipeline: Pipeline, step: Step) -> bool:
    """Whether a step is a CommandPod: a plain command pod with outputs, read in its XCom sidecar."""
    return bool(step.image and step.command and step.outputs and not runs_runner(pipeline, step))


def _env_vars(env: dict[str, str], step: Step, optional: bool) -> str:
    """The pod's env as a list of V1EnvVar: `env`'s texts, then each secret as a secretKeyRef to the Kubernetes
    Secret of its name -- `optional` for a runner pod, whose runner then fails the step naming the secret (an
    absent optional key leaves the variable unset); else Kubernetes refuses to start the container."""
    items = [f"k8s.V1EnvVar(name={name!r}, value={value!r})" for name, value in env.items()]
    items += [f"k8s.V1EnvVar(name={var!r}, value_from=k8s.V1EnvVarSource(secret_key_ref=k8s.V1SecretKeySelector("
              f"name={ref.secret!r}, key={ref.key!r}, optional={optional!r})))" for var, ref in step.secrets.items()]
    return "[" + ", ".join(items) + "]"


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


def _bootstrap(graph: PipelineGraph, step: Step, sha: str | None = None) -> list[str]:
    """The bootstrap, the call in ORCH_PAYLOAD, its outputs back through the XCom sidecar; what the runner sets up
    first: the shipped code (ORCH_CODE_SHA here, ORCH_CODE_URL signed as the task starts), the packages' env
    (ORCH_PACKAGES), the secrets it checks (ORCH_SECRETS: [[VAR, secret, key], ...])."""
    payload = Payload(graph.pipeline, step)
    data = payload.data()
    json_texts = {index for (kind, _, name), index in payload.refs.items() if kind == "run" and name == "failed_steps"}
    data["refs"] = [{**spec, "kind": "output"} if spec["kind"] == "list" or i in json_texts else spec
                    for i, spec in enumerate(data["refs"])]
    payload.data = lambda: data  # JSON texts: a fan-out's outputs (its collector's lists), run.failed_steps
    env = {"ORCH_PAYLOAD": k8s_literal(payload.encoded()), "ORCH_XCOM_RETURN": XCOM_RETURN}
    env.update((f"ORCH_R{i}", _jinja(graph, spec_ref)) for i, spec_ref in enumerate(_refs(payload)))
    if sha:
        env["ORCH_CODE_SHA"] = sha
    if step.packages:  # JSON with no brace in its strings, and Kubernetes-escaped: Jinja and $(VAR) leave it
        env["ORCH_PACKAGES"] = k8s_literal(brace_free_json(list(step.packages)))
    if step.secrets:
        env["ORCH_SECRETS"] = json.dumps([[var, ref.secret, ref.key] for var, ref in step.secrets.items()])
    return ["cmds=['python3', '-c', BOOTSTRAP]", f"env_vars={_env_vars(env, step, optional=True)}", "do_xcom_push=True"]


def _kubernetes(step: Step) -> list[str]:
    kube, options = step.kubernetes, []
    if kube:
        options += _pod_settings(kube)
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
        value = _run_value(graph, ref.name)
    return "{{ %s%s }}" % (value, DOLLARS if expanded else "")


def _run_value(graph: PipelineGraph, name: str) -> str:
    """A `run.NAME` reference as a Jinja expression of its text: the run id, the date every task gives, or a
    finally step's run.status or run.failed_steps, from the steps' states as its task reads them (MACROS)."""
    if name == "id":
        return "run_id"
    if name == "date":
        return "orch_date(dag_run)"
    leaves = groups.judged(graph)
    return "orch_run(ti, %r, %s%s)" % (name, literal(list(graph.pipeline.steps)),
                                       "" if leaves is None else ", " + literal(leaves))


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
    return "{{ %s%s }}" % (_run_value(graph, name), "" if name == "date" else DOLLARS)  # a date holds no '$'


def _pod_settings(kube: Kubernetes) -> list[str]:
    """Volumes and their mounts, labels, annotations, image pull secrets, and the pod_spec_patch as the pod's
    template (`pod_template_dict`: camelCase, as Kubernetes writes a PodSpec)."""
    options = []
    if kube.volumes:
        options.append(f"volumes=[{', '.join(_volume(v) for v in kube.volumes)}]")
        mounts = [f"k8s.V1VolumeMount({_kwargs(dict(name=v.name, mount_path=v.mount_path, read_only=v.read_only, sub_path=v.sub_path))})"
                  for v in kube.volumes]
        options.append(f"volume_mounts=[{', '.join(mounts)}]")
    if kube.labels:
        options.append(f"labels={literal(dict(kube.labels))}")
    if kube.annotations:  # no tag opener in them (checked at validation): Jinja leaves them as written
        options.append(f"annotations={literal(dict(kube.annotations))}")
    if kube.image_pull_secrets:
        options.append(f"image_pull_secrets=[{', '.join(f'k8s.V1LocalObjectReference(name={n!r})' for n in kube.image_pull_secrets)}]")
    if kube.pod_spec_patch is not None:
        options.append(f"pod_template_dict={literal(pod_template(kube.pod_spec_patch))}")
    return options


def pod_template(patch: dict) -> dict:
    """The patch as the base pod the provider merges the operator's own pod onto (reconcile_pods): a PodSpec needs
    `containers`, and a patch without them gets the step's (`base`, matched by position)."""
    spec = dict(patch)
    if not spec.get("containers"):
        spec["containers"] = [{"name": "base"}]
    return {"spec": spec}


def _volume(volume: Volume) -> str:
    source = volume.source
    if source == "empty_dir":
        empty = volume.empty_dir
        made = f"empty_dir=k8s.V1EmptyDirVolumeSource({_kwargs(dict(medium=empty.medium, size_limit=empty.size_limit))})"
    elif source == "pvc":
        made = f"persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name={volume.pvc!r})"
    elif source == "config_map":
        made = f"config_map=k8s.V1ConfigMapVolumeSource(name={volume.config_map!r})"
    else:
        made = f"secret=k8s.V1SecretVolumeSource(secret_name={volume.secret!r})"
    return f"k8s.V1Volume(name={volume.name!r}, {made})"


def _resources(step: Step) -> str | None:
    resources, kube = step.resources, step.kubernetes
    bounds = kube.limits if kube else None
    if resources is None and bounds is None:
        return None
    requests = {k: str(v) for k, v in (("cpu", resources.cpu), ("memory", resources.memory)) if v} if resources else {}
    limits = {k: str(v) for k, v in (("cpu", bounds.cpu), ("memory", bounds.memory)) if v} if bounds else {}
    if resources and resources.gpu:
        limits["nvidia.com/gpu"] = str(resources.gpu)
    return f"k8s.V1ResourceRequirements(requests={literal(requests) if requests else None}, limits={literal(limits) if limits else None})"


def _kwargs(values: dict) -> str:
    """Keyword arguments, those that are None left out (the model's default)."""
    return ", ".join(f"{key}={literal(value)}" for key, value in values.items() if value is not None)
