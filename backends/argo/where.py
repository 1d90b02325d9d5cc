"""Where an Argo step runs: its pod settings, its secrets, its packages, its shipped code.

Read in Argo's and the kubelet's source (docs/backends.md has the table):
- Pod settings go on the step's template: `volumes` beside the container's `volumeMounts`, `metadata`
  (labels and annotations, which Argo copies onto the pod, the template's winning over the Workflow's),
  `podSpecPatch` as a JSON string (Argo applies it as a strategic merge patch over the pod's spec), and
  `resources.limits`. `imagePullSecrets` exist only on the Workflow's spec (WorkflowSpec.ImagePullSecrets,
  copied to every pod): orch writes the union over the steps, sorted. A pull secret only grants pulls from
  its registry, so a step given one it did not ask for gains no more than the right to pull an image.
- A secret is an env var read by the kubelet from a Kubernetes Secret (`valueFrom.secretKeyRef`). Through
  orch's runner it is `optional: true` (a missing Secret or key leaves the var unset) and the runner fails the
  step before its code runs when a var listed in ORCH_SECRETS is unset, naming the secret and key. A plain
  container has no runner: `optional: false`, so Kubernetes does not start the container
  (CreateContainerConfigError naming the Secret) and Argo keeps the node Pending until a timeout ends it.
  No value is ever rendered: only the Secret's name and key.
- Shipped code is an input artifact of every template that runs a step, key-only (the cluster's artifact
  repository gives the bucket, as for artifacts.py's keys): `<the store's prefix>/code/<sha256>.tar.gz`. Argo
  unpacks a tgz input into its path (executor.go, isTarball and untar); the runner works there
  (ORCH_CODE_DIR), a plain container gets it as `workingDir` and PYTHONPATH. Argo's untar renames an
  archive's single top-level entry to the path itself: orch's archive always starts with its listing
  (codepack.MANIFEST), so it never holds one.
- Packages: ORCH_PACKAGES lists the requirements; the runner makes the env (backends/pyenv.py, carried in
  the runner) under $ORCH_CACHE or /tmp/orch/cache -- a volume mounted there keeps envs between pods.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional
from urllib.parse import urlsplit

from orch.core.artifacts import ships_code
from orch.core.errors import Diagnostic, UsageError
from orch.core.spec import Pipeline, Step

from . import manifest as a
from .bootstrap import brace_free_json
from .podplace import CACHE  # the runner's envs, which a volume may keep between pods

if TYPE_CHECKING:
    from orch.backends.shipping import Shipped

CODE_DIR = "/tmp/orch/code"  # where Argo unpacks the code artifact, the step's working folder
CODE_ARTIFACT = "orch-code"  # no step's input holds a '-' before its '_' (artifacts.input_name)
POD_ROOT = "/tmp/orch"  # orch's own folders in the pod: outputs, inputs, code
OWN = ("outputs", "inputs", "code")  # under POD_ROOT: Argo and the runner place them
OUTPUTS_VOLUME = "orch-outputs"  # inline.VOLUME


# -- code -------------------------------------------------------------------------------------
def code_key(pipeline: Pipeline, code: Optional["Shipped"]) -> Optional[str]:
    """The code artifact's key-only location: from the URI it was uploaded to (a run), else under the spec
    store's prefix (a render: what `orch run` uploads to the same store). None when no code is shipped.
    A pipeline that ships code rendered without its pack is refused: the key names the archive's sha256."""
    if not ships_code(pipeline):
        return None
    if code is None:
        raise UsageError(f"pipeline {pipeline.name!r} ships its code (code: {{ship: true}}): render it with "
                         "orch render, which packs the code and names the archive in the Workflow")
    if code.uri and "://" in code.uri and not code.uri.startswith("file://"):
        return urlsplit(code.uri).path.strip("/")
    from .artifacts import _prefix  # (artifacts.py imports templates.py, which imports this)

    prefix = _prefix(pipeline)
    return "/".join(([prefix] if prefix else []) + ["code", f"{code.sha256}.tar.gz"])


def code_input(key: Optional[str]) -> list[dict]:
    return [a.artifact(CODE_ARTIFACT, path=CODE_DIR, s3={"key": key})] if key else []


# -- environment ------------------------------------------------------------------------------
def secret_env(step: Step, optional: bool) -> list[dict]:
    """Each secret var read from its Kubernetes Secret's key; `optional` where the runner checks them."""
    return [a.secret_env_var(var, ref.secret, ref.key, optional=optional) for var, ref in step.secrets.items()]


