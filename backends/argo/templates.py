"""One Argo template per step shape: steps alike in image, resources, retries, timeout, pod
settings, secrets, packages, outputs and reference count share it, their calls travelling as parameters;
the uses of one of the spec's templates share one of their own (reuse.py).

Argo's full CRDs allow at most 200 templates per workflow, and every template repeats
the bootstrap, so sharing keeps a large pipeline valid and small. A step that writes or reads
artifacts has a template of its own: its keys name it, its inputs its producers (artifacts.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from orch.core.errors import Diagnostic
from orch.core.limits import MAX_DELAY_SECONDS
from orch.core.refs import find_refs
from orch.core.spec import Step

from . import manifest as a
from . import where


DEFAULT_IMAGE = "python:3.12-slim"
OUTPUTS = "/tmp/orch/outputs"
RUNNER = ["python3", "-c", "{{workflow.annotations.orch/runner}}"]  # the runner, once per Workflow
INT32 = 2**31 - 1  # IntOrString fields (a template's activeDeadlineSeconds, retryStrategy.limit, backoff.factor)
INT64 = 2**63 - 1  # int64 fields (tolerationSeconds)
GO_SECONDS = INT64 // 10**9  # a Go duration counts nanoseconds in an int64


@dataclass(frozen=True)
class Shape:
    image: str
    resources: tuple
    retries: tuple
    timeout: float | None
    kubernetes: str
    outputs: tuple
    refs: int
    fan_out: bool
    artifacts: tuple  # (step name, the artifacts it reads) for a step with any, else ()
    secrets: tuple = ()  # (var, secret, key): the template's env reads them
    packages: tuple = ()  # the template's ORCH_PACKAGES
    template: str = ""  # the spec's template the step uses: its uses share a template named after it (reuse.py)

    @classmethod
    def of(cls, step: Step, refs: int, artifacts: tuple = (), template: str = "") -> "Shape":
        resources = step.resources
        kubernetes = step.kubernetes.model_dump_json() if step.kubernetes else ""  # every pod setting
        return cls(
            image=image_of(step, DEFAULT_IMAGE),
            resources=(resources.cpu, resources.memory, resources.gpu) if resources else (None, None, None),
            retries=(step.retries.limit, step.retries.delay, step.retries.factor, step.retries.max_delay) if step.retries else (),
            timeout=step.timeout,
            kubernetes=kubernetes,
            outputs=tuple(step.outputs.items()),
            refs=refs,
            fan_out=step.foreach is not None,
            artifacts=artifacts,
            secrets=tuple((var, ref.secret, ref.key) for var, ref in step.secrets.items()),
            packages=tuple(step.packages),
            template=template,
        )


def problems(name: str, step: Step) -> list[Diagnostic]:
    """What this step asks that Argo cannot do exactly."""
    found = []
    path = ("steps", name)
    if step.retries and step.retries.factor != int(step.retries.factor):
        found.append(Diagnostic("E801", f"Argo parses a retry backoff factor as an integer; {step.retries.factor!r} cannot be rendered",
                                path + ("retries", "factor"), hint="use a whole factor such as 2"))
    if step.timeout is not None and step.timeout != int(step.timeout):
        found.append(Diagnostic("E802", f"Argo bounds an attempt in whole seconds (activeDeadlineSeconds); {step.timeout:g}s cannot be rendered",
                                path + ("timeout",)))
    if step.retries and step.retries.factor > INT32:  # orch's other numbers fit Argo's fields (core.limits; a test)
        found.append(Diagnostic("E821", f"more than Argo reads as a retry factor (a 32-bit integer, at most {INT32})",
                                path + ("retries", "factor")))
    return found + where.problems(name, step)


def _expanded(name: str) -> str:
    """An input as an env value that Kubernetes' `$(VAR)`/`$$` expansion gives back as it is: every `$` doubled,
    in Argo's last pass (an expression's result is not read again)."""
    return '{{=replace(inputs.parameters["' + name + '"], "$", "$$")}}'


def template(name: str, shape: Shape, step: Step, artifacts: tuple[list, list] = ([], []), code: str | None = None) -> dict:
    """`artifacts`: the template's input and output artifacts (artifacts.py); `code`: the shipped code's key (where.py)."""
    inputs = [a.parameter("payload")] + [a.parameter(f"r{i}", default="") for i in range(shape.refs)]
    env = [a.env_var("ORCH_PAYLOAD", _expanded("payload"))] + [a.env_var(f"ORCH_R{i}", _expanded(f"r{i}")) for i in range(shape.refs)]
    if shape.fan_out:
        inputs.append(a.parameter("item"))
        env.append(a.env_var("ORCH_ITEM", "{{inputs.parameters.item}}"))
    env += where.runner_env(step, code)
    values = [output for output, kind in step.outputs.items() if kind != "artifact"]
    return a.template(
        name,
        inputs=a.io(inputs, where.code_input(code) + artifacts[0]),
        outputs=a.io([a.parameter(output, value_from=a.value_from(path=f"{OUTPUTS}/{output}", default="null"))
                      for output in values], artifacts[1]),
        container=a.container(shape.image, command=RUNNER, env=env, **container_settings(step)),
        **pod_settings(step),
    )


def pod_settings(step: Step) -> dict:
    """The template fields beside its container: retries, the attempt's deadline, where the pod runs, its volumes,
    labels and annotations, and the patch over its spec (where.py)."""
    kubernetes = step.kubernetes
    return dict(
        retry_strategy=_retries(step),
        active_deadline_seconds=int(math.ceil(step.timeout)) if step.timeout else None,
        node_selector=dict(kubernetes.node_selector) if kubernetes and kubernetes.node_selector else None,
        tolerations=[_toleration(t) for t in kubernetes.tolerations] or None if kubernetes else None,
        service_account_name=kubernetes.service_account if kubernetes else None,
        volumes=where.volumes(step),
        metadata=where.metadata(step),
        pod_spec_patch=where.pod_spec_patch(step),
    )


def _toleration(t) -> dict:
    return a.toleration(key=t.key, operator=t.operator, value=t.value, effect=t.effect, toleration_seconds=t.toleration_seconds)


def image_of(step: Step, default: str) -> str:
    """The step's image, each `${{ params.P }}` in it as Argo's `{{workflow.parameters.P}}` (validation
    lets only params in; Kubernetes does not expand an image, and orch refuses `{{` in a param's value)."""
    image = step.image
    if not image:
        return default
    for ref in reversed(find_refs(image)):
        image = image[:ref.start] + "{{workflow.parameters." + ref.name + "}}" + image[ref.end:]
    return image


def container_settings(step: Step, mounts: tuple = ()) -> dict:
    """The container's fields from the step's settings; `mounts`: orch's own volume mounts, before the step's."""
    kubernetes = step.kubernetes
    return dict(resources=_resources(step), image_pull_policy=kubernetes.image_pull_policy if kubernetes else None,
                volume_mounts=list(mounts) + where.mounts(step) or None)


def _resources(step: Step) -> dict | None:
    """`resources` are the requests (a gpu is a limit, as Kubernetes takes extended resources); `kubernetes.limits`
    the limits."""
    resources = step.resources
    requests = {k: v for k, v in (("cpu", resources.cpu), ("memory", resources.memory)) if v} if resources else {}
    limits = where.limits(step)
    if resources and resources.gpu:
        limits["nvidia.com/gpu"] = str(resources.gpu)
    if not requests and not limits:
        return None
    return a.resources(requests=requests or None, limits=limits or None)


def _retries(step: Step) -> dict | None:
    retries = step.retries
    if retries is None or retries.limit == 0:
        return None
    backoff = None
    if retries.delay:
        # orch caps every delay at max_delay, else at its 366-day bound: say so where a delay would pass it
        cap = retries.max_delay if retries.max_delay is not None else (
            MAX_DELAY_SECONDS if max(retries.delays(), default=0) >= MAX_DELAY_SECONDS else None)
        backoff = a.backoff(
            duration=_go_duration(retries.delay),
            factor=int(retries.factor) if retries.factor != 1 else None,
            cap=_go_duration(cap) if cap is not None else None,
        )
    return a.retry_strategy(limit=retries.limit, retry_policy=RETRY_POLICY[retries.on], backoff=backoff)


# retries.on as Argo's retryPolicy (processNodeRetries): a Failed node is one whose main container failed, an Error
# node one whose pod could not run or was lost -- its input artifacts not loaded, its outputs not saved
RETRY_POLICY = {"any": "Always", "failure": "OnFailure", "error": "OnError"}


def _go_duration(seconds: float) -> str:
    """Go's duration syntax (no days): '30s', '600s', '500ms'."""
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{round(seconds * 1000)}ms"