def runner_env(step: Step, key: Optional[str]) -> list[dict]:
    """What the runner reads about where it runs: the secrets to check, the packages, the code's folder.
    JSON without a brace inside its strings; no name or requirement holds a `$(` (Kubernetes' expansion)."""
    from .inline import k8s_literal

    env = secret_env(step, optional=True)
    if step.secrets:
        listed = [[var, ref.secret, ref.key] for var, ref in step.secrets.items()]
        env.append(a.env_var("ORCH_SECRETS", k8s_literal(brace_free_json(listed))))
    if step.packages:
        env.append(a.env_var("ORCH_PACKAGES", k8s_literal(brace_free_json(list(step.packages)))))
    if key:
        env.append(a.env_var("ORCH_CODE_DIR", CODE_DIR))
    return env


def plain_env(step: Step, key: Optional[str]) -> list[dict]:
    """A plain container's: its secrets, required (no runner checks them); the code first on PYTHONPATH."""
    env = secret_env(step, optional=False)
    if key:
        env.append(a.env_var("PYTHONPATH", CODE_DIR))
    return env


# -- pod settings -----------------------------------------------------------------------------
def volumes(step: Step) -> Optional[list[dict]]:
    kube = step.kubernetes
    if not kube or not kube.volumes:
        return None
    return [_volume(v) for v in kube.volumes]


def _volume(v) -> dict:
    if v.source == "empty_dir":
        source = {"medium": v.empty_dir.medium, "sizeLimit": v.empty_dir.size_limit}
        return a.volume(v.name, empty_dir={k: x for k, x in source.items() if x is not None})
    if v.source == "pvc":
        return a.volume(v.name, persistent_volume_claim={"claimName": v.pvc, **({"readOnly": True} if v.read_only else {})})
    if v.source == "config_map":
        return a.volume(v.name, config_map={"name": v.config_map})
    return a.volume(v.name, secret={"secretName": v.secret})


def mounts(step: Step) -> list[dict]:
    kube = step.kubernetes
    return [a.volume_mount(v.name, v.mount_path, read_only=v.read_only or None, sub_path=v.sub_path)
            for v in (kube.volumes if kube else [])]


def limits(step: Step) -> dict:
    kube = step.kubernetes
    if not kube or not kube.limits:
        return {}
    return {k: x for k, x in (("cpu", kube.limits.cpu), ("memory", kube.limits.memory)) if x}


def metadata(step: Step) -> Optional[dict]:
    kube = step.kubernetes
    if not kube or not (kube.labels or kube.annotations):
        return None
    return {k: dict(x) for k, x in (("annotations", kube.annotations), ("labels", kube.labels)) if x}


def pod_spec_patch(step: Step) -> Optional[str]:
    """The patch as Argo takes it, a string: JSON, keys as written (core.pod refused any tag opener in it)."""
    kube = step.kubernetes
    if not kube or kube.pod_spec_patch is None:
        return None
    return json.dumps(kube.pod_spec_patch, separators=(",", ":"), ensure_ascii=False)


def image_pull_secrets(pipeline: Pipeline) -> Optional[list[dict]]:
    """The union over the steps, sorted: Argo has them on the Workflow only (module docstring)."""
    names = sorted({n for step in pipeline.steps.values() if step.kubernetes for n in step.kubernetes.image_pull_secrets})
    return [{"name": n} for n in names] or None


def problems(name: str, step: Step) -> list[Diagnostic]:
    """A volume orch's own would clash with: its name, or a mount over the folders orch uses in the pod."""
    found = []
    for i, v in enumerate(step.kubernetes.volumes if step.kubernetes else []):
        path = ("steps", name, "kubernetes", "volumes", i)
        if v.name == OUTPUTS_VOLUME:
            found.append(Diagnostic("E829", f"volume name {v.name!r} is orch's own on Argo (a step's output files)",
                                    path + ("name",), hint="name the volume otherwise"))
        if _hides_orchs(v.mount_path):
            found.append(Diagnostic("E829", f"mount path {v.mount_path!r} would hide {POD_ROOT}'s outputs, inputs or code, "
                                            "where orch's runner and Argo place them", path + ("mount_path",),
                                    hint=f"mount it elsewhere, such as /data; {CACHE} (the packages' envs) may be a volume"))
    return found


def _hides_orchs(mount_path: str) -> bool:
    """A mount at /tmp/orch, or at or under one of orch's folders in it (/tmp/orch/cache may be a volume)."""
    mount = mount_path.rstrip("/") or "/"
    return mount == POD_ROOT or any(mount == f"{POD_ROOT}/{own}" or mount.startswith(f"{POD_ROOT}/{own}/") for own in OWN)
